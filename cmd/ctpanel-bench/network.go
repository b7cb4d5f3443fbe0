package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/hostnet"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
	"github.com/ctpanel/ctpanel/ops"
	"github.com/ctpanel/ctpanel/server"
)

// The network benchmark:
//   - what the panel's network setup adds to a start: one busybox
//     container started -net-rounds times with an interface (the plane's
//     Up, then liblxc's start with it) and as many times without (plain
//     liblxc, lxc.net.0.type = empty), taking turns;
//   - the CPU to read and fold the traffic counters of -net-addresses
//     addresses into PostgreSQL (the panel's fold, nft's listing and the
//     database's writes) next to the plain tool's listing of the same
//     counters (nft -j list counters), in the same run.
//
// Its interfaces and tables are named after the tag "bn" and "bf", never
// the panel's own; its addresses are 198.18.0.0/15 and 2001:db8::/32.

type netOptions struct {
	rounds, addresses int
	lxcpath           string
}

func registerNetFlags(fs *flag.FlagSet, o *netOptions) {
	fs.IntVar(&o.rounds, "net-rounds", 20, "network benchmark: starts with and without an interface, and folds")
	fs.IntVar(&o.addresses, "net-addresses", 1000, "network benchmark: addresses whose counters are folded")
}

const netCTID = 99801

