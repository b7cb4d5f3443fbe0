// Package ops runs container operations. A handler validates a request,
// writes its state change and records the operation in one transaction:
// on a container with nothing else unfinished it is recorded running and,
// once that commits, run at once in this process (Queue.EnqueueNow, Start,
// Runner.Go); otherwise it is queued as a durable River job
// (Queue.Enqueue) that the Runner works when those before it have
// finished. Either way operations on one container run one at a time, in
// order, and half-done creates and clones are undone. At start-up
// Reconcile brings the database and liblxc back in line after a crash,
// giving a River job to whatever was running.
package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/ctpanel/ctpanel/db"
)

// Actions an operation can carry.
const (
	ActionCreate    = "create"
	ActionClone     = "clone"
	ActionStart     = "start"
	ActionStop      = "stop"
	ActionShutdown  = "shutdown"
	ActionRestart   = "restart"
	ActionFreeze    = "freeze"
	ActionUnfreeze  = "unfreeze"
	ActionDestroy   = "destroy"
	ActionConfigure = "configure"
	ActionSetLimits = "set_limits"
	ActionSuspend   = "suspend"
	ActionUnsuspend = "unsuspend"
	ActionReinstall = "reinstall"
	ActionPassword  = "set_credentials"
)

// Params are an operation's inputs, stored as JSON on the row.
type Params struct {
	Start      bool `json:"start,omitempty"`
	Timeout    int  `json:"timeout,omitempty"` // seconds, shutdown and restart
	Force      bool `json:"force,omitempty"`   // destroy a running container
	SourceCTID int  `json:"source_ctid,omitempty"`
	Snapshot   bool `json:"snapshot,omitempty"`
	// PreviousLimits are restored if set_limits fails.
	PreviousLimits json.RawMessage `json:"previous_limits,omitempty"`
	PreviousPlanID *int64          `json:"previous_plan_id,omitempty"`
	// Mode of suspend and unsuspend: "stop" or "freeze".
	Mode string `json:"mode,omitempty"`
	// Template of a reinstall.
	Template string `json:"template,omitempty"`
	// RootHash is a crypt(3) hash for root's password (never the password).
	RootHash string   `json:"root_hash,omitempty"`
	SSHKeys  []string `json:"ssh_keys,omitempty"`
}

// JobArgs is the River job: just the operation it runs.
type JobArgs struct {
	OperationID string `json:"operation_id"`
}

// Kind is River's name for the job.
func (JobArgs) Kind() string { return "container_operation" }

// InsertOpts keeps a failed job from being retried by River: a failed
// operation is final and says why.
func (JobArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

// Hub tells waiters that operations finished: those waiting for one
// operation get its final row, those waiting for any (a queued operation
// whose turn may have come) a wake-up.
type Hub struct {
	mu       sync.Mutex
	ch       chan struct{}
	watchers map[string][]chan db.Operation
}

// NewHub makes a Hub.
func NewHub() *Hub { return &Hub{ch: make(chan struct{}), watchers: map[string][]chan db.Operation{}} }

// Changed returns a channel closed at the next Finished.
func (h *Hub) Changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ch
}

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

// Finished hands op's final row to its watchers and wakes everyone
// waiting on Changed.
func (h *Hub) Finished(op db.Operation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.watchers[op.ID] {
		c <- op // buffered, and each gets one row at most
	}
	delete(h.watchers, op.ID)
	close(h.ch)
	h.ch = make(chan struct{})
}

// Queue records operations: to run at once (EnqueueNow) or with a River job.
type Queue struct {
	Client *river.Client[pgx.Tx]
	// Runner, when set, runs at once in this process the operations
	// EnqueueNow records running (see Start).
	Runner *Runner
}

// Enqueue records a pending operation and its job inside tx; both appear
// when tx commits, or neither does.
func (q *Queue) Enqueue(ctx context.Context, tx pgx.Tx, qs *db.Queries, ctid int, action string, p Params, by string) (db.Operation, error) {
	return q.enqueue(ctx, tx, qs, ctid, action, p, by, false)
}

// EnqueueNow is Enqueue for an operation that should start without waiting
// for River: if the container has no other unfinished operation, it is
// recorded running, without a River job, for Start to run once tx has
// committed (the caller must hold the container's row lock in tx). Should
// ctpanel stop before it finishes, start-up reconciliation gives it a job.
// Without a Runner it is Enqueue.
func (q *Queue) EnqueueNow(ctx context.Context, tx pgx.Tx, qs *db.Queries, ctid int, action string, p Params, by string) (db.Operation, error) {
	return q.enqueue(ctx, tx, qs, ctid, action, p, by, q.Runner != nil)
}

func (q *Queue) enqueue(ctx context.Context, tx pgx.Tx, qs *db.Queries, ctid int, action string, p Params, by string, now bool) (db.Operation, error) {
	var op db.Operation
	var err error
	if now {
		op, err = qs.InsertOperationRunning(ctx, ctid, action, p, by)
	} else {
		op, err = qs.InsertOperation(ctx, ctid, action, p, by)
	}
	if err != nil {
		return op, err
	}
	if op.Status == db.OpRunning {
		return op, nil // Start runs it
	}
	if _, err := q.Client.InsertTx(ctx, tx, JobArgs{OperationID: op.ID}, nil); err != nil {
		return op, fmt.Errorf("ops: queue %s on %d: %w", action, ctid, err)
	}
	return op, nil
}

// Start runs an operation EnqueueNow recorded running, once the
// transaction that recorded it has committed. Any other operation is
// River's to run, and Start leaves it alone.
func (q *Queue) Start(op db.Operation) {
	if op.Status == db.OpRunning && q.Runner != nil {
		q.Runner.Go(op)
	}
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

func decodeParams(op db.Operation) (Params, error) {
	var p Params
	if len(op.Params) == 0 || string(op.Params) == "null" {
		return p, nil
	}
	if err := json.Unmarshal(op.Params, &p); err != nil {
		return p, fmt.Errorf("ops: params of %s: %w", op.ID, err)
	}
	return p, nil
}
