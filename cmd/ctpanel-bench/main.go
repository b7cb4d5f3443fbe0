// Command ctpanel-bench measures what ctpanel adds to liblxc, in the spirit
// of lxd-benchmark. In one run it starts ctpanel in-process (private
// PostgreSQL, real liblxc driver, REST API on a loopback port), makes one
// busybox base container through the API, and then takes -count clones of
// it through their whole life (clone, start, freeze and unfreeze, stop,
// destroy) twice, -parallel at a time: once through the REST API, each step
// a request plus a wait for its operation, and once through liblxc called
// directly (go-lxc; lxc-copy and lxc-start, liblxc's own tools, for clone
// and start, which cannot safely run inside a Go program). The two take
// turns (-turns) so that other load on the host weighs on both alike. It
// prints per-step latencies, wall times and the panel/raw ratios against
// the targets, and removes everything it made. The exit code says whether
// the run worked, not whether the targets were met.
//
// It needs root, liblxc with its busybox template, lxc-start, lxc-copy,
// rsync and the PostgreSQL server binaries:
//
//	go run ./cmd/ctpanel-bench -count 50
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// options are the command-line flags.
type options struct {
	count        int
	parallel     int
	lxcpath      string
	freezeRounds int
	snapshot     bool
	turns        int
	json         bool
	bcCount      int
	watchers     int
	console      bool // also run the console benchmark (console.go)
	fixedRounds  int  // containers each way for the fixed-cost headline
	fixedOnly    bool
	consoleOnly  bool
	con          consoleOptions
	network      bool // also run the network benchmark (network.go)
	networkOnly  bool
	net          netOptions
	backups      bool // also run the backup benchmark (backups.go)
	backupsOnly  bool
	bk           backupOptions
	images       bool
	imagesOnly   bool
	img          imageOptions
	list         bool // also run the container list benchmark (list.go)
	listOnly     bool
	ls           listOptions
}

