package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
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
	ID     string
	Seq    int64
	CTID   int
	Action string
	Params json.RawMessage
	Status string
	Error  string
	// Note is what the operation wants its reader to know besides its
	// outcome.
	Note        string
	RequestedBy string
	CreatedAt   time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
}

// Done reports whether the operation has finished either way.
func (o Operation) Done() bool { return o.Status == OpSucceeded || o.Status == OpFailed }

const opCols = `id, seq, ct_id, action, params, status, error, note, requested_by, created_at, started_at, finished_at`

func scanOp(row pgx.Row) (Operation, error) {
	var o Operation
	err := row.Scan(&o.ID, &o.Seq, &o.CTID, &o.Action, &o.Params, &o.Status, &o.Error, &o.Note,
		&o.RequestedBy, &o.CreatedAt, &o.StartedAt, &o.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, ErrNotFound
	}
	return o, err
}

// InsertOperation queues a pending operation and returns it. by names who
// asked for it; when by.Action is set, by is also written to the audit log
// in the same statement, its details with the operation's id.
func (q *Queries) InsertOperation(ctx context.Context, ctid int, action string, params any, by AuditEntry) (Operation, error) {
	return q.insertOperation(ctx, ctid, action, params, by, false)
}

// InsertOperationRunning records an operation already running when its
// container has no other unfinished operation, and pending (as
// InsertOperation) when it has: the caller runs a running one itself, at
// once, without a River job (start-up gives it one after a crash). The
// caller must hold the container's row lock, so that no other operation on
// it is queued meanwhile.
func (q *Queries) InsertOperationRunning(ctx context.Context, ctid int, action string, params any, by AuditEntry) (Operation, error) {
	return q.insertOperation(ctx, ctid, action, params, by, true)
}

func (q *Queries) insertOperation(ctx context.Context, ctid int, action string, params any, by AuditEntry, runIfIdle bool) (Operation, error) {
	raw, err := json.Marshal(params)
	if err != nil {
		return Operation{}, fmt.Errorf("store: operation params: %w", err)
	}
	details := by.Details
	if details == nil {
		details = map[string]any{}
	}
	// started_at is the clock's, not the transaction's start: the
	// operation before it may have finished while this transaction waited
	// for the container's lock.
	op, err := scanOp(q.db.QueryRow(ctx, `WITH s AS (
			SELECT CASE WHEN $5 AND NOT EXISTS (SELECT 1 FROM operations
				WHERE ct_id = $1 AND status IN ('pending', 'running')) THEN 'running' ELSE 'pending' END AS status),
		op AS (
			INSERT INTO operations (ct_id, action, params, requested_by, status, started_at, started_at_once)
			SELECT $1, $2, $3, $4, s.status, CASE WHEN s.status = 'running' THEN clock_timestamp() END, s.status = 'running'
			FROM s RETURNING `+opCols+`),
		a AS (
			INSERT INTO audit_log (actor, actor_role, action, ct_id, details)
			SELECT $4, $6, $7, op.ct_id, $8::jsonb || jsonb_build_object('operation', op.id) FROM op WHERE $7 <> '')
		SELECT `+opCols+` FROM op`, ctid, action, raw, by.Actor, runIfIdle, by.ActorRole, by.Action, details))
	if err != nil {
		return op, fmt.Errorf("store: insert operation %s on %d: %w", action, ctid, err)
	}
	return op, nil
}

// operationID parses an operation id (a UUID), so that lookups use the
// primary key; text that is not one names no operation.
func operationID(id string) (pgtype.UUID, bool) {
	var u pgtype.UUID
	if err := u.Scan(id); err != nil {
		return u, false
	}
	return u, true
}

// GetOperation finds an operation by id.
func (q *Queries) GetOperation(ctx context.Context, id string) (Operation, error) {
	uid, ok := operationID(id)
	if !ok {
		return Operation{}, ErrNotFound
	}
	op, err := scanOp(q.db.QueryRow(ctx, `SELECT `+opCols+` FROM operations WHERE id = $1`, uid))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return op, fmt.Errorf("store: get operation %s: %w", id, err)
	}
	return op, err
}

