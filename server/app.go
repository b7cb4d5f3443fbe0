package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/ctpanel/ctpanel/console"
	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/diskspace"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/domain/services"
	"github.com/ctpanel/ctpanel/domain/templates"
	"github.com/ctpanel/ctpanel/handlers/api"
	"github.com/ctpanel/ctpanel/handlers/auth"
	"github.com/ctpanel/ctpanel/handlers/pages"
	"github.com/ctpanel/ctpanel/hostnet"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
	"github.com/ctpanel/ctpanel/mail"
	"github.com/ctpanel/ctpanel/monitor"
	"github.com/ctpanel/ctpanel/ops"
	"github.com/ctpanel/ctpanel/server/pgcluster"
	"github.com/ctpanel/ctpanel/web"
	"github.com/ctpanel/ctpanel/webhooks"
)

// App is a running ctpanel: database, driver, workers and HTTP handler.
type App struct {
	Cfg    Config
	Log    *slog.Logger
	Pool   *pgxpool.Pool
	Store  *db.Store
	Drv    lxcdriver.Driver
	River  *river.Client[pgx.Tx]
	Hub    *ops.Hub
	runner *ops.Runner
	Bus    *monitor.Bus
	Mon    *monitor.Monitor
	API    *api.API
	UI     *pages.UI
	// Services is the domain layer both front ends call.
	Services *services.Set
	Queue    *ops.Queue
	Console  *console.Manager
	cluster  *pgcluster.Cluster
	stopMon  context.CancelFunc
	// Dispatch records webhook deliveries of the bus's events.
	Dispatch *webhooks.Dispatcher
	// stopHooks ends the webhook dispatcher.
	stopHooks func()
	monDone   chan struct{}
	// stopTraffic ends the traffic fold loop, trafficDone when it has
	// folded a last time.
	stopTraffic context.CancelFunc
	trafficDone chan struct{}
	// stopSched ends the backup scheduler, schedDone when it has.
	stopSched context.CancelFunc
	schedDone chan struct{}
	// Mail is the mail outbox (nil: no SMTP server set up), MailWorker
	// the worker draining it; stopMail ends it, mailDone when it has.
	Mail       *mail.Outbox
	MailWorker *mail.Worker
	stopMail   context.CancelFunc
	mailDone   chan struct{}
}

// OpenDB connects to the configured database, starting the private
// cluster when no URL is set, and applies migrations. close releases both.
func OpenDB(ctx context.Context, cfg Config, log *slog.Logger) (pool *pgxpool.Pool, cluster *pgcluster.Cluster, err error) {
	url := cfg.DatabaseURL
	if url == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, nil, fmt.Errorf("data dir: %w", err)
		}
		cluster, err = pgcluster.Start(ctx, filepath.Join(cfg.DataDir, "postgres"), log)
		if err != nil {
			return nil, nil, err
		}
		url, err = cluster.URL(ctx, "ctpanel")
		if err != nil {
			cluster.Stop()
			return nil, nil, err
		}
	}
	pool, err = db.Connect(ctx, url)
	if err != nil {
		cluster.Stop()
		return nil, nil, err
	}
	return pool, cluster, nil
}