func main() {
	var o options
	fs := flag.NewFlagSet("ctpanel-bench", flag.ExitOnError)
	fs.IntVar(&o.count, "count", 50, "containers per phase (panel and raw)")
	fs.IntVar(&o.parallel, "parallel", 0, "containers in flight at once; 0 is the host's CPU count, as lxd-benchmark's default")
	fs.StringVar(&o.lxcpath, "lxcpath", "", "lxcpath to work in; empty makes a temporary one, removed at the end")
	fs.IntVar(&o.freezeRounds, "freeze-rounds", 2, "freeze+unfreeze cycles per container (freeze samples = count × rounds)")
	fs.BoolVar(&o.snapshot, "snapshot", false, "clone as overlay snapshots instead of full copies (privileged containers only: the panel refuses it, every container it makes is unprivileged)")
	fs.IntVar(&o.turns, "turns", 5, "the phases take turns this many times, count/turns containers a turn")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON instead of a table")
	fs.IntVar(&o.bcCount, "bc-count", 1000, "running containers for the beancounter sampling benchmark; 0 skips it")
	fs.IntVar(&o.watchers, "watchers", 100, "stats websocket watchers for the push latency benchmark")
	fs.IntVar(&o.fixedRounds, "fixed-rounds", 20, "containers each way, one at a time, for the headline: the fixed cost per step; 0 skips it")
	fs.BoolVar(&o.fixedOnly, "fixed-only", false, "run only the fixed-cost headline")
	fs.BoolVar(&o.console, "console", true, "also run the console benchmark: shell keystroke echo and cat throughput, websocket next to lxc-attach")
	fs.BoolVar(&o.consoleOnly, "console-only", false, "run only the console benchmark")
	registerConsoleFlags(fs, &o.con)
	fs.BoolVar(&o.network, "network", true, "also run the network benchmark: what the interface adds to a start, and the CPU to fold traffic counters")
	fs.BoolVar(&o.networkOnly, "network-only", false, "run only the network benchmark")
	registerNetFlags(fs, &o.net)
	fs.BoolVar(&o.backups, "backups", true, "also run the backup benchmark: the panel's engine next to tar | zstd")
	fs.BoolVar(&o.backupsOnly, "backups-only", false, "run only the backup benchmark")
	registerBackupFlags(fs, &o.bk)
	fs.BoolVar(&o.images, "images", true, "also run the image benchmark: Debian 12 built through the panel next to plain debootstrap, and a Debian VPS to is-system-running next to raw liblxc")
	fs.BoolVar(&o.imagesOnly, "images-only", false, "run only the image benchmark")
	registerImageFlags(fs, &o.img)
	fs.BoolVar(&o.list, "list", true, "also run the container list benchmark: API and page p50/p99 at -list-rows containers, next to the same query in PostgreSQL")
	fs.BoolVar(&o.listOnly, "list-only", false, "run only the container list benchmark")
	registerListFlags(fs, &o.ls)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: ctpanel-bench [flags]\n\nRuns the same container lifecycles through ctpanel's REST API and through\nliblxc directly, and compares them. Needs root and liblxc.\n\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])
	if o.snapshot {
		fmt.Fprintln(os.Stderr, "ctpanel-bench: -snapshot: every container is unprivileged and an overlay cannot be idmapped; the panel makes full clones only")
		os.Exit(2)
	}
	if o.parallel == 0 {
		o.parallel = runtime.NumCPU()
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "ctpanel-bench:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.listOnly {
		if err := runListBench(ctx, o.ls, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ctpanel-bench: list:", err)
			stop()
			os.Exit(1)
		}
		return
	}
	if o.imagesOnly {
		if err := runImageBench(ctx, o.img, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ctpanel-bench: images:", err)
			stop()
			os.Exit(1)
		}
		return
	}
	if o.backupsOnly {
		if err := runBackupBench(ctx, o.bk, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ctpanel-bench: backups:", err)
			stop()
			os.Exit(1)
		}
		return
	}
	if o.networkOnly {
		o.net.lxcpath = o.lxcpath
		if err := runNetworkBench(ctx, o.net, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ctpanel-bench: network:", err)
			stop()
			os.Exit(1)
		}
		return
	}
	if !o.consoleOnly {
		if err := run(ctx, o, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ctpanel-bench:", err)
			stop()
			os.Exit(1)
		}
	}
	if (o.console || o.consoleOnly) && !o.fixedOnly {
		o.con.lxcpath, o.con.json = o.lxcpath, o.json
		if err := runConsoleBench(ctx, o.con, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ctpanel-bench: console:", err)
			stop()
			os.Exit(1)
		}
	}
	if o.network && !o.fixedOnly && !o.consoleOnly {
		o.net.lxcpath = o.lxcpath
		if err := runNetworkBench(ctx, o.net, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ctpanel-bench: network:", err)
			stop()
			os.Exit(1)
		}
	}
	if o.backups && !o.fixedOnly && !o.consoleOnly {
		if err := runBackupBench(ctx, o.bk, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ctpanel-bench: backups:", err)
			stop()
			os.Exit(1)
		}
	}
	if o.list && !o.fixedOnly && !o.consoleOnly {
		if err := runListBench(ctx, o.ls, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ctpanel-bench: list:", err)
			stop()
			os.Exit(1)
		}
	}
	if o.images && !o.fixedOnly && !o.consoleOnly {
		if err := runImageBench(ctx, o.img, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ctpanel-bench: images:", err)
			stop()
			os.Exit(1)
		}
	}
}

func (o options) validate() error {
	switch {
	case o.count < 1 || o.count > maxCount:
		return fmt.Errorf("-count must be 1 to %d, not %d", maxCount, o.count)
	case o.parallel < 1:
		return fmt.Errorf("-parallel must be at least 1, not %d", o.parallel)
	case o.turns < 1:
		return fmt.Errorf("-turns must be at least 1, not %d", o.turns)
	case o.fixedRounds < 0 || o.fixedRounds > ctidSpan/4:
		return fmt.Errorf("-fixed-rounds must be 0 to %d, not %d", ctidSpan/4, o.fixedRounds)
	case o.fixedOnly && o.fixedRounds == 0:
		return fmt.Errorf("-fixed-only needs -fixed-rounds above 0")
	case o.freezeRounds < 1:
		return fmt.Errorf("-freeze-rounds must be at least 1, not %d", o.freezeRounds)
	case os.Geteuid() != 0:
		return fmt.Errorf("liblxc containers need root: run ctpanel-bench as root")
	}
	return nil
}
