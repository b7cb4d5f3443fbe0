package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Plan is a named limit preset.
type Plan struct {
	ID          int64
	Name        string
	Description string
	Limits      json.RawMessage // ubc.Spec as JSON
	Containers  int
	Network     PlanNetwork
	// BackupPolicy is backup.Policy as JSON.
	BackupPolicy json.RawMessage
	// AlertThresholds is ubc.AlertThresholds as JSON.
	AlertThresholds json.RawMessage
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// PlanNetwork is a plan's network: how many addresses its customer may
// put on one container, and its rates in Mbit/s (nil: none set).
type PlanNetwork struct {
	IPAddresses *int `json:"ip_addresses"`
	RateInMbit  *int `json:"rate_in_mbit"`
	RateOutMbit *int `json:"rate_out_mbit"`
}

const planCols = `p.id, p.name, p.description, p.limits, p.created_at, p.updated_at,
	(SELECT count(*) FROM containers c WHERE c.plan_id = p.id), p.ip_addresses, p.rate_in_mbit, p.rate_out_mbit, p.backup_policy, p.alert_thresholds`

func scanPlan(row pgx.Row) (Plan, error) {
	var p Plan
	err := row.Scan(&p.ID, &p.Name, &p.Description, &p.Limits, &p.CreatedAt, &p.UpdatedAt, &p.Containers,
		&p.Network.IPAddresses, &p.Network.RateInMbit, &p.Network.RateOutMbit, &p.BackupPolicy, &p.AlertThresholds)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ErrNotFound
	}
	return p, err
}

// CreatePlan adds a plan.
func (q *Queries) CreatePlan(ctx context.Context, name, description string, limits json.RawMessage) (Plan, error) {
	p, err := scanPlan(q.db.QueryRow(ctx, `WITH p AS (INSERT INTO plans (name, description, limits) VALUES ($1, $2, $3) RETURNING *)
		SELECT `+planCols+` FROM p`, name, description, jsonOrEmpty(limits)))
	if _, ok := uniqueViolation(err); ok {
		return p, &ConflictError{Field: "name"}
	}
	if err != nil {
		return p, fmt.Errorf("store: create plan %q: %w", name, err)
	}
	return p, nil
}

// GetPlan finds a plan by name.
func (q *Queries) GetPlan(ctx context.Context, name string) (Plan, error) {
	p, err := scanPlan(q.db.QueryRow(ctx, `SELECT `+planCols+` FROM plans p WHERE p.name = $1`, name))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return p, fmt.Errorf("store: get plan %q: %w", name, err)
	}
	return p, err
}

// GetPlanByID finds a plan by id.
func (q *Queries) GetPlanByID(ctx context.Context, id int64) (Plan, error) {
	p, err := scanPlan(q.db.QueryRow(ctx, `SELECT `+planCols+` FROM plans p WHERE p.id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return p, fmt.Errorf("store: get plan %d: %w", id, err)
	}
	return p, err
}

// ListPlans lists plans by name.
func (q *Queries) ListPlans(ctx context.Context) ([]Plan, error) {
	rows, err := q.db.Query(ctx, `SELECT `+planCols+` FROM plans p ORDER BY p.name`)
	if err != nil {
		return nil, fmt.Errorf("store: list plans: %w", err)
	}
	defer rows.Close()
	var out []Plan
	for rows.Next() {
		p, err := scanPlan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list plans: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// UpdatePlan changes a plan's description and limits.
func (q *Queries) UpdatePlan(ctx context.Context, id int64, description string, limits json.RawMessage) error {
	_, err := q.db.Exec(ctx, `UPDATE plans SET description = $2, limits = $3, updated_at = now() WHERE id = $1`,
		id, description, jsonOrEmpty(limits))
	if err != nil {
		return fmt.Errorf("store: update plan %d: %w", id, err)
	}
	return nil
}

// SetPlanNetwork sets a plan's network settings.
func (q *Queries) SetPlanNetwork(ctx context.Context, id int64, n PlanNetwork) error {
	_, err := q.db.Exec(ctx, `UPDATE plans SET ip_addresses = $2, rate_in_mbit = $3, rate_out_mbit = $4, updated_at = now()
		WHERE id = $1`, id, n.IPAddresses, n.RateInMbit, n.RateOutMbit)
	if err != nil {
		return fmt.Errorf("store: plan %d network: %w", id, err)
	}
	return nil
}

// SetPlanBackupPolicy sets a plan's backup policy (JSON).
func (q *Queries) SetPlanBackupPolicy(ctx context.Context, id int64, policy json.RawMessage) error {
	if _, err := q.db.Exec(ctx, `UPDATE plans SET backup_policy = $2, updated_at = now() WHERE id = $1`, id, jsonOrEmpty(policy)); err != nil {
		return fmt.Errorf("store: plan %d backup policy: %w", id, err)
	}
	return nil
}

// SetPlanAlertThresholds sets a plan's alert thresholds (JSON).
func (q *Queries) SetPlanAlertThresholds(ctx context.Context, id int64, thresholds json.RawMessage) error {
	if _, err := q.db.Exec(ctx, `UPDATE plans SET alert_thresholds = $2, updated_at = now() WHERE id = $1`, id, jsonOrEmpty(thresholds)); err != nil {
		return fmt.Errorf("store: plan %d alert thresholds: %w", id, err)
	}
	return nil
}

// DeletePlan removes a plan no container uses.
func (q *Queries) DeletePlan(ctx context.Context, id int64) error {
	_, err := q.db.Exec(ctx, `DELETE FROM plans WHERE id = $1`, id)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return fmt.Errorf("store: delete plan %d: %w", id, ErrInUse)
	}
	if err != nil {
		return fmt.Errorf("store: delete plan %d: %w", id, err)
	}
	return nil
}

// ContainersOnPlan lists the CTIDs of a plan's containers.
func (q *Queries) ContainersOnPlan(ctx context.Context, planID int64) ([]int, error) {
	rows, err := q.db.Query(ctx, `SELECT ct_id FROM containers WHERE plan_id = $1 AND phase = 'ready' ORDER BY ct_id`, planID)
	if err != nil {
		return nil, fmt.Errorf("store: containers on plan %d: %w", planID, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}