// Open starts everything but the HTTP listener. drv may be nil for the
// liblxc driver on cfg.LXCPath (tests pass the fake).
func Open(ctx context.Context, cfg Config, log *slog.Logger, drv lxcdriver.Driver) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	origins, err := auth.ParseOrigins(cfg.PublicURLs, cfg.AllowedOrigins)
	if err != nil {
		return nil, fmt.Errorf("CTPANEL_PUBLIC_URL: %w", err)
	}
	if !origins.Configured() && !loopbackListen(cfg.Listen) {
		log.Warn("CTPANEL_PUBLIC_URL is not set: requests are taken for IP addresses and localhost only, and links are built from the request's Host")
	}
	a := &App{Cfg: cfg, Log: log, Hub: ops.NewHub()}
	a.Pool, a.cluster, err = OpenDB(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	if err := db.MigrateUp(ctx, a.Pool); err != nil {
		return nil, err
	}
	a.Store = db.New(a.Pool)
	if drv == nil {
		if drv, err = liblxc.New(cfg.LXCPath); err != nil {
			return nil, err
		}
	}
	a.Drv = drv
	if err := a.scanTemplateCache(ctx); err != nil {
		return nil, err
	}

	a.Bus = monitor.NewBus()
	a.Mon = monitor.New(a.Store, drv, a.Bus, log, monitor.Settings{Interval: cfg.SampleInterval, Retention: cfg.HistoryRetention})
	workers := river.NewWorkers()
	guard := webhooks.Guard{Allowed: cfg.WebhookAllowedNetworks}
	river.AddWorker(workers, &webhooks.Sender{Store: a.Store, Client: guard.Client()})
	var plane hostnet.Plane
	if _, real := drv.(*liblxc.Driver); real {
		names := cfg.NetNames
		if names == (hostnet.Names{}) {
			names = hostnet.DefaultNames
		}
		l, err := hostnet.New(names)
		if err != nil {
			return nil, err
		}
		plane = l
	}
	if cfg.BackupConcurrency > 0 {
		ops.SetBackupConcurrency(cfg.BackupConcurrency)
	}
	a.runner = &ops.Runner{Store: a.Store, Drv: drv, Net: plane, Hub: a.Hub, Log: log,
		TemplateCacheDir: cfg.TemplateCacheDir(), OnFinish: a.operationFinished,
		AfterRun: a.operationDone}
	river.AddWorker(workers, a.runner)
	a.River, err = river.NewClient(riverpgxv5.New(a.Pool), &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 100}},
		Workers:           workers,
		FetchCooldown:     time.Millisecond,
		FetchPollInterval: 200 * time.Millisecond,
		Logger:            slog.New(log.Handler()).With("component", "river"),
		// Only start-up reconciliation re-runs interrupted operations.
		RescueStuckJobsAfter: 24 * time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("river: %w", err)
	}
	queue := &ops.Queue{Client: a.River, Runner: a.runner}
	a.Mail = mail.NewOutbox(cfg.SMTP)
	if a.Mail != nil {
		a.MailWorker = &mail.Worker{Store: a.Store, Sender: &mail.Sender{Settings: cfg.SMTP}, Outbox: a.Mail,
			Log: log.With("component", "mail")}
		base := ""
		if len(cfg.PublicURLs) > 0 {
			base = strings.TrimRight(cfg.PublicURLs[0], "/")
		}
		a.Mon.Notifiers = append(a.Mon.Notifiers, mailNotifier{alerts: &mail.StaffAlerts{Store: a.Store, Outbox: a.Mail, BaseURL: base},
			log: log.With("component", "mail")})
	}
	a.Console = console.NewManager(console.Config{IdleTimeout: cfg.ConsoleIdleTimeout}, drv, log.With("component", "console"))
	a.Services = services.New(services.Deps{Store: a.Store, Drv: drv, Queue: queue, Log: log,
		Host: HostResources(), TemplateCacheDir: cfg.TemplateCacheDir(), Terminals: a.Console,
		SnapshotDir: filepath.Join(cfg.DataDir, "snapshots"), ImageMirror: cfg.ImageMirror,
		WebhookGuard: guard, Mail: a.Mail})
	sessions := &auth.Sessions{Store: a.Store, Log: log, CookieSecure: cfg.CookieSecure}
	a.API = &api.API{Set: a.Services, Store: a.Store, Drv: drv, Hub: a.Hub, Log: log, Mon: a.Mon, Bus: a.Bus,
		Sessions: sessions, Origins: origins, Console: a.Console, Telemetry: api.NewTelemetry()}
	a.API.Disks = []diskspace.Volume{{Name: "data", Path: cfg.DataDir}, {Name: "templates", Path: cfg.TemplateCacheDir()}}
	if l, real := drv.(*liblxc.Driver); real {
		a.API.Disks = append(a.API.Disks, diskspace.Volume{Name: "lxcpath", Path: l.LXCPath()})
		a.API.HostWarnings = a.hostWarnings
		if err := liblxc.LXCFSRunning(); err != nil {
			log.Warn("containers will see the host's memory, CPUs and uptime", "err", err)
		}
	}
	a.UI = pages.MustNewUI(pages.UI{Set: a.Services, Store: a.Store, Mon: a.Mon, Log: log, Sessions: sessions, Origins: origins}, web.FS)
	a.Queue = queue
	if err := a.Services.Templates.Recover(ctx); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	if err := ops.Reconcile(ctx, a.Store, drv, queue, log); err != nil {
		return nil, err
	}
	if plane != nil {
		if err := ops.SyncNetwork(ctx, a.Store, plane); err != nil {
			return nil, err
		}
	}
	if ids, err := a.Store.PrivilegedContainers(ctx); err != nil {
		return nil, err
	} else if len(ids) > 0 {
		log.Warn("containers still privileged (root inside is root on the host): stop each and convert it with POST /api/v1/containers/{ref}/unprivilege",
			"count", len(ids), "ctids", ids)
	}
	if err := a.River.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, fmt.Errorf("river start: %w", err)
	}
	dispatch := &webhooks.Dispatcher{Store: a.Store, Client: a.River, Log: log}
	a.Dispatch = dispatch
	// Webhooks must not miss events: the dispatcher gets every one, and
	// at shutdown (after the operations have stopped) those still queued.
	dctx, dcancel := context.WithCancel(context.WithoutCancel(ctx))
	events, unsubscribe := a.Bus.SubscribeAll(dctx)
	dispatched := make(chan struct{})
	a.stopHooks = func() {
		unsubscribe()
		select {
		case <-dispatched:
		case <-time.After(10 * time.Second):
			log.Warn("webhook events still queued at shutdown were not recorded")
		}
		dcancel()
		if n := a.Bus.Dropped(); n > 0 {
			log.Warn("webhook events were dropped: the dispatcher fell too far behind", "count", n)
		}
	}
	go func() {
		defer close(dispatched)
		dispatch.Run(dctx, events)
	}()
	{
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		a.stopSched, a.schedDone = cancel, make(chan struct{})
		go a.runSchedules(sctx)
	}
	if plane != nil {
		tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		a.stopTraffic, a.trafficDone = cancel, make(chan struct{})
		go a.foldTraffic(tctx, plane)
	}
	if a.MailWorker != nil {
		mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		a.stopMail, a.mailDone = cancel, make(chan struct{})
		go func() {
			defer close(a.mailDone)
			a.MailWorker.Run(mctx)
		}()
	}
	if cfg.SampleInterval > 0 {
		mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		a.stopMon, a.monDone = cancel, make(chan struct{})
		go func() {
			defer close(a.monDone)
			a.Mon.Run(mctx)
		}()
	}
	ok = true
	return a, nil
}