// RecentOperations lists the farm's latest operations, newest first.
func (q *Queries) RecentOperations(ctx context.Context, limit int) ([]Operation, error) {
	rows, err := q.db.Query(ctx, `SELECT `+opCols+` FROM operations ORDER BY seq DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: recent operations: %w", err)
	}
	out, err := collectOps(rows)
	if err != nil {
		return nil, fmt.Errorf("store: recent operations: %w", err)
	}
	return out, nil
}

// ListOperations lists a container's operations, newest first.
func (q *Queries) ListOperations(ctx context.Context, ctid int, limit int) ([]Operation, error) {
	rows, err := q.db.Query(ctx, `SELECT `+opCols+` FROM operations WHERE ct_id = $1 ORDER BY seq DESC LIMIT $2`, ctid, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list operations of %d: %w", ctid, err)
	}
	out, err := collectOps(rows)
	if err != nil {
		return nil, fmt.Errorf("store: list operations of %d: %w", ctid, err)
	}
	return out, nil
}

// collectOps scans and closes rows of opCols.
func collectOps(rows pgx.Rows) ([]Operation, error) {
	defer rows.Close()
	var out []Operation
	for rows.Next() {
		o, err := scanOp(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
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

// ClaimOperation marks a pending operation running, in one statement, if
// every operation queued before it on the same container has finished.
// It returns the operation and whether this call claimed it; an operation
// not claimed is returned as it stands (pending behind another, running,
// or finished).
func (q *Queries) ClaimOperation(ctx context.Context, id string) (Operation, bool, error) {
	uid, ok := operationID(id)
	if !ok {
		return Operation{}, false, ErrNotFound
	}
	op, err := scanOp(q.db.QueryRow(ctx, `UPDATE operations o SET status = 'running', started_at = now()
		WHERE o.id = $1 AND o.status = 'pending' AND NOT EXISTS (SELECT 1 FROM operations e
			WHERE e.ct_id = o.ct_id AND e.seq < o.seq AND e.status IN ('pending', 'running'))
		RETURNING `+opCols, uid))
	if err == nil {
		return op, true, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return op, false, fmt.Errorf("store: claim operation %s: %w", id, err)
	}
	op, err = q.GetOperation(ctx, id)
	return op, false, err
}

// FinishOperation marks an operation succeeded (opErr nil) or failed and,
// in the same statement, records state (liblxc's, "" for none) as its
// container's last state unless an operation queued after it has started
// since (that one records its own). It returns the final row and the id of
// the next pending operation on the same container ("" when there is
// none), whose turn has come. A root password's hash leaves the params
// then: root passwords are stored nowhere once written into the container.
func (q *Queries) FinishOperation(ctx context.Context, id string, opErr error, state string) (Operation, string, error) {
	status, msg := OpSucceeded, ""
	if opErr != nil {
		status, msg = OpFailed, opErr.Error()
	}
	uid, ok := operationID(id)
	if !ok {
		return Operation{}, "", ErrNotFound
	}
	var o Operation
	var next *string
	err := q.db.QueryRow(ctx, `WITH fin AS (
			UPDATE operations SET status = $2, error = $3, finished_at = now(),
				params = CASE WHEN jsonb_typeof(params) = 'object' THEN params - 'root_hash' ELSE params END
			WHERE id = $1 RETURNING `+opCols+`),
		st AS (
			UPDATE containers c SET last_state = $4 FROM fin
			WHERE $4 <> '' AND c.ct_id = fin.ct_id AND c.last_state <> $4
				AND NOT EXISTS (SELECT 1 FROM operations e WHERE e.ct_id = fin.ct_id AND e.seq > fin.seq AND e.status <> 'pending'))
		SELECT fin.id, fin.seq, fin.ct_id, fin.action, fin.params, fin.status, fin.error, fin.note, fin.requested_by,
			fin.created_at, fin.started_at, fin.finished_at,
			(SELECT n.id::text FROM operations n WHERE n.ct_id = fin.ct_id AND n.id <> fin.id AND n.status = 'pending'
				ORDER BY n.seq LIMIT 1)
		FROM fin`,
		uid, status, msg, state).Scan(&o.ID, &o.Seq, &o.CTID, &o.Action, &o.Params, &o.Status, &o.Error, &o.Note,
		&o.RequestedBy, &o.CreatedAt, &o.StartedAt, &o.FinishedAt, &next)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return o, "", fmt.Errorf("store: finish operation %s: %w", id, err)
	}
	if next == nil {
		return o, "", nil
	}
	return o, *next, nil
}

// SetOperationJob records the River job that runs a queued operation.
func (q *Queries) SetOperationJob(ctx context.Context, id string, jobID int64) error {
	uid, ok := operationID(id)
	if !ok {
		return ErrNotFound
	}
	if _, err := q.db.Exec(ctx, `UPDATE operations SET job_id = $2 WHERE id = $1`, uid, jobID); err != nil {
		return fmt.Errorf("store: job of operation %s: %w", id, err)
	}
	return nil
}

// RequeueInterrupted puts operations that were running when ctpanel stopped
// back to pending (every action is written to be safe to repeat); start-up
// reconciliation then sees that each has a River job to run it. It returns
// the number of operations requeued.
func (q *Queries) RequeueInterrupted(ctx context.Context) (int64, error) {
	tag, err := q.db.Exec(ctx, `UPDATE operations SET status = 'pending', started_at = NULL WHERE status = 'running'`)
	if err != nil {
		return 0, fmt.Errorf("store: requeue operations: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Unfinished is an operation still to run and its River job, if any.
type Unfinished struct {
	ID    string
	JobID *int64
	// StartedAtOnce: a request recorded it running, with no job.
	StartedAtOnce bool
}

// UnfinishedOperations lists the pending and running operations, oldest
// first, with their jobs.
func (q *Queries) UnfinishedOperations(ctx context.Context) ([]Unfinished, error) {
	rows, err := q.db.Query(ctx, `SELECT id::text, job_id, started_at_once FROM operations
		WHERE status IN ('pending', 'running') ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("store: unfinished operations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Unfinished, error) {
		var u Unfinished
		return u, r.Scan(&u.ID, &u.JobID, &u.StartedAtOnce)
	})
	if err != nil {
		return nil, fmt.Errorf("store: unfinished operations: %w", err)
	}
	return out, nil
}
