package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
	"github.com/ctpanel/ctpanel/server"
)

// CTIDs of what the benchmark makes: the base container, then a range per
// phase. Offset 0 of each range is its warm-up container. Raw containers
// live in the same lxcpath but never in the panel's database, which
// ignores containers it does not know.
const (
	baseCTID  = 900000
	panelCTID = 910000
	rawCTID   = 920000
	ctidSpan  = 10000
)

// bench is one run: the panel it started and everything it must remove.
type bench struct {
	o         options
	log       *slog.Logger
	tmp       string // temporary dir: the panel's data dir, and the lxcpath unless given
	lxcpath   string
	app       *server.App
	stopServe context.CancelFunc
	served    chan struct{}
	api       *client
	baseMade  bool
}

func run(ctx context.Context, o options, out io.Writer) (err error) {
	b := &bench{o: o, log: slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "bench")}
	wd, err := newWatchdog(b.log)
	if err != nil {
		return err
	}
	wctx, stopWatchdog := context.WithCancel(context.WithoutCancel(ctx))
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		wd.run(wctx)
	}()
	defer func() {
		err = errors.Join(err, b.cleanup())
		stopWatchdog()
		<-watched
		if werr := wd.err(); werr != nil {
			err = errors.Join(err, werr)
		}
	}()
	if err := b.setup(ctx); err != nil {
		return err
	}

	rounds := o.freezeRounds
	panel := &panelTarget{api: b.api, snapshot: o.snapshot}
	raw := &rawTarget{lxcpath: b.lxcpath, snapshot: o.snapshot}
	// One lifecycle each first, so neither phase pays for cold caches
	// (page cache of the base rootfs, pool connections, River start-up).
	for _, w := range []struct {
		name string
		t    target
		ctid int
	}{{"panel", panel, panelCTID}, {"raw", raw, rawCTID}} {
		b.log.Info("warm-up", "phase", w.name, "ctid", w.ctid)
		if _, err := runPhase(ctx, w.t, []int{w.ctid}, 1, rounds); err != nil {
			return fmt.Errorf("warm-up %s: %w", w.name, err)
		}
	}
	// Raw first: the panel then runs on a database that has seen the
	// warm-up only, as on any busy host it would have seen more.
	b.log.Info("phase raw", "containers", o.count, "parallel", o.parallel)
	rawRes, err := runPhase(ctx, raw, ctidRange(rawCTID, o.count), o.parallel, rounds)
	if err != nil {
		return fmt.Errorf("raw phase: %w", err)
	}
	b.log.Info("phase raw done", "wall", rawRes.wall.Round(time.Millisecond))
	b.log.Info("phase panel", "containers", o.count, "parallel", o.parallel)
	panelRes, err := runPhase(ctx, panel, ctidRange(panelCTID, o.count), o.parallel, rounds)
	if err != nil {
		return fmt.Errorf("panel phase: %w", err)
	}
	b.log.Info("phase panel done", "wall", panelRes.wall.Round(time.Millisecond))

	rep := newReport(o, b.lxcpath, panelRes, rawRes)
	if o.json {
		return rep.writeJSON(out)
	}
	return rep.writeTable(out)
}

func ctidRange(first, n int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = first + 1 + i
	}
	return ids
}

// ours says whether a container name is one the benchmark makes.
func ours(name string) bool {
	id, err := strconv.Atoi(name)
	if err != nil {
		return false
	}
	return id == baseCTID ||
		(id >= panelCTID && id < panelCTID+ctidSpan) ||
		(id >= rawCTID && id < rawCTID+ctidSpan)
}

