// Package ops runs container operations: what happens after the domain
// layer has validated a request and recorded its state change and
// operation in one transaction. Each action has a file of its own
// (action_*.go) with its typed parameters (an Action). On a container with
// nothing else unfinished an operation is recorded running and, once the
// transaction commits, run at once in this process (Queue.EnqueueNow,
// Queue.AfterCommit, Runner.Go); otherwise it is recorded pending with a
// durable River job (Queue.Enqueue). When an operation finishes, the next
// one on its container starts at once in this process; its River job,
// snoozed meanwhile rather than holding a worker, is what runs it if this
// process stops first. Operations on one container run one at a time, in
// order, and half-done creates and clones are undone. At start-up
// Reconcile brings the database and liblxc back in line after a crash,
// asking River (through its API) what became of every unfinished
// operation's job.
package ops

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/ctpanel/ctpanel/db"
)

// JobArgs is the River job: just the operation it runs.
type JobArgs struct {
	OperationID string `json:"operation_id"`
}

// Kind is River's name for the job.
func (JobArgs) Kind() string { return "container_operation" }

// InsertOpts keeps a failed job from being retried by River: a failed
// operation is final and says why.
func (JobArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

// Hub tells those waiting for an operation that it finished, with its
// final row.
type Hub struct {
	mu       sync.Mutex
	watchers map[string][]chan db.Operation
}

// NewHub makes a Hub.
func NewHub() *Hub { return &Hub{watchers: map[string][]chan db.Operation{}} }

// Watch returns a channel that gets operation id's final row when it
// finishes in this process, and a function to stop watching.
func (h *Hub) Watch(id string) (<-chan db.Operation, func()) {
	c := make(chan db.Operation, 1)
	h.mu.Lock()
	h.watchers[id] = append(h.watchers[id], c)
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		ws := h.watchers[id]
		for i, w := range ws {
			if w == c {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(h.watchers, id)
		} else {
			h.watchers[id] = ws
		}
	}
}

// Finished hands op's final row to its watchers.
func (h *Hub) Finished(op db.Operation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.watchers[op.ID] {
		c <- op // buffered, and each gets one row at most
	}
	delete(h.watchers, op.ID)
}

// Queue records operations: to run at once (EnqueueNow) or with a River job.
type Queue struct {
	Client *river.Client[pgx.Tx]
	// Runner, when set, runs at once in this process the operations
	// EnqueueNow records running (see AfterCommit).
	Runner *Runner
}

// Enqueue records a pending operation and its job inside tx; both appear
// when tx commits, or neither does. by.Actor is who asked for it; with
// by.Action set, by is written to the audit log in the same statement.
func (q *Queue) Enqueue(ctx context.Context, tx pgx.Tx, qs *db.Queries, ctid int, a Action, by db.AuditEntry) (db.Operation, error) {
	return q.enqueue(ctx, tx, qs, ctid, a, by, false)
}

// EnqueueNow is Enqueue for an operation that should start without waiting
// for River: if the container has no other unfinished operation, it is
// recorded running, without a River job, for AfterCommit to start once tx
// has committed (the caller must hold the container's row lock in tx).
// Should ctpanel stop before it finishes, start-up reconciliation gives it
// a job. Without a Runner it is Enqueue.
func (q *Queue) EnqueueNow(ctx context.Context, tx pgx.Tx, qs *db.Queries, ctid int, a Action, by db.AuditEntry) (db.Operation, error) {
	return q.enqueue(ctx, tx, qs, ctid, a, by, q.Runner != nil)
}

func (q *Queue) enqueue(ctx context.Context, tx pgx.Tx, qs *db.Queries, ctid int, a Action, by db.AuditEntry, now bool) (db.Operation, error) {
	var op db.Operation
	var err error
	if now {
		op, err = qs.InsertOperationRunning(ctx, ctid, a.ActionName(), a, by)
	} else {
		op, err = qs.InsertOperation(ctx, ctid, a.ActionName(), a, by)
	}
	if err != nil {
		return op, err
	}
	if op.Status == db.OpRunning {
		return op, nil // AfterCommit starts it
	}
	res, err := q.Client.InsertTx(ctx, tx, JobArgs{OperationID: op.ID}, nil)
	if err != nil {
		return op, fmt.Errorf("ops: queue %s on %d: %w", a.ActionName(), ctid, err)
	}
	return op, qs.SetOperationJob(ctx, op.ID, res.Job.ID)
}

// AfterCommit is what happens once the transaction that recorded op has
// ended: an operation EnqueueNow recorded running starts in this process.
// When the transaction reported an error (txErr) after recording it, the
// commit may still have happened with its answer lost, so the operation
// is looked up and started if it is there, running: it cannot stay
// running with nothing to run it. Any other operation is River's.
func (q *Queue) AfterCommit(op db.Operation, txErr error) {
	if op.ID == "" || op.Status != db.OpRunning || q.Runner == nil {
		return
	}
	if txErr != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := q.Runner.Store.GetOperation(ctx, op.ID)
		if err != nil || got.Status != db.OpRunning {
			return
		}
		q.Runner.Log.Warn("operation committed although its request failed; running it", "op", op.ID, "err", txErr)
		op = got
	}
	q.Runner.Go(op)
}

// Wait blocks until the operation finishes or timeout passes, and returns
// its latest row.
func Wait(ctx context.Context, store *db.Store, hub *Hub, id string, timeout time.Duration) (db.Operation, error) {
	finished, stop := hub.Watch(id)
	defer stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		op, err := store.GetOperation(ctx, id)
		if err != nil || op.Done() {
			return op, err
		}
		select {
		case op := <-finished:
			return op, nil
		case <-time.After(time.Second): // another process may have finished it
		case <-deadline.C:
			return op, nil
		case <-ctx.Done():
			return op, ctx.Err()
		}
	}
}
