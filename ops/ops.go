// Package ops runs container operations as durable River jobs. A handler
// validates a request, writes its state change and queues the operation in
// one transaction (Queue.Enqueue); a worker (Runner) carries it out against
// liblxc, one operation at a time per container, undoing half-done creates
// and clones. At start-up Reconcile brings the database and liblxc back in
// line after a crash.
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

// Hub tells waiters that some operation finished.
type Hub struct {
	mu sync.Mutex
	ch chan struct{}
}

// NewHub makes a Hub.
func NewHub() *Hub { return &Hub{ch: make(chan struct{})} }

// Changed returns a channel closed at the next Notify.
func (h *Hub) Changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ch
}

// Notify wakes everyone waiting on Changed.
func (h *Hub) Notify() {
	h.mu.Lock()
	close(h.ch)
	h.ch = make(chan struct{})
	h.mu.Unlock()
}

// Queue inserts operations with their River jobs.
type Queue struct {
	Client *river.Client[pgx.Tx]
}

// Enqueue records a pending operation and its job inside tx; both appear
// when tx commits, or neither does.
func (q *Queue) Enqueue(ctx context.Context, tx pgx.Tx, qs *db.Queries, ctid int, action string, p Params, by string) (db.Operation, error) {
	op, err := qs.InsertOperation(ctx, ctid, action, p, by)
	if err != nil {
		return op, err
	}
	if _, err := q.Client.InsertTx(ctx, tx, JobArgs{OperationID: op.ID}, nil); err != nil {
		return op, fmt.Errorf("ops: queue %s on %d: %w", action, ctid, err)
	}
	return op, nil
}

// Wait blocks until the operation finishes or timeout passes, and returns
// its latest row.
func Wait(ctx context.Context, store *db.Store, hub *Hub, id string, timeout time.Duration) (db.Operation, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		changed := hub.Changed()
		op, err := store.GetOperation(ctx, id)
		if err != nil || op.Done() {
			return op, err
		}
		select {
		case <-changed:
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
