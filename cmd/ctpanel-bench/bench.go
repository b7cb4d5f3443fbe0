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
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

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
	// maxCount leaves room in a range for the warm-up and for turns run
	// again after a deadlock.
	maxCount = ctidSpan/maxTurnAttempts - 1
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
	wd        *watchdog
	baseOp    string // the base container's create operation
	// turnsRerun counts turns run again after a deadlock.
	turnsRerun int
}

func run(ctx context.Context, o options, out io.Writer) (err error) {
	b := &bench{o: o, log: slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "bench")}
	wd, err := newWatchdog(b.log)
	if err != nil {
		return err
	}
	b.wd = wd
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
	}()
	if err := b.setup(ctx); err != nil {
		return err
	}

	panel := &phase{name: "panel", t: &panelTarget{api: b.api, snapshot: o.snapshot}, next: panelCTID, res: newPhaseResult()}
	rawT := &rawTarget{lxcpath: b.lxcpath, snapshot: o.snapshot}
	raw := &phase{name: "raw", t: rawT, next: rawCTID, res: newPhaseResult()}
	// One lifecycle each first, so neither phase pays for cold caches
	// (page cache of the base rootfs, pool connections, River start-up).
	for _, p := range []*phase{panel, raw} {
		ids := p.take(1)
		b.log.Info("warm-up", "phase", p.name, "ctid", ids[0])
		if err := runPhase(ctx, p.t, ids, 1, o.freezeRounds, newPhaseResult(), wd.kills); err != nil {
			return fmt.Errorf("warm-up %s: %w", p.name, err)
		}
	}
	// The headline first: the fixed cost per step, one at a time.
	var fixed *fixedReport
	if o.fixedRounds > 0 {
		b.log.Info("fixed cost: one container at a time", "rounds", o.fixedRounds)
		fr, err := b.fixedCost(ctx, panel, raw, o.fixedRounds)
		if err != nil {
			return err
		}
		fixed = &fr
		if !o.json {
			if err := fr.write(out); err != nil {
				return err
			}
		}
		if o.fixedOnly {
			if o.json {
				return (report{Fixed: fixed}).writeJSON(out)
			}
			return nil
		}
	}
	// The phases take turns, a slice of the containers at a time, so
	// that whatever else the host is doing weighs on both alike.
	turns := turnsFor(o)
	for k := range turns {
		n := (k+1)*o.count/turns - k*o.count/turns
		order := []*phase{raw, panel}
		if k%2 == 1 {
			order = []*phase{panel, raw}
		}
		for _, p := range order {
			if err := b.turn(ctx, p, n, fmt.Sprintf("%d/%d", k+1, turns)); err != nil {
				return err
			}
		}
	}

	if attempted, err := riverAttempts(ctx, b.app.Pool); err != nil {
		b.log.Warn("River job times; the queue column is not split", "err", err)
	} else {
		panel.res.setRiver(attempted)
	}
	rep := newReport(o, b.lxcpath, panel.res, raw.res)
	if rep.Floor, err = b.restFloor(ctx); err != nil {
		return fmt.Errorf("REST floor: %w", err)
	}
	rep.Deadlocks, rep.TurnsRerun, rep.StuckRawFreezes = wd.kills(), b.turnsRerun, rawT.stuckFreezes()
	rep.Fixed = fixed
	if o.json {
		err = rep.writeJSON(out)
	} else {
		err = rep.writeTable(out)
	}
	if err == nil && o.bcCount > 0 {
		err = b.beancounters(ctx, o.bcCount, o.watchers, out)
	}
	if n := wd.kills(); n > 0 && err == nil {
		err = fmt.Errorf("the panel's liblxc clone deadlocked %d time(s) (see the report above and the driver's Clone)", n)
	}
	return err
}

// phase is one side of the comparison.
type phase struct {
	name string
	t    target
	next int // next unused CTID
	res  *phaseResult
}

// take hands out n CTIDs never used before in this run.
func (p *phase) take(n int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = p.next
		p.next++
	}
	return ids
}

// maxTurnAttempts bounds how often a turn is run again after a deadlock.
const maxTurnAttempts = 3

