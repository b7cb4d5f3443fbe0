package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Template is an OS template a container can be created from.
type Template struct {
	Name        string
	Kind        string // "lxc" or "tarball"
	Source      string
	Description string
	Enabled     bool
}

// GetTemplate finds an OS template by name.
func (q *Queries) GetTemplate(ctx context.Context, name string) (Template, error) {
	var t Template
	err := q.db.QueryRow(ctx, `SELECT name, kind, source, description, enabled FROM os_templates WHERE name = $1`, name).
		Scan(&t.Name, &t.Kind, &t.Source, &t.Description, &t.Enabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("store: get template %q: %w", name, err)
	}
	return t, nil
}

// ListTemplates lists every OS template by name.
func (q *Queries) ListTemplates(ctx context.Context) ([]Template, error) {
	rows, err := q.db.Query(ctx, `SELECT name, kind, source, description, enabled FROM os_templates ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list templates: %w", err)
	}
	defer rows.Close()
	var out []Template
	for rows.Next() {
		var t Template
		if err := rows.Scan(&t.Name, &t.Kind, &t.Source, &t.Description, &t.Enabled); err != nil {
			return nil, fmt.Errorf("store: list templates: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// UpsertTemplate registers or updates an OS template (the template cache is
// scanned at start-up for tarballs).
func (q *Queries) UpsertTemplate(ctx context.Context, t Template) error {
	_, err := q.db.Exec(ctx, `INSERT INTO os_templates (name, kind, source, description, enabled)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name) DO UPDATE SET kind = $2, source = $3, enabled = $5`,
		t.Name, t.Kind, t.Source, t.Description, t.Enabled)
	if err != nil {
		return fmt.Errorf("store: upsert template %q: %w", t.Name, err)
	}
	return nil
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	Actor     string
	ActorRole string
	Action    string
	CTID      *int
	Details   map[string]any
}

// Audit appends to the audit log.
func (q *Queries) Audit(ctx context.Context, e AuditEntry) error {
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	_, err := q.db.Exec(ctx, `INSERT INTO audit_log (actor, actor_role, action, ct_id, details) VALUES ($1, $2, $3, $4, $5)`,
		e.Actor, e.ActorRole, e.Action, e.CTID, e.Details)
	if err != nil {
		return fmt.Errorf("store: audit %s: %w", e.Action, err)
	}
	return nil
}

// CountAudit counts audit entries of one action on one container (tests
// and reconciliation reports use it).
func (q *Queries) CountAudit(ctx context.Context, ctid int, action string) (int, error) {
	var n int
	err := q.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE ct_id = $1 AND action = $2`, ctid, action).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count audit: %w", err)
	}
	return n, nil
}
