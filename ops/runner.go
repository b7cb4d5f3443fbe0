package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/ubc"
)

// Runner is the River worker that carries out operations.
type Runner struct {
	river.WorkerDefaults[JobArgs]
	Store *db.Store
	Drv   lxcdriver.Driver
	Hub   *Hub
	Log   *slog.Logger
	// TemplateCacheDir holds tar.gz OS templates (OpenVZ's template cache).
	TemplateCacheDir string
	// OnFinish, when set, hears of every finished operation and the
	// container's state after it.
	OnFinish func(op db.Operation, state string, err error)
	// AfterRun, when set, is called right after an operation's work (even
	// if it panics), before its outcome is recorded: before anyone
	// waiting on it can hear it finished.
	AfterRun func(op db.Operation, err error)

	// The operations Go runs.
	laneMu      sync.Mutex
	laneCtx     context.Context
	laneCancel  context.CancelFunc
	laneStopped bool
	lane        sync.WaitGroup
	laneSlots   chan struct{}
}

// DefaultShutdownTimeout is how long a clean shutdown may take before the
// container is killed, when the request does not say.
const DefaultShutdownTimeout = 30 * time.Second

// Timeout bounds one operation; River cancels its context past it.
func (r *Runner) Timeout(*river.Job[JobArgs]) time.Duration { return 15 * time.Minute }

// Work runs one operation, after every earlier operation on the same
// container has finished. A job finds its operation running only if
// something else started it; it then waits for it to finish.
func (r *Runner) Work(ctx context.Context, job *river.Job[JobArgs]) error {
	for {
		changed := r.Hub.Changed()
		op, claimed, err := r.Store.ClaimOperation(ctx, job.Args.OperationID)
		if errors.Is(err, db.ErrNotFound) {
			r.Log.Warn("job for an unknown operation", "op", job.Args.OperationID)
			return nil
		}
		if err != nil {
			if ctx.Err() != nil { // stopping: the job stays for the next start
				return river.JobSnooze(0)
			}
			return err
		}
		switch {
		case claimed:
			return r.execute(ctx, op)
		case op.Done():
			return nil
		case op.Status == db.OpRunning:
			if _, err := Wait(ctx, r.Store, r.Hub, op.ID, r.Timeout(job)); err != nil {
				r.Log.Warn("job stopped waiting for its operation", "op", op.ID, "err", err)
			}
			return nil
		}
		select { // pending behind an earlier operation
		case <-changed:
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return river.JobSnooze(0)
		}
	}
}

// Go runs op, which Queue.EnqueueNow recorded running, in a goroutine of
// this process, bounded like a River job by Timeout. After StopLane it
// does nothing: start-up reconciliation gives the operation a job.
func (r *Runner) Go(op db.Operation) {
	r.laneMu.Lock()
	defer r.laneMu.Unlock()
	if r.laneStopped {
		r.Log.Warn("shutting down: operation left for the next start", "op", op.ID)
		return
	}
	if r.laneCtx == nil {
		r.laneCtx, r.laneCancel = context.WithCancel(context.Background())
	}
	if r.laneSlots == nil {
		r.laneSlots = make(chan struct{}, MaxAtOnce)
	}
	ctx, cancel := context.WithTimeout(r.laneCtx, r.Timeout(nil))
	r.lane.Add(1)
	go func() {
		defer r.lane.Done()
		defer cancel()
		select {
		case r.laneSlots <- struct{}{}:
			defer func() { <-r.laneSlots }()
		case <-ctx.Done():
			// Stopping: the operation is left running, for start-up to
			// give it a job.
			return
		}
		if err := r.execute(ctx, op); err != nil {
			r.Log.Error("record the outcome of an operation", "op", op.ID, "err", err)
		}
	}()
}

// MaxAtOnce bounds the operations Go runs at the same time (River's
// workers have a bound of their own); more wait for a turn, still shown
// running.
const MaxAtOnce = 100

