package ops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/hostnet"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// Runner is the River worker that carries out operations.
type Runner struct {
	river.WorkerDefaults[JobArgs]
	Store *db.Store
	Drv   lxcdriver.Driver
	// Net is the host side of containers' networks; nil leaves every
	// container without an interface (lxc.net.0.type = empty).
	Net hostnet.Plane
	Hub *Hub
	Log *slog.Logger
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
	stopCh      chan struct{} // closed by StopLane
	lane        sync.WaitGroup
	laneSlots   chan struct{}
}

// Timeout bounds one operation; River cancels its context past it.
func (r *Runner) Timeout(*river.Job[JobArgs]) time.Duration { return 15 * time.Minute }

// SnoozeFor is how long a job whose operation is not its turn yet (or
// runs elsewhere) waits before River hands it to a worker again. The
// runner does not wait for it: when an operation finishes, the next one on
// its container is started at once in this process (see execute); the
// job is the durable copy that runs it should this process stop first.
const SnoozeFor = 2 * time.Second

// Work runs one operation if every earlier operation on its container has
// finished. Otherwise it returns at once and River snoozes the job, which
// neither holds a worker nor counts as an attempt.
func (r *Runner) Work(ctx context.Context, job *river.Job[JobArgs]) error {
	op, claimed, err := r.Store.ClaimOperation(ctx, job.Args.OperationID)
	switch {
	case errors.Is(err, db.ErrNotFound):
		r.Log.Warn("job for an unknown operation", "op", job.Args.OperationID)
		return nil
	case err != nil && ctx.Err() != nil: // stopping: the job stays for the next start
		return river.JobSnooze(0)
	case err != nil:
		return err
	case claimed:
		return r.execute(ctx, op)
	case op.Done():
		return nil
	}
	// Pending behind an earlier operation, or running in this process
	// (started at once, or as the next in line): look again later.
	return river.JobSnooze(SnoozeFor)
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
	if r.stopCh == nil {
		r.stopCh = make(chan struct{})
	}
	select {
	case <-r.stopCh:
	default:
		close(r.stopCh)
	}
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
	a, opErr := r.runHooked(ctx, op)
	// The outcome is recorded even if the job's context is gone.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// The state is read before the outcome is recorded, so that both go
	// in one statement: nothing is left to write after the waiters hear.
	var state string
	if st, ok := a.(settles); ok && opErr == nil {
		state = string(st.settledState())
	} else {
		state = r.stateOf(fctx, op)
	}
	fin, next, err := r.Store.FinishOperation(fctx, op.ID, opErr, state)
	if err != nil && db.IsUnavailable(err) {
		// The work is done; only its record is missing. Kept here and
		// recorded once the database answers again (a restart of the
		// private cluster takes seconds), rather than left running
		// until the panel's next start.
		log.Warn("database unavailable; the operation's outcome is recorded once it answers", "err", err)
		fin, next, err = r.finishLater(ctx, op.ID, opErr, state)
	}
	if err != nil {
		return err
	}
	// Waiters first: the next operation and telling the bus can follow.
	r.Hub.Finished(fin)
	if next != "" {
		r.startNext(fctx, next)
	}
	if r.OnFinish != nil {
		r.OnFinish(op, cmp.Or(state, "absent"), opErr)
	}
	if opErr != nil {
		log.Warn("operation failed", "err", opErr)
	} else {
		log.Info("operation succeeded")
	}
	return nil
}

// finishLater retries recording an operation's outcome while the
// database is unavailable: every second at first, then up to every 10 s,
// for up to RecordRetryFor. It gives up early only when the runner's lane
// is stopping (the next start runs the operation again).
func (r *Runner) finishLater(ctx context.Context, id string, opErr error, state string) (fin db.Operation, next string, err error) {
	err = r.retryUnavailable(ctx, func(ctx context.Context) error {
		var ferr error
		fin, next, ferr = r.Store.FinishOperation(ctx, id, opErr, state)
		return ferr
	})
	if err == nil {
		r.Log.Info("operation's outcome recorded after the database came back", "op", id)
	}
	return fin, next, err
}

// retryUnavailable runs write again while the database is unavailable:
// after a second at first, then up to every 10 s, for up to
// RecordRetryFor; it gives up early only when the runner's lane is
// stopping (the next start's reconciliation takes over).
func (r *Runner) retryUnavailable(ctx context.Context, write func(context.Context) error) error {
	deadline := time.Now().Add(RecordRetryFor)
	wait := time.Second
	for {
		select {
		case <-time.After(wait):
		case <-r.stopping():
			return errors.New("stopping before the database answered; the next start takes over")
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := write(wctx)
		cancel()
		if err == nil || !db.IsUnavailable(err) || time.Now().After(deadline) {
			return err
		}
		wait = min(wait*2, 10*time.Second)
	}
}

// stopping is closed once StopLane has been called.
func (r *Runner) stopping() <-chan struct{} {
	r.laneMu.Lock()
	defer r.laneMu.Unlock()
	if r.stopCh == nil {
		r.stopCh = make(chan struct{})
	}
	return r.stopCh
}

// RecordRetryFor is how long an operation's outcome is kept for a
// database that does not answer.
const RecordRetryFor = time.Hour

// runHooked decodes and runs the operation, then calls AfterRun, even if the work
// panics; a panic fails the operation instead of leaving it running.
func (r *Runner) runHooked(ctx context.Context, op db.Operation) (a Action, err error) {
	if r.AfterRun != nil {
		defer func() { r.AfterRun(op, err) }()
	}
	defer func() {
		if p := recover(); p != nil {
			r.Log.Error("operation panicked", "op", op.ID, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error: %v", p)
		}
	}()
	a, err = decodeAction(op)
	if err != nil {
		return nil, err
	}
	return a, a.run(ctx, r, op)
}

// startNext starts operation id, the next in line on a container whose
// operation just finished, here and now rather than when its River job
// next comes round; its job then finds it done. Whoever claims it first
// runs it.
func (r *Runner) startNext(ctx context.Context, id string) {
	op, claimed, err := r.Store.ClaimOperation(ctx, id)
	if err != nil {
		r.Log.Warn("start the next operation; its job will", "op", id, "err", err)
		return
	}
	if claimed {
		r.Go(op)
	}
}

// stateOf is the container's liblxc state after op, "" when liblxc has
// no such container (after a destroy, or a create undone): its row is
// gone, or shows its phase. Events call that state "absent".
func (r *Runner) stateOf(ctx context.Context, op db.Operation) string {
	st, err := r.Drv.State(ctx, strconv.Itoa(op.CTID))
	if err != nil {
		return ""
	}
	return string(st)
}
