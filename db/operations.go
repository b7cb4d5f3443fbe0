package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Operation statuses.
const (
	OpPending   = "pending"
	OpRunning   = "running"
	OpSucceeded = "succeeded"
	OpFailed    = "failed"
)

// Operation is a row of operations: one queued action on one container.
type Operation struct {
	ID          string
	Seq         int64
	CTID        int
	Action      string
	Params      json.RawMessage
	Status      string
	Error       string
	RequestedBy string
	CreatedAt   time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
}

// Done reports whether the operation has finished either way.
func (o Operation) Done() bool { return o.Status == OpSucceeded || o.Status == OpFailed }

const opCols = `id, seq, ct_id, action, params, status, error, requested_by, created_at, started_at, finished_at`

func scanOp(row pgx.Row) (Operation, error) {
	var o Operation
	err := row.Scan(&o.ID, &o.Seq, &o.CTID, &o.Action, &o.Params, &o.Status, &o.Error,
		&o.RequestedBy, &o.CreatedAt, &o.StartedAt, &o.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, ErrNotFound
	}
	return o, err
}

// InsertOperation queues a pending operation and returns it.
func (q *Queries) InsertOperation(ctx context.Context, ctid int, action string, params any, by string) (Operation, error) {
	raw, err := json.Marshal(params)
	if err != nil {
		return Operation{}, fmt.Errorf("store: operation params: %w", err)
	}
	op, err := scanOp(q.db.QueryRow(ctx, `INSERT INTO operations (ct_id, action, params, requested_by)
		VALUES ($1, $2, $3, $4) RETURNING `+opCols, ctid, action, raw, by))
	if err != nil {
		return op, fmt.Errorf("store: insert operation %s on %d: %w", action, ctid, err)
	}
	return op, nil
}

// GetOperation finds an operation by id.
func (q *Queries) GetOperation(ctx context.Context, id string) (Operation, error) {
	op, err := scanOp(q.db.QueryRow(ctx, `SELECT `+opCols+` FROM operations WHERE id::text = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return op, fmt.Errorf("store: get operation %s: %w", id, err)
	}
	return op, err
}

// ListOperations lists a container's operations, newest first.
func (q *Queries) ListOperations(ctx context.Context, ctid int, limit int) ([]Operation, error) {
	rows, err := q.db.Query(ctx, `SELECT `+opCols+` FROM operations WHERE ct_id = $1 ORDER BY seq DESC LIMIT $2`, ctid, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list operations of %d: %w", ctid, err)
	}
	defer rows.Close()
	var out []Operation
	for rows.Next() {
		o, err := scanOp(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list operations of %d: %w", ctid, err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// EarlierUnfinished counts unfinished operations queued before op on the
// same container: op may run only when this is zero.
func (q *Queries) EarlierUnfinished(ctx context.Context, op Operation) (int, error) {
	var n int
	err := q.db.QueryRow(ctx, `SELECT count(*) FROM operations
		WHERE ct_id = $1 AND seq < $2 AND status IN ('pending', 'running')`, op.CTID, op.Seq).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: earlier operations of %d: %w", op.CTID, err)
	}
	return n, nil
}

// HasUnfinished reports whether a container has a pending or running operation.
func (q *Queries) HasUnfinished(ctx context.Context, ctid int) (bool, error) {
	var ok bool
	err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM operations
		WHERE ct_id = $1 AND status IN ('pending', 'running'))`, ctid).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("store: unfinished operations of %d: %w", ctid, err)
	}
	return ok, nil
}

// StartOperation marks an operation running.
func (q *Queries) StartOperation(ctx context.Context, id string) error {
	_, err := q.db.Exec(ctx, `UPDATE operations SET status = 'running', started_at = now() WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: start operation %s: %w", id, err)
	}
	return nil
}

// FinishOperation marks an operation succeeded (opErr nil) or failed.
func (q *Queries) FinishOperation(ctx context.Context, id string, opErr error) error {
	status, msg := OpSucceeded, ""
	if opErr != nil {
		status, msg = OpFailed, opErr.Error()
	}
	_, err := q.db.Exec(ctx, `UPDATE operations SET status = $2, error = $3, finished_at = now() WHERE id = $1`, id, status, msg)
	if err != nil {
		return fmt.Errorf("store: finish operation %s: %w", id, err)
	}
	return nil
}

// RequeueInterrupted puts operations that were running when ctpanel stopped
// back to pending, and River's jobs for them back to available, so they are
// run again (every action is written to be safe to repeat). It returns the
// number of operations requeued.
func (q *Queries) RequeueInterrupted(ctx context.Context) (int64, error) {
	tag, err := q.db.Exec(ctx, `UPDATE operations SET status = 'pending', started_at = NULL WHERE status = 'running'`)
	if err != nil {
		return 0, fmt.Errorf("store: requeue operations: %w", err)
	}
	if _, err := q.db.Exec(ctx, `UPDATE river_job SET state = 'available', attempted_by = NULL,
		scheduled_at = now() WHERE state = 'running'`); err != nil {
		return 0, fmt.Errorf("store: requeue jobs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// FailOrphanedOperations fails unfinished operations that have no River job
// left to run them (a job discarded or cancelled), so nothing stays pending
// for ever.
func (q *Queries) FailOrphanedOperations(ctx context.Context) (int64, error) {
	tag, err := q.db.Exec(ctx, `UPDATE operations o SET status = 'failed', finished_at = now(),
		error = 'interrupted: no job left to run it'
		WHERE o.status IN ('pending', 'running') AND NOT EXISTS (
			SELECT 1 FROM river_job j WHERE j.args->>'operation_id' = o.id::text
			AND j.state IN ('available', 'running', 'retryable', 'scheduled', 'pending'))`)
	if err != nil {
		return 0, fmt.Errorf("store: fail orphaned operations: %w", err)
	}
	return tag.RowsAffected(), nil
}