// StopLane waits for the operations Go started, for as long as ctx lasts,
// then cancels those still running and waits up to 10 seconds more for
// them to record how they ended; Go starts no more.
func (r *Runner) StopLane(ctx context.Context) {
	r.laneMu.Lock()
	r.laneStopped = true
	cancel := r.laneCancel
	r.laneMu.Unlock()
	done := make(chan struct{})
	go func() {
		r.lane.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	if cancel != nil {
		cancel()
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		// Left running: start-up gives them a job.
		r.Log.Warn("operations still running after their cancel; the next start runs them again")
	}
}

// execute runs an operation this process has marked running and records
// how it ended; the error is about the recording only.
func (r *Runner) execute(ctx context.Context, op db.Operation) error {
	log := r.Log.With("op", op.ID, "action", op.Action, "ctid", op.CTID)
	log.Debug("operation started")
	opErr := r.runHooked(ctx, op)
	// The outcome is recorded even if the job's context is gone.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	fin, err := r.Store.FinishOperation(fctx, op.ID, opErr)
	if err != nil {
		return err
	}
	// Waiters first: recording the state and telling the bus can follow.
	r.Hub.Finished(fin)
	state := r.recordState(fctx, op)
	if r.OnFinish != nil {
		r.OnFinish(op, state, opErr)
	}
	if opErr != nil {
		log.Warn("operation failed", "err", opErr)
	} else {
		log.Info("operation succeeded")
	}
	return nil
}

// runHooked is run followed by AfterRun, which is called even if the work
// panics; a panic fails the operation instead of leaving it running.
func (r *Runner) runHooked(ctx context.Context, op db.Operation) (err error) {
	if r.AfterRun != nil {
		defer func() { r.AfterRun(op, err) }()
	}
	defer func() {
		if p := recover(); p != nil {
			r.Log.Error("operation panicked", "op", op.ID, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error: %v", p)
		}
	}()
	return r.run(ctx, op)
}

func (r *Runner) run(ctx context.Context, op db.Operation) error {
	p, err := decodeParams(op)
	if err != nil {
		return err
	}
	name := strconv.Itoa(op.CTID)
	switch op.Action {
	case ActionCreate, ActionClone:
		return r.create(ctx, op, p)
	case ActionStart:
		return r.Drv.Start(ctx, name)
	case ActionStop:
		return r.Drv.Stop(ctx, name)
	case ActionShutdown:
		return r.Drv.Shutdown(ctx, name, timeoutOf(p))
	case ActionRestart:
		return r.Drv.Restart(ctx, name, timeoutOf(p))
	case ActionFreeze:
		return r.Drv.Freeze(ctx, name)
	case ActionUnfreeze:
		return r.Drv.Unfreeze(ctx, name)
	case ActionDestroy:
		return r.destroy(ctx, op.CTID, p.Force)
	case ActionConfigure:
		return r.configure(ctx, op.CTID)
	case ActionSetLimits:
		return r.setLimits(ctx, op.CTID, p)
	case ActionSuspend:
		if p.Mode == "freeze" {
			return r.Drv.Freeze(ctx, name)
		}
		return r.Drv.Stop(ctx, name)
	case ActionUnsuspend:
		if p.Mode == "freeze" {
			return r.Drv.Unfreeze(ctx, name)
		}
		return r.Drv.Start(ctx, name)
	case ActionReinstall:
		return r.reinstall(ctx, op.CTID, p)
	case ActionPassword:
		c, err := r.Store.GetContainer(ctx, op.CTID)
		if err != nil {
			return err
		}
		return r.credentials(ctx, c, p)
	}
	return fmt.Errorf("unknown action %q", op.Action)
}

func timeoutOf(p Params) time.Duration {
	if p.Timeout > 0 {
		return time.Duration(p.Timeout) * time.Second
	}
	return DefaultShutdownTimeout
}

func (r *Runner) recordState(ctx context.Context, op db.Operation) string {
	st, err := r.Drv.State(ctx, strconv.Itoa(op.CTID))
	if err != nil {
		return "absent"
	}
	if err := r.Store.RecordContainerState(ctx, op.CTID, op.Seq, string(st)); err != nil {
		r.Log.Warn("record state", "ctid", op.CTID, "err", err)
	}
	return string(st)
}

// specOf decodes a container's stored limits.
func specOf(c db.Container) ubc.Spec {
	var spec ubc.Spec
	if len(c.Limits) > 0 {
		_ = json.Unmarshal(c.Limits, &spec)
	}
	return spec
}

// diskOf is the loop filesystem a container's diskspace asks for.
func diskOf(c db.Container) *lxcdriver.DiskOptions {
	if size, ok := specOf(c).DiskBytes(); ok {
		return &lxcdriver.DiskOptions{SizeBytes: size}
	}
	return nil
}

// applyDisk resizes the container's filesystem to its diskspace, when that
// changed.
func (r *Runner) applyDisk(ctx context.Context, c db.Container) error {
	size, ok := specOf(c).DiskBytes()
	if !ok {
		return nil
	}
	name := strconv.Itoa(c.CTID)
	du, err := r.Drv.DiskUsage(ctx, name)
	if err != nil {
		return err
	}
	if !du.Loop {
		return fmt.Errorf("container %d has no disk of its own: %w", c.CTID, lxcdriver.ErrNoDisk)
	}
	if du.SizeBytes == size {
		return nil
	}
	return r.Drv.Resize(ctx, name, size)
}

// applyLimits sets a container's stored limits in liblxc (saved in its
// config, live when it runs).
func (r *Runner) applyLimits(ctx context.Context, c db.Container) error {
	var spec ubc.Spec
	if len(c.Limits) > 0 {
		if err := json.Unmarshal(c.Limits, &spec); err != nil {
			return fmt.Errorf("stored limits of %d: %w", c.CTID, err)
		}
	}
	if spec.Empty() {
		return nil
	}
	return r.Drv.SetLimits(ctx, strconv.Itoa(c.CTID), spec.ToDriver())
}

// setLimits applies the limits stored by the request; if liblxc refuses
// them, the previous limits are stored (and applied) again, so nothing
// changes.
func (r *Runner) setLimits(ctx context.Context, ctid int, p Params) error {
	c, err := r.Store.GetContainer(ctx, ctid)
	if err != nil {
		return err
	}
	err = r.applyLimits(ctx, c)
	if err == nil {
		err = r.applyDisk(ctx, c)
	}
	if err == nil {
		return nil
	}
	if p.PreviousLimits != nil {
		if serr := r.Store.SetContainerLimits(ctx, ctid, p.PreviousLimits, p.PreviousPlanID, true); serr != nil {
			r.Log.Error("restore previous limits", "ctid", ctid, "err", serr)
		} else {
			c.Limits = p.PreviousLimits
			_ = r.applyLimits(ctx, c)
		}
	}
	return err
}

// baseConfig is the liblxc config every ctpanel container gets: no network
// until the networking issue gives it one, and its hostname.
func baseConfig(c db.Container) []lxcdriver.ConfigItem {
	return []lxcdriver.ConfigItem{
		{Key: "lxc.net.0.type", Value: "empty"},
		{Key: "lxc.uts.name", Value: hostnameOf(c)},
	}
}

func hostnameOf(c db.Container) string {
	if c.Hostname != "" {
		return c.Hostname
	}
	if c.Name != nil {
		return *c.Name
	}
	return strconv.Itoa(c.CTID)
}

// create makes the container of a create or clone operation. It is safe to
// run again after a crash: a leftover from an interrupted run is removed
// first. On failure everything it made is undone and the row removed.
func (r *Runner) create(ctx context.Context, op db.Operation, p Params) (err error) {
	c, err := r.Store.GetContainer(ctx, op.CTID)
	if errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("container %d was removed before it was created", op.CTID)
	}
	if err != nil {
		return err
	}
	name := strconv.Itoa(c.CTID)
	if c.Phase == db.PhaseReady { // finished by an earlier run of this job
		if p.Start {
			return r.Drv.Start(ctx, name)
		}
		return nil
	}
	if c.Phase != db.PhaseCreating {
		return fmt.Errorf("container %d is %s, not being created", c.CTID, c.Phase)
	}
	if err := removeContainer(ctx, r.Drv, name); err != nil {
		return err
	}
	defer func() {
		if err == nil {
			return
		}
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if uerr := removeContainer(uctx, r.Drv, name); uerr != nil {
			// Keep the row in phase creating: start-up reconciliation
			// tries the clean-up again.
			r.Log.Error("undo of a failed create", "ctid", c.CTID, "err", uerr)
			return
		}
		if derr := r.Store.DeleteContainer(uctx, c.CTID); derr != nil {
			r.Log.Error("remove row of a failed create", "ctid", c.CTID, "err", derr)
		}
	}()

	if op.Action == ActionClone {
		err = r.Drv.Clone(ctx, strconv.Itoa(p.SourceCTID), name, lxcdriver.CloneOptions{Snapshot: p.Snapshot, Config: baseConfig(c), Disk: diskOf(c)})
	} else {
		var opts lxcdriver.CreateOptions
		opts, err = r.createOptions(ctx, c)
		if err != nil {
			return err
		}
		err = r.Drv.Create(ctx, name, opts)
	}
	if err != nil {
		return err
	}
	if err := r.writeIdentity(ctx, c); err != nil {
		return err
	}
	if err := r.applyLimits(ctx, c); err != nil {
		return err
	}
	if err := r.credentials(ctx, c, p); err != nil {
		return err
	}
	if p.Start {
		if err := r.Drv.Start(ctx, name); err != nil {
			return err
		}
	}
	return r.Store.SetContainerPhase(ctx, c.CTID, db.PhaseReady)
}

func (r *Runner) createOptions(ctx context.Context, c db.Container) (lxcdriver.CreateOptions, error) {
	t, err := r.Store.GetTemplate(ctx, c.Template)
	if err != nil {
		return lxcdriver.CreateOptions{}, fmt.Errorf("template %q: %w", c.Template, err)
	}
	if !t.Enabled {
		return lxcdriver.CreateOptions{}, fmt.Errorf("template %q has been disabled", c.Template)
	}
	opts := lxcdriver.CreateOptions{Config: baseConfig(c), Disk: diskOf(c)}
	switch t.Kind {
	case "lxc":
		opts.Template = t.Source
	case "tarball":
		opts.RootfsTarball = filepath.Join(r.TemplateCacheDir, filepath.Base(t.Source))
	default:
		return opts, fmt.Errorf("template %q has unknown kind %q", t.Name, t.Kind)
	}
	return opts, nil
}

// writeIdentity writes the hostname and resolver into the container's
// filesystem, as vzctl set --hostname --nameserver --save does.
func (r *Runner) writeIdentity(ctx context.Context, c db.Container) error {
	name := strconv.Itoa(c.CTID)
	if err := r.Drv.WriteFile(ctx, name, "/etc/hostname", []byte(hostnameOf(c)+"\n"), 0o644); err != nil {
		return fmt.Errorf("write hostname: %w", err)
	}
	if len(c.Nameservers) > 0 {
		var b strings.Builder
		for _, ns := range c.Nameservers {
			b.WriteString("nameserver " + ns + "\n")
		}
		if err := r.Drv.WriteFile(ctx, name, "/etc/resolv.conf", []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("write resolv.conf: %w", err)
		}
	}
	return nil
}

// configure applies saved settings to the container: the hostname in its
// config and files, and live with hostname(1) when it runs.
func (r *Runner) configure(ctx context.Context, ctid int) error {
	c, err := r.Store.GetContainer(ctx, ctid)
	if err != nil {
		return err
	}
	name := strconv.Itoa(ctid)
	if err := r.Drv.SetConfig(ctx, name, []lxcdriver.ConfigItem{{Key: "lxc.uts.name", Value: hostnameOf(c)}}); err != nil {
		return err
	}
	if err := r.writeIdentity(ctx, c); err != nil {
		return err
	}
	st, err := r.Drv.State(ctx, name)
	if err != nil {
		return err
	}
	if st == lxcdriver.StateRunning {
		res, err := r.Drv.Exec(ctx, name, []string{"hostname", hostnameOf(c)}, lxcdriver.ExecOptions{})
		if err != nil {
			return fmt.Errorf("set hostname live: %w", err)
		}
		if res.ExitCode != 0 {
			return fmt.Errorf("set hostname live: exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
		}
	}
	return nil
}

// destroy removes the container from liblxc and then its row; safe to run
// again after a crash.
func (r *Runner) destroy(ctx context.Context, ctid int, force bool) error {
	name := strconv.Itoa(ctid)
	// The driver refuses a container that is not stopped, so the common
	// case (stopped) costs one liblxc lookup, not two.
	err := r.Drv.Destroy(ctx, name)
	if errors.Is(err, lxcdriver.ErrRunning) {
		if !force {
			_ = r.Store.SetContainerPhase(ctx, ctid, db.PhaseReady)
			state := "running"
			if st, serr := r.Drv.State(ctx, name); serr == nil {
				state = string(st)
			}
			return fmt.Errorf("container %d is %s; destroy it with force", ctid, state)
		}
		if err := r.Drv.Stop(ctx, name); err != nil {
			return err
		}
		err = r.Drv.Destroy(ctx, name)
	}
	if err != nil && !errors.Is(err, lxcdriver.ErrNotFound) {
		return err
	}
	return r.Store.DeleteContainer(ctx, ctid)
}