// setup starts the panel on a loopback port and makes the base container.
func (b *bench) setup(ctx context.Context) error {
	var err error
	b.tmp, err = os.MkdirTemp("", "ctpanel-bench-")
	if err != nil {
		return err
	}
	// The private PostgreSQL runs as the postgres user and must get
	// through to its directory below.
	if err := os.Chmod(b.tmp, 0o755); err != nil {
		return err
	}
	b.lxcpath = b.o.lxcpath
	if b.lxcpath == "" {
		b.lxcpath = filepath.Join(b.tmp, "lxc")
	} else {
		if b.lxcpath, err = filepath.Abs(b.lxcpath); err != nil {
			return err
		}
		drv, err := liblxc.New(b.lxcpath)
		if err != nil {
			return err
		}
		names, err := drv.List(ctx)
		if err != nil {
			return err
		}
		// Clean-up removes these names; they must be ours to remove.
		if i := slices.IndexFunc(names, ours); i >= 0 {
			return fmt.Errorf("%s already has container %s, in the CTID ranges the benchmark uses (%d, %d+, %d+); use another -lxcpath",
				b.lxcpath, names[i], baseCTID, panelCTID, rawCTID)
		}
	}

	// The panel as it ships: its defaults, but a private database in a
	// temporary data dir, our lxcpath and quiet logs.
	var cfg server.Config
	fs := flag.NewFlagSet("ctpanel", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		return err
	}
	cfg.DatabaseURL, cfg.DataDir, cfg.LXCPath, cfg.LogLevel = "", filepath.Join(b.tmp, "data"), b.lxcpath, "warn"
	b.log.Info("starting ctpanel", "data_dir", cfg.DataDir, "lxcpath", cfg.LXCPath)
	b.app, err = server.Open(ctx, cfg, cfg.NewLogger(), nil)
	if err != nil {
		return fmt.Errorf("start ctpanel: %w", err)
	}
	token, err := b.app.EnsureAdminToken(ctx)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	if token == "" {
		return errors.New("admin token: the fresh database already has tokens")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.stopServe, b.served = cancel, make(chan struct{})
	go func() {
		defer close(b.served)
		if err := b.app.ServeListener(sctx, ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.log.Error("serve", "err", err)
		}
	}()
	b.api = newClient("http://"+ln.Addr().String(), token, b.o.parallel)

	b.log.Info("creating the base container", "ctid", baseCTID, "template", "busybox")
	b.baseMade = true
	if _, err := b.api.op(ctx, http.MethodPost, "/api/v1/containers",
		map[string]any{"ctid": baseCTID, "template": "busybox"}); err != nil {
		return fmt.Errorf("create base container: %w", err)
	}
	return nil
}

// cleanup removes everything setup and the phases made, whatever state a
// failure left it in.
func (b *bench) cleanup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if b.baseMade && b.api != nil {
		// Through the panel while it runs, so it is the panel that undoes
		// what it made; the sweep below catches whatever is left.
		if _, err := b.api.op(ctx, http.MethodDelete, "/api/v1/containers/"+strconv.Itoa(baseCTID)+"?force=true", nil); err != nil {
			b.log.Warn("destroy base container through the panel; sweeping it instead", "err", err)
		}
	}
	if b.stopServe != nil {
		b.stopServe()
		<-b.served
	}
	if b.app != nil {
		b.app.Close() // waits for running operations, stops PostgreSQL
	}
	if b.lxcpath != "" {
		if err := sweep(ctx, b.lxcpath, b.log); err != nil {
			// Removing the rootfs of a container that may still run
			// would do more harm than leaving the directory.
			return fmt.Errorf("clean up: %w; %s is left for you to look at", err, b.tmp)
		}
	}
	if b.tmp != "" {
		// The temporary lxcpath, if that is the one used, is inside.
		if err := os.RemoveAll(b.tmp); err != nil {
			return fmt.Errorf("clean up: remove %s: %w", b.tmp, err)
		}
	}
	return nil
}

// sweep stops and destroys every container of ours left in lxcpath, with
// ctpanel's driver (which thaws before a kill), clones before the base so
// overlay snapshots are gone before their origin.
func sweep(ctx context.Context, lxcpath string, log *slog.Logger) error {
	if _, err := os.Stat(lxcpath); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	drv, err := liblxc.New(lxcpath)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	names, err := drv.List(ctx)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return !ours(n) })
	base := strconv.Itoa(baseCTID)
	slices.SortStableFunc(names, func(a, b string) int {
		switch {
		case a == base && b != base:
			return 1
		case b == base && a != base:
			return -1
		}
		return 0
	})
	var errs []error
	for _, n := range names {
		log.Warn("sweeping a leftover container", "ctid", n)
		if err := drv.Stop(ctx, n); err != nil && !errors.Is(err, lxcdriver.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		if err := drv.Destroy(ctx, n); err != nil && !errors.Is(err, lxcdriver.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
