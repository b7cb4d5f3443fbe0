package db

import (
	"context"
	"fmt"
	"time"
)

// ClaimOperationEvents marks the webhook events of a finished operation
// as recorded; false when they were already (the caller then records
// nothing). Call it in the transaction that records the deliveries.
func (q *Queries) ClaimOperationEvents(ctx context.Context, id string) (bool, error) {
	tag, err := q.db.Exec(ctx, `UPDATE operations SET events_sent_at = now()
		WHERE id = $1 AND events_sent_at IS NULL AND status IN ('succeeded', 'failed')`, id)
	if err != nil {
		return false, fmt.Errorf("store: claim events of operation %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ClaimAlertEvents is ClaimOperationEvents for a failcnt alert: once, when
// it is raised (its repeats send nothing).
func (q *Queries) ClaimAlertEvents(ctx context.Context, id int64) (bool, error) {
	tag, err := q.db.Exec(ctx, `UPDATE alerts SET events_sent_at = now() WHERE id = $1 AND events_sent_at IS NULL`, id)
	if err != nil {
		return false, fmt.Errorf("store: claim events of alert %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// UnsentOperation is a finished operation whose webhook events were not
// recorded, with the container's state as last recorded.
type UnsentOperation struct {
	Operation
	State string
}

// UnsentEvents lists the finished operations and the alerts since since
// whose webhook events were never recorded (a crash came between), oldest
// first.
func (q *Queries) UnsentEvents(ctx context.Context, since time.Time) ([]UnsentOperation, []Alert, error) {
	rows, err := q.db.Query(ctx, `SELECT o.id, o.ct_id, o.action, o.status, o.error, o.finished_at, COALESCE(c.last_state, '')
		FROM operations o LEFT JOIN containers c ON c.ct_id = o.ct_id
		WHERE o.events_sent_at IS NULL AND o.status IN ('succeeded', 'failed') AND o.finished_at >= $1
		ORDER BY o.finished_at`, since)
	if err != nil {
		return nil, nil, fmt.Errorf("store: unsent operation events: %w", err)
	}
	var ops []UnsentOperation
	for rows.Next() {
		var u UnsentOperation
		if err := rows.Scan(&u.ID, &u.CTID, &u.Action, &u.Status, &u.Error, &u.FinishedAt, &u.State); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("store: unsent operation events: %w", err)
		}
		ops = append(ops, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	arows, err := q.db.Query(ctx, `SELECT `+alertCols+` FROM alerts a
		WHERE a.events_sent_at IS NULL AND a.raised_at IS NOT NULL AND a.raised_at >= $1 ORDER BY a.raised_at`, since)
	if err != nil {
		return nil, nil, fmt.Errorf("store: unsent alert events: %w", err)
	}
	defer arows.Close()
	var alerts []Alert
	for arows.Next() {
		a, err := scanAlert(arows)
		if err != nil {
			return nil, nil, fmt.Errorf("store: unsent alert events: %w", err)
		}
		alerts = append(alerts, a)
	}
	return ops, alerts, arows.Err()
}
