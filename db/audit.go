package db

import (
	"context"
	"fmt"
	"time"
)

// AuditRecord is a stored line of the audit log.
type AuditRecord struct {
	ID        int64
	At        time.Time
	Actor     string
	ActorRole string
	Action    string
	CTID      *int
	Details   map[string]any
}

// AuditFilter narrows ListAudit; zero values match everything.
type AuditFilter struct {
	CTID   *int
	Search string // a substring of the actor or the action
	Before int64  // only entries with a smaller id (paging)
	Limit  int
}

// ListAudit lists audit entries, newest first.
func (q *Queries) ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 200
	}
	rows, err := q.db.Query(ctx, `SELECT id, at, actor, actor_role, action, ct_id, details FROM audit_log
		WHERE ($1::int IS NULL OR ct_id = $1)
		  AND ($2 = '' OR strpos(lower(actor), lower($2)) > 0 OR strpos(lower(action), lower($2)) > 0)
		  AND ($3 = 0 OR id < $3)
		ORDER BY id DESC LIMIT $4`, f.CTID, f.Search, f.Before, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	defer rows.Close()
	out := []AuditRecord{}
	for rows.Next() {
		var a AuditRecord
		if err := rows.Scan(&a.ID, &a.At, &a.Actor, &a.ActorRole, &a.Action, &a.CTID, &a.Details); err != nil {
			return nil, fmt.Errorf("store: list audit: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