func runNetworkBench(ctx context.Context, o netOptions, out io.Writer) (err error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "network-bench")
	if o.rounds < 3 || o.addresses < 2 || o.addresses > 60000 {
		return errors.New("-net-rounds must be at least 3, -net-addresses 2 to 60000")
	}
	tmp, err := os.MkdirTemp("", "ctpanel-net-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil { // the private PostgreSQL runs as postgres
		return err
	}
	lxcpath := o.lxcpath
	if lxcpath == "" {
		lxcpath = filepath.Join(tmp, "lxc")
	}

	// Start: with the plane's interface and without.
	drv, err := liblxc.New(lxcpath)
	if err != nil {
		return err
	}
	plane, err := hostnet.New(hostnet.TaggedNames("bn"))
	if err != nil {
		return err
	}
	defer func() {
		if serr := plane.Sync(context.WithoutCancel(ctx), nil); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	name := strconv.Itoa(netCTID)
	log.Info("creating the container", "ctid", netCTID)
	if err := drv.Create(ctx, name, lxcdriver.CreateOptions{Template: "busybox",
		IDMap:  &lxcdriver.IDMap{HostID: 3_900_000_000, Size: 65536},
		Config: []lxcdriver.ConfigItem{{Key: "lxc.net.0.type", Value: "empty"}}}); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer func() {
		dctx := context.WithoutCancel(ctx)
		_ = drv.Stop(dctx, name)
		if derr := drv.Destroy(dctx, name); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	spec := hostnet.Spec{CTID: netCTID, Shares: []netip.Prefix{
		netip.MustParsePrefix("198.18.200.1/32"), netip.MustParsePrefix("2001:db8:200::/64")}, RateIn: 100, RateOut: 100}
	var plain, withNet, up []time.Duration
	for i := range o.rounds {
		for _, net := range []bool{i%2 == 0, i%2 != 0} {
			t0 := time.Now()
			var items []lxcdriver.ConfigItem
			if net {
				if items, err = plane.Up(ctx, spec); err != nil {
					return err
				}
				up = append(up, time.Since(t0))
			}
			if err := drv.Start(ctx, name, items...); err != nil {
				return fmt.Errorf("start: %w", err)
			}
			d := time.Since(t0)
			if net {
				withNet = append(withNet, d)
			} else {
				plain = append(plain, d)
			}
			if err := drv.Stop(ctx, name); err != nil {
				return fmt.Errorf("stop: %w", err)
			}
		}
	}

	// Fold: a panel's database, o.addresses addresses on o.addresses/2
	// containers, their counters in a table of their own.
	var cfg server.Config
	fs := flag.NewFlagSet("ctpanel", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		return err
	}
	cfg.DatabaseURL, cfg.DataDir, cfg.LXCPath, cfg.LogLevel = "", filepath.Join(tmp, "data"), filepath.Join(tmp, "lxc-panel"), "warn"
	cfg.SampleInterval, cfg.NetNames, cfg.TrafficInterval = 0, hostnet.TaggedNames("bp"), time.Hour
	app, err := server.Open(ctx, cfg, cfg.NewLogger(), nil)
	if err != nil {
		return fmt.Errorf("start ctpanel: %w", err)
	}
	defer app.Close()
	fold, err := hostnet.New(hostnet.TaggedNames("bf"))
	if err != nil {
		return err
	}
	defer func() {
		if serr := fold.Sync(context.WithoutCancel(ctx), nil); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	var specs []hostnet.Spec
	for i := range o.addresses / 2 {
		id := 200_000 + i
		if err := app.Store.InsertContainer(ctx, db.Container{CTID: id, Template: "busybox"}); err != nil {
			return err
		}
		specs = append(specs, hostnet.Spec{CTID: id, Shares: []netip.Prefix{
			netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), 32),
			netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x0b, 0xf0, byte(i >> 8), byte(i)}), 64)}})
	}
	if err := fold.Sync(ctx, specs); err != nil {
		return err
	}
	table := hostnet.TaggedNames("bf").Table
	reset := func() error {
		return exec.CommandContext(ctx, "nft", "reset", "counters", "table", "inet", table).Run()
	}
	var foldCPU, foldWall, nftCPU, nftWall []time.Duration
	for range o.rounds {
		// The counters go back to 0 each round, so each fold writes
		// every reading and every container's hour.
		if err := reset(); err != nil {
			return fmt.Errorf("nft reset counters: %w", err)
		}
		c0, t0 := cpuAll(), time.Now()
		if err := ops.FoldTraffic(ctx, app.Store, fold); err != nil {
			return err
		}
		foldWall, foldCPU = append(foldWall, time.Since(t0)), append(foldCPU, cpuAll()-c0)
		c0, t0 = cpuAll(), time.Now()
		if err := exec.CommandContext(ctx, "nft", "-j", "list", "counters").Run(); err != nil {
			return err
		}
		nftWall, nftCPU = append(nftWall, time.Since(t0)), append(nftCPU, cpuAll()-c0)
	}

	fmt.Fprintf(out, "\nNetwork (%d starts each way; %d addresses' counters folded %d times)\n", o.rounds, o.addresses, o.rounds)
	fmt.Fprintf(out, "  %-44s %10s %10s\n", "", "median ms", "p99 ms")
	row := func(label string, ds []time.Duration) {
		fmt.Fprintf(out, "  %-44s %10.1f %10.1f\n", label, ms(median(ds)), ms(p99(ds)))
	}
	row("start, no interface (raw liblxc)", plain)
	row("start with the panel's interface", withNet)
	row("  of which the host side (Up)", up)
	fmt.Fprintf(out, "  %-44s %10.1f\n", "network setup adds to a start (median)", ms(median(withNet)-median(plain)))
	fmt.Fprintf(out, "  %-44s %10.1f %10.1f\n", "fold "+strconv.Itoa(o.addresses)+" addresses: CPU (panel and nft)", ms(median(foldCPU)), ms(p99(foldCPU)))
	row("fold "+strconv.Itoa(o.addresses)+" addresses: wall", foldWall)
	fmt.Fprintf(out, "  %-44s %10.1f %10.1f\n", "nft -j list counters alone: CPU (plain tool)", ms(median(nftCPU)), ms(p99(nftCPU)))
	row("nft -j list counters alone: wall", nftWall)
	return nil
}

// cpuAll is this process's CPU time and its waited-for children's (nft).
func cpuAll() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	return cpuTime() + time.Duration(ru.Utime.Nano()+ru.Stime.Nano())
}

func p99(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*99/100)]
}