// runSchedules makes the scheduled backups that are due, every 30 s.
func (a *App) runSchedules(ctx context.Context) {
	defer close(a.schedDone)
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		if n, err := a.Services.Containers.RunDueSchedules(ctx, time.Now(), 50); err != nil && ctx.Err() == nil {
			a.Log.Warn("backup schedules", "err", err)
		} else if n > 0 {
			a.Log.Info("scheduled backups started", "count", n)
		}
		if n, err := a.Services.Containers.ExpireSnapshots(ctx, time.Now()); err != nil && ctx.Err() == nil {
			a.Log.Warn("snapshot expiry", "err", err)
		} else if n > 0 {
			a.Log.Info("expired snapshots removed", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// foldTraffic folds the traffic counters into the database every
// TrafficInterval, and once more when ctx ends.
func (a *App) foldTraffic(ctx context.Context, plane hostnet.Plane) {
	defer close(a.trafficDone)
	every := a.Cfg.TrafficInterval
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := ops.FoldTraffic(fctx, a.Store, plane); err != nil {
				a.Log.Warn("traffic: last fold at shutdown", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := ops.FoldTraffic(ctx, a.Store, plane); err != nil && ctx.Err() == nil {
				a.Log.Warn("traffic: fold failed; the next one counts the same bytes", "err", err)
			}
		}
	}
}

// scanTemplateCache registers every *.tar.gz in the template cache dir as
// an OS template named after the file, as OpenVZ's --ostemplate does (a
// template staff changed or disabled stays as they left it), and removes
// what an interrupted upload left behind.
func (a *App) scanTemplateCache(ctx context.Context) error {
	dir := a.Cfg.TemplateCacheDir()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// Root only, also when an older version made it 0755: its tarballs
	// hold setuid files owned by root.
	if err == nil {
		err = os.Chmod(dir, 0o700)
	}
	if err != nil {
		return fmt.Errorf("template cache: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), templates.UploadPrefix) && !e.IsDir() {
			a.Log.Info("removing an interrupted template upload", "file", e.Name())
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("template cache: %w", err)
			}
			continue
		}
		name, ok := strings.CutSuffix(e.Name(), ".tar.gz")
		if !ok || e.IsDir() || name == "" || strings.HasPrefix(name, ".") {
			continue
		}
		if reason := policy.TemplateNameProblem(name); reason != "" {
			a.Log.Warn("template cache: file skipped: its name "+reason, "file", e.Name())
			continue
		}
		if err := a.Store.RegisterTemplate(ctx, db.Template{Name: name, Kind: "tarball", Source: e.Name(),
			Description: "from the template cache", Enabled: true}); err != nil {
			return err
		}
	}
	return nil
}

// operationDone drops the container's cached beancounter rows before
// anyone hears the operation finished: its limits or its run may have
// changed.
func (a *App) operationDone(op db.Operation, _ error) {
	a.Mon.Invalidate(op.CTID)
}

// operationFinished tells the event bus.
func (a *App) operationFinished(op db.Operation, state string, err error) {
	e := monitor.Event{Type: "operation", CTID: op.CTID, Action: op.Action, Operation: op.ID, Status: db.OpSucceeded, State: state}
	if err != nil {
		e.Status, e.Error = db.OpFailed, err.Error()
	}
	if op.StartedAt != nil && a.API != nil {
		a.API.Telemetry.ObserveOperation(op.Action, e.Status, time.Since(*op.StartedAt).Seconds())
	}
	a.Bus.Publish(e)
}

// Handler is the HTTP handler of every route.
func (a *App) Handler() http.Handler { return Router(a.API, a.UI) }

// Serve answers HTTP on cfg.Listen until ctx ends, then shuts down
// gracefully.
func (a *App) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.Cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return a.ServeListener(ctx, ln)
}

// ServeListener is Serve on an open listener.
func (a *App) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.Log.Info("ctpanel listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

// Close stops the workers (letting running operations finish for a while),
// the pool and the private cluster.
func (a *App) Close() {
	if a.Console != nil {
		a.Console.Close() // before the pool: sessions write their audit entries
	}
	if a.stopMon != nil {
		a.stopMon()
		<-a.monDone
	}
	if a.stopTraffic != nil {
		a.stopTraffic()
		<-a.trafficDone
	}
	if a.stopSched != nil {
		a.stopSched()
		<-a.schedDone
	}
	if a.stopMail != nil {
		// A message being sent is recorded as sent or failed; the rest
		// wait in the outbox for the next start.
		a.stopMail()
		<-a.mailDone
	}
	if a.Services != nil {
		// Builds and imports fail cleanly, their work removed.
		a.Services.Templates.Close()
	}
	if a.River != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		// Operations started at once by requests have the same 30
		// seconds as River's to finish before they are cancelled.
		laneDone := make(chan struct{})
		go func() {
			defer close(laneDone)
			a.runner.StopLane(sctx)
		}()
		if err := a.River.Stop(sctx); err != nil {
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = a.River.StopAndCancel(cctx)
			ccancel()
		}
		<-laneDone
		cancel()
	}
	// After the operations and the sampler: their last events still go
	// to the webhooks (deliveries are River jobs, inserted for the next
	// start to send).
	if a.stopHooks != nil {
		a.stopHooks()
	}
	if a.Pool != nil {
		a.Pool.Close()
	}
	a.cluster.Stop()
}

// EnsureAdminToken creates a first admin token when there are no tokens at
// all, so a new install can be driven at once. The secret is returned once.
func (a *App) EnsureAdminToken(ctx context.Context) (string, error) {
	var n int
	if err := a.Pool.QueryRow(ctx, `SELECT count(*) FROM api_tokens`).Scan(&n); err != nil {
		return "", fmt.Errorf("count tokens: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	_, secret, err := a.Store.CreateToken(ctx, "initial-admin", db.RoleAdmin, nil, nil)
	return secret, err
}

// hostWarnings is /healthz's list of what on the host works but not as it
// should.
func (a *App) hostWarnings() map[string]string {
	warn := map[string]string{}
	if err := liblxc.LXCFSRunning(); err != nil {
		warn["lxcfs"] = err.Error()
	}
	// The panel sets these whenever a container gets an interface;
	// something on the host has changed them since.
	if wrong := hostnet.CheckSysctls(); len(wrong) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if addrs, err := a.Store.AssignedAddresses(ctx); err == nil && len(addrs) > 0 {
			slices.Sort(wrong)
			warn["network"] = "host sysctls not as routed containers need (the panel sets them again at the next start or address change): " + strings.Join(wrong, ", ")
		}
	}
	return warn
}

// loopbackListen says whether addr (host:port) listens on loopback only.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// mailNotifier queues a mail to staff for each alert that opens (the
// monitor's Notifier); a failure to queue is logged.
type mailNotifier struct {
	alerts *mail.StaffAlerts
	log    *slog.Logger
}

func (n mailNotifier) AlertOpened(ctx context.Context, a db.Alert) {
	if err := n.alerts.AlertOpened(ctx, a); err != nil {
		n.log.Warn("alert notice", "ctid", a.CTID, "alert", a.ID, "err", err)
	}
}
