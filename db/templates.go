package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Template is an OS template a container can be created from.
type Template struct {
	Name        string
	Kind        string // "lxc" or "tarball"
	Source      string
	Description string
	Enabled     bool
	// Containers counts the containers last made from the template.
	Containers int
	CreatedAt  time.Time
}

const templateCols = `t.name, t.kind, t.source, t.description, t.enabled,
	(SELECT count(*) FROM containers c WHERE c.template = t.name), t.created_at`

func scanTemplate(row pgx.Row) (Template, error) {
	var t Template
	err := row.Scan(&t.Name, &t.Kind, &t.Source, &t.Description, &t.Enabled, &t.Containers, &t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// GetTemplate finds an OS template by name.
func (q *Queries) GetTemplate(ctx context.Context, name string) (Template, error) {
	t, err := scanTemplate(q.db.QueryRow(ctx, `SELECT `+templateCols+` FROM os_templates t WHERE t.name = $1`, name))
	if errors.Is(err, ErrNotFound) {
		return t, err
	}
	if err != nil {
		return t, fmt.Errorf("store: get template %q: %w", name, err)
	}
	return t, nil
}

// ListTemplates lists every OS template by name.
func (q *Queries) ListTemplates(ctx context.Context) ([]Template, error) {
	rows, err := q.db.Query(ctx, `SELECT `+templateCols+` FROM os_templates t ORDER BY t.name`)
	if err != nil {
		return nil, fmt.Errorf("store: list templates: %w", err)
	}
	defer rows.Close()
	var out []Template
	for rows.Next() {
		t, err := scanTemplate(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list templates: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// UpsertTemplate registers an OS template or, when one of that name
// exists, replaces its kind, source and description (an upload replacing
// a tarball); whether it is enabled is set from t.Enabled for a new
// template, and for an existing one only when setEnabled.
func (q *Queries) UpsertTemplate(ctx context.Context, t Template, setEnabled bool) (created bool, err error) {
	err = q.db.QueryRow(ctx, `INSERT INTO os_templates (name, kind, source, description, enabled)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name) DO UPDATE SET kind = $2, source = $3, description = $4,
			enabled = CASE WHEN $6 THEN $5 ELSE os_templates.enabled END
		RETURNING (xmax = 0)`,
		t.Name, t.Kind, t.Source, t.Description, t.Enabled, setEnabled).Scan(&created)
	if err != nil {
		return false, fmt.Errorf("store: upsert template %q: %w", t.Name, err)
	}
	return created, nil
}

// RegisterTemplate adds an OS template unless one of that name exists
// (the start-up scan of the template cache: what staff changed stays).
func (q *Queries) RegisterTemplate(ctx context.Context, t Template) error {
	_, err := q.db.Exec(ctx, `INSERT INTO os_templates (name, kind, source, description, enabled)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING`,
		t.Name, t.Kind, t.Source, t.Description, t.Enabled)
	if err != nil {
		return fmt.Errorf("store: register template %q: %w", t.Name, err)
	}
	return nil
}

// UpdateTemplate changes a template's description and whether new
// containers may be made from it; nil leaves a field as it is.
func (q *Queries) UpdateTemplate(ctx context.Context, name string, description *string, enabled *bool) (Template, error) {
	tag, err := q.db.Exec(ctx, `UPDATE os_templates SET description = COALESCE($2, description),
		enabled = COALESCE($3, enabled) WHERE name = $1`, name, description, enabled)
	if err != nil {
		return Template{}, fmt.Errorf("store: update template %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return Template{}, ErrNotFound
	}
	return q.GetTemplate(ctx, name)
}

// DeleteTemplate removes a template's row; containers made from it keep
// its name as their history.
func (q *Queries) DeleteTemplate(ctx context.Context, name string) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM os_templates WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("store: delete template %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
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