// turn runs n containers of one phase. If the watchdog had to kill a
// deadlocked liblxc child meanwhile, the turn's figures include its wait,
// so they are dropped and the turn is run again on new CTIDs.
func (b *bench) turn(ctx context.Context, p *phase, n int, label string) error {
	for attempt := 1; ; attempt++ {
		res := newPhaseResult()
		before := b.wd.kills()
		if err := runPhase(ctx, p.t, p.take(n), b.o.parallel, b.o.freezeRounds, res, b.wd.kills); err != nil {
			return fmt.Errorf("%s phase: %w", p.name, err)
		}
		if b.wd.kills() == before {
			p.res.merge(res)
			b.log.Info("turn done", "turn", label, "phase", p.name, "containers", n, "wall", res.wall.Round(time.Millisecond))
			return nil
		}
		if attempt == maxTurnAttempts {
			return fmt.Errorf("%s phase: liblxc deadlocked in %d runs of turn %s in a row", p.name, attempt, label)
		}
		b.turnsRerun++
		b.log.Warn("a liblxc child deadlocked during this turn; dropping its figures and running it again on new CTIDs",
			"turn", label, "phase", p.name, "attempt", attempt)
	}
}

// turnsFor is -turns, but no more turns than keep every worker busy for
// two containers a turn.
func turnsFor(o options) int {
	return max(1, min(o.turns, o.count/(2*o.parallel)))
}

// ours says whether a container name is one the benchmark makes.
func ours(name string) bool {
	id, err := strconv.Atoi(name)
	if err != nil {
		return false
	}
	return id == baseCTID ||
		(id >= panelCTID && id < panelCTID+ctidSpan) ||
		(id >= rawCTID && id < rawCTID+ctidSpan) ||
		(id >= bcCTID && id < bcCTID+ctidSpan)
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
	// As ctpanel serve does: thousands of containers' cgroup files.
	if n, err := server.RaiseFileLimit(); err != nil {
		b.log.Warn("open-file limit not raised past the hard limit", "limit", n, "err", err)
	}
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
	s, err := b.api.op(ctx, http.MethodPost, "/api/v1/containers",
		map[string]any{"ctid": baseCTID, "template": "busybox"})
	if err != nil {
		return fmt.Errorf("create base container: %w", err)
	}
	if s.split != nil {
		b.baseOp = s.split.op
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
	var (
		mu   sync.Mutex
		errs []error
	)
	one := func(n string) {
		err := drv.Stop(ctx, n)
		if err == nil || errors.Is(err, lxcdriver.ErrNotFound) {
			err = drv.Destroy(ctx, n)
		}
		if err != nil && !errors.Is(err, lxcdriver.ErrNotFound) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	if len(names) > 0 {
		log.Warn("sweeping leftover containers", "count", len(names))
	}
	// Eight at a time: a stop waits for the container's end, and a
	// thousand one by one outlast the clean-up's time.
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				one(n)
			}
		}()
	}
	for _, n := range names {
		if n != base {
			work <- n
		}
	}
	close(work)
	wg.Wait()
	if slices.Contains(names, base) { // clones first, then what they came from
		one(base)
	}
	return errors.Join(errs...)
}

// riverAttempts reads when River handed each operation's job to a worker,
// by operation id, from River's own table; for the report only, to split
// the queue time into River's part and ctpanel's own work before the
// driver runs.
func riverAttempts(ctx context.Context, pool *pgxpool.Pool) (map[string]time.Time, error) {
	rows, err := pool.Query(ctx, `SELECT args->>'operation_id', attempted_at FROM river_job
		WHERE kind = 'container_operation' AND attempted_at IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			rows.Close()
			return nil, err
		}
		out[id] = at
	}
	return out, rows.Err()
}

// floorRequests is how many requests each REST floor figure is made of.
const floorRequests = 200

// restFloor times the cheapest requests, one at a time on an idle panel:
// /healthz (HTTP and a database ping) and GET of an operation (the same
// plus bearer-token authentication and one read), the part of every step
// that is neither queue nor driver.
func (b *bench) restFloor(ctx context.Context) (map[string]stats, error) {
	out := map[string]stats{}
	for _, path := range []string{"/healthz", "/api/v1/operations/" + b.baseOp} {
		var ds []time.Duration
		for range floorRequests {
			t0 := time.Now()
			var v map[string]any
			if err := b.api.call(ctx, http.MethodGet, path, nil, http.StatusOK, &v); err != nil {
				return nil, err
			}
			ds = append(ds, time.Since(t0))
		}
		key := "healthz"
		if path != "/healthz" {
			key = "get_operation"
		}
		out[key] = summarise(ds)
	}
	return out, nil
}
