package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// FailcntObservation is one container's failcnt of one resource as the
// kernel reports it now.
type FailcntObservation struct {
	CTID     int
	Resource string
	Raw      uint64
	// Instance is the reading's lxcdriver.Counter.Instance (0: unknown).
	Instance int64
}

// FailcntTotal is a resource's cumulative failcnt before and after an
// observation.
type FailcntTotal struct {
	CTID     int
	Resource string
	Before   uint64
	Total    uint64
}

// ObserveFailcnt folds the kernel's failcnts into the cumulative totals, in
// one statement for any number of containers. A reading of a later
// instance of the container than the stored one (it was restarted: its
// kernel counters began again from zero), or a raw value that went down,
// adds the stored raw value to the base. A reading of an earlier instance
// (taken before a restart, folded after it) changes nothing.
func (q *Queries) ObserveFailcnt(ctx context.Context, obs []FailcntObservation) ([]FailcntTotal, error) {
	ids := make([]int32, len(obs))
	res := make([]string, len(obs))
	raw := make([]int64, len(obs))
	inst := make([]int64, len(obs))
	for i, o := range obs {
		ids[i], res[i], raw[i], inst[i] = int32(o.CTID), o.Resource, clampInt64(o.Raw), o.Instance
	}
	return q.observeFailcnt(ctx, ids, res, raw, inst, true)
}

func (q *Queries) observeFailcnt(ctx context.Context, ids []int32, res []string, raw, inst []int64, retry bool) ([]FailcntTotal, error) {
	// Planned for its actual arrays every time (an unnamed statement): a
	// cached generic plan guesses the arrays are short, and took 1.3 s
	// instead of 30 ms for a sample of 500 containers (5000 rows), holding
	// the rows' locks meanwhile, so live reads waited on it.
	rows, err := q.db.Query(ctx, `
		WITH t AS (SELECT * FROM unnest($1::int[], $2::text[], $3::bigint[], $4::bigint[]) AS t(c, r, v, i)),
		old AS (SELECT f.ct_id, f.resource, f.base + f.raw AS total FROM bc_failcnt f JOIN t ON f.ct_id = t.c AND f.resource = t.r),
		up AS (
			INSERT INTO bc_failcnt AS f (ct_id, resource, raw, base, instance)
			SELECT c, r, v, 0, i FROM t
			WHERE EXISTS (SELECT 1 FROM containers WHERE ct_id = c)
			ON CONFLICT (ct_id, resource) DO UPDATE SET
				base = CASE
					WHEN EXCLUDED.instance <> 0 AND EXCLUDED.instance < f.instance THEN f.base
					WHEN EXCLUDED.instance > f.instance AND f.instance <> 0 THEN f.base + f.raw
					WHEN EXCLUDED.raw < f.raw THEN f.base + f.raw
					ELSE f.base END,
				raw = CASE WHEN EXCLUDED.instance <> 0 AND EXCLUDED.instance < f.instance THEN f.raw ELSE EXCLUDED.raw END,
				instance = GREATEST(f.instance, EXCLUDED.instance),
				updated_at = now()
			RETURNING ct_id, resource, base + raw AS total)
		SELECT up.ct_id, up.resource, COALESCE(old.total, 0), up.total FROM up LEFT JOIN old USING (ct_id, resource)`,
		pgx.QueryExecModeExec, ids, res, raw, inst)
	var pgErr *pgconn.PgError
	if retry && errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return q.observeFailcnt(ctx, ids, res, raw, inst, false)
	}
	if err != nil {
		return nil, fmt.Errorf("store: observe failcnt: %w", err)
	}
	defer rows.Close()
	out := make([]FailcntTotal, 0, len(ids))
	for rows.Next() {
		var t FailcntTotal
		var before, total int64
		if err := rows.Scan(&t.CTID, &t.Resource, &before, &total); err != nil {
			return nil, fmt.Errorf("store: observe failcnt: %w", err)
		}
		t.Before, t.Total = uint64(before), uint64(total)
		out = append(out, t)
	}
	err = rows.Err()
	if retry && errors.As(err, &pgErr) && pgErr.Code == "23503" {
		// A container was destroyed while this ran; the retry leaves it out.
		return q.observeFailcnt(ctx, ids, res, raw, inst, false)
	}
	if err != nil {
		return nil, fmt.Errorf("store: observe failcnt: %w", err)
	}
	return out, nil
}

// FailcntTotals returns every container's cumulative failcnts.
func (q *Queries) FailcntTotals(ctx context.Context) (map[int]map[string]uint64, error) {
	return q.failcntTotals(ctx, nil)
}

// FailcntTotalsOf returns the cumulative failcnts of some containers, as
// last folded, without observing anything.
func (q *Queries) FailcntTotalsOf(ctx context.Context, ctids []int) (map[int]map[string]uint64, error) {
	if ctids == nil {
		ctids = []int{}
	}
	return q.failcntTotals(ctx, ctids)
}

func (q *Queries) failcntTotals(ctx context.Context, ctids []int) (map[int]map[string]uint64, error) {
	rows, err := q.db.Query(ctx, `SELECT ct_id, resource, base + raw FROM bc_failcnt
		WHERE $1::int[] IS NULL OR ct_id = ANY($1::int[])`, ctids)
	if err != nil {
		return nil, fmt.Errorf("store: failcnt totals: %w", err)
	}
	defer rows.Close()
	out := map[int]map[string]uint64{}
	for rows.Next() {
		var ctid int
		var res string
		var n int64
		if err := rows.Scan(&ctid, &res, &n); err != nil {
			return nil, fmt.Errorf("store: failcnt totals: %w", err)
		}
		if out[ctid] == nil {
			out[ctid] = map[string]uint64{}
		}
		out[ctid][res] = uint64(n)
	}
	return out, rows.Err()
}

// Sample is one stored beancounter row.
type Sample struct {
	CTID     int
	At       time.Time
	Resource string
	Held     uint64
	MaxHeld  uint64
	Barrier  uint64
	Limit    uint64
	FailCnt  uint64
}

func clampInt64(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}

// InsertSamples stores raw samples with COPY.
func (q *Queries) InsertSamples(ctx context.Context, samples []Sample) error {
	conn, ok := q.db.(interface {
		CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error)
	})
	if !ok {
		return errors.New("store: insert samples: connection cannot COPY")
	}
	_, err := conn.CopyFrom(ctx, pgx.Identifier{"bc_samples"},
		[]string{"ct_id", "at", "resolution", "resource", "held", "maxheld", "barrier", "lim", "failcnt"},
		pgx.CopyFromSlice(len(samples), func(i int) ([]any, error) {
			s := samples[i]
			return []any{s.CTID, s.At, 0, s.Resource, clampInt64(s.Held), clampInt64(s.MaxHeld),
				clampInt64(s.Barrier), clampInt64(s.Limit), clampInt64(s.FailCnt)}, nil
		}))
	if err != nil {
		return fmt.Errorf("store: insert %d samples: %w", len(samples), err)
	}
	return nil
}

// QuerySamples answers a container's series between from and to in buckets
// of step: average held, peak maxheld, latest barrier, limit and failcnt.
func (q *Queries) QuerySamples(ctx context.Context, ctid int, from, to time.Time, step time.Duration) ([]Sample, error) {
	rows, err := q.db.Query(ctx, `
		SELECT date_bin($4::interval, at, 'epoch'::timestamptz) AS bucket, resource,
			avg(held)::bigint, max(maxheld), max(barrier), max(lim), max(failcnt)
		FROM bc_samples WHERE ct_id = $1 AND at >= $2 AND at < $3
		GROUP BY bucket, resource ORDER BY bucket, resource`,
		ctid, from, to, step)
	if err != nil {
		return nil, fmt.Errorf("store: query samples of %d: %w", ctid, err)
	}
	defer rows.Close()
	var out []Sample
	for rows.Next() {
		s := Sample{CTID: ctid}
		var held, maxheld, barrier, lim, fail int64
		if err := rows.Scan(&s.At, &s.Resource, &held, &maxheld, &barrier, &lim, &fail); err != nil {
			return nil, fmt.Errorf("store: query samples of %d: %w", ctid, err)
		}
		s.Held, s.MaxHeld, s.Barrier, s.Limit, s.FailCnt = uint64(held), uint64(maxheld), uint64(barrier), uint64(lim), uint64(fail)
		out = append(out, s)
	}
	return out, rows.Err()
}

// Downsample replaces raw samples older than before with buckets of width
// step, and deletes every sample older than expire.
func (q *Queries) Downsample(ctx context.Context, before time.Time, step time.Duration, expire time.Time) (int64, error) {
	if _, err := q.db.Exec(ctx, `DELETE FROM bc_samples WHERE at < $1`, expire); err != nil {
		return 0, fmt.Errorf("store: expire samples: %w", err)
	}
	return q.Rollup(ctx, 0, before, step)
}

// Rollup replaces the samples of resolution from (seconds; 0 is raw)
// older than before with buckets of width step: average held, peak
// maxheld, latest barrier, limit and failcnt. before is cut to a whole
// step, so no bucket is rolled up in two parts.
func (q *Queries) Rollup(ctx context.Context, from int, before time.Time, step time.Duration) (int64, error) {
	before = before.Truncate(step)
	tag, err := q.db.Exec(ctx, `
		WITH old AS (
			DELETE FROM bc_samples WHERE resolution = $4 AND at < $1
			RETURNING ct_id, at, resource, held, maxheld, barrier, lim, failcnt)
		INSERT INTO bc_samples (ct_id, at, resolution, resource, held, maxheld, barrier, lim, failcnt)
		SELECT ct_id, date_bin($2::interval, at, 'epoch'::timestamptz), $3, resource,
			avg(held)::bigint, max(maxheld), max(barrier), max(lim), max(failcnt)
		FROM old GROUP BY 1, 2, 4`, before, step, int(step/time.Second), from)
	if err != nil {
		return 0, fmt.Errorf("store: downsample to %s: %w", step, err)
	}
	return tag.RowsAffected(), nil
}

// CreateSnapshot saves every container's cumulative failcnts (ubc_faildiff's
// snapshot file) and returns its id.
func (q *Queries) CreateSnapshot(ctx context.Context, label, by string) (int64, time.Time, error) {
	var id int64
	var at time.Time
	err := q.db.QueryRow(ctx, `INSERT INTO bc_snapshots (label, created_by) VALUES ($1, $2) RETURNING id, created_at`, label, by).Scan(&id, &at)
	if err != nil {
		return 0, at, fmt.Errorf("store: create snapshot: %w", err)
	}
	_, err = q.db.Exec(ctx, `INSERT INTO bc_snapshot_rows (snapshot_id, ct_id, resource, failcnt)
		SELECT $1, ct_id, resource, base + raw FROM bc_failcnt`, id)
	if err != nil {
		return 0, at, fmt.Errorf("store: snapshot rows: %w", err)
	}
	return id, at, nil
}

// SnapshotFailcnts loads a snapshot.
func (q *Queries) SnapshotFailcnts(ctx context.Context, id int64) (map[int]map[string]uint64, error) {
	var exists bool
	if err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bc_snapshots WHERE id = $1)`, id).Scan(&exists); err != nil {
		return nil, fmt.Errorf("store: snapshot %d: %w", id, err)
	}
	if !exists {
		return nil, ErrNotFound
	}
	rows, err := q.db.Query(ctx, `SELECT ct_id, resource, failcnt FROM bc_snapshot_rows WHERE snapshot_id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("store: snapshot %d: %w", id, err)
	}
	defer rows.Close()
	out := map[int]map[string]uint64{}
	for rows.Next() {
		var ctid int
		var res string
		var n int64
		if err := rows.Scan(&ctid, &res, &n); err != nil {
			return nil, err
		}
		if out[ctid] == nil {
			out[ctid] = map[string]uint64{}
		}
		out[ctid][res] = uint64(n)
	}
	return out, rows.Err()
}

// Alert is a failcnt that grew: one open alert per container and
// resource, which later growths update (Count, LastSeen, New) until it is
// acknowledged.
type Alert struct {
	ID       int64  `json:"id"`
	CTID     int    `json:"ctid"`
	Resource string `json:"resource"`
	// Old is the failcnt before the first growth, New the latest.
	Old uint64 `json:"old_failcnt"`
	New uint64 `json:"new_failcnt"`
	// At is the first growth (FirstSeen; kept for older clients).
	At        time.Time `json:"at"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Count is how many growths the alert took in, those below the
	// plan's threshold before it was raised included.
	Count int `json:"count"`
	// RaisedAt is when it crossed its threshold and became an alert
	// people see and are told of; nil for a row still below it (never
	// listed).
	RaisedAt       *time.Time `json:"raised_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	AcknowledgedBy *string    `json:"acknowledged_by"`
}

// FailcntGrowth is a failcnt that grew from Old to New, with the
// threshold of the container's plan for the resource: Failures (at least
// 1) within Window raise the alert (a window of 0 with Failures 1: any
// growth).
type FailcntGrowth struct {
	CTID     int
	Resource string
	Old, New uint64
	Failures uint64
	Window   time.Duration
}

const alertCols = `a.id, a.ct_id, a.resource, a.old_failcnt, a.new_failcnt, a.at, a.last_seen, a.count, a.raised_at, a.acknowledged_at, a.acknowledged_by`

func scanAlert(row pgx.Row, extra ...any) (Alert, error) {
	var a Alert
	var o, n int64
	err := row.Scan(append([]any{&a.ID, &a.CTID, &a.Resource, &o, &n, &a.At, &a.LastSeen, &a.Count, &a.RaisedAt,
		&a.AcknowledgedAt, &a.AcknowledgedBy}, extra...)...)
	a.Old, a.New, a.FirstSeen = uint64(o), uint64(n), a.At
	return a, err
}

// RecordFailcntGrowth folds a growth into the open alert of its
// container and resource, or opens one: in one statement (an upsert on
// the partial unique index of open alerts), so two folds at once still
// make one alert. Below the threshold the row counts growths but is not
// raised; a window that has passed without reaching it starts again.
// opened is true only for the growth that raised the alert: the one to
// notify of; repeats only update it.
func (q *Queries) RecordFailcntGrowth(ctx context.Context, g FailcntGrowth) (a Alert, opened bool, err error) {
	failures := max(g.Failures, 1)
	a, err = scanAlert(q.db.QueryRow(ctx, `INSERT INTO alerts AS a (ct_id, resource, old_failcnt, new_failcnt, window_failures, raised_at, raised_count)
		VALUES ($1, $2, $3::bigint, $4::bigint, $4::bigint - $3::bigint, CASE WHEN $4::bigint - $3::bigint >= $5::bigint THEN now() END,
			CASE WHEN $4::bigint - $3::bigint >= $5::bigint THEN 1 END)
		ON CONFLICT (ct_id, resource) WHERE acknowledged_at IS NULL DO UPDATE SET
			count = a.count + 1,
			last_seen = now(),
			new_failcnt = GREATEST(a.new_failcnt, EXCLUDED.new_failcnt),
			window_start = CASE WHEN a.raised_at IS NULL AND now() - a.window_start > $6::float8 * interval '1 second' THEN now() ELSE a.window_start END,
			window_failures = CASE WHEN a.raised_at IS NULL AND now() - a.window_start > $6::float8 * interval '1 second' THEN 0 ELSE a.window_failures END + EXCLUDED.window_failures,
			raised_at = COALESCE(a.raised_at, CASE WHEN CASE WHEN now() - a.window_start > $6::float8 * interval '1 second' THEN 0 ELSE a.window_failures END + EXCLUDED.window_failures >= $5 THEN now() END),
			raised_count = COALESCE(a.raised_count, CASE WHEN CASE WHEN now() - a.window_start > $6::float8 * interval '1 second' THEN 0 ELSE a.window_failures END + EXCLUDED.window_failures >= $5 THEN a.count + 1 END)
		RETURNING `+alertCols+`, COALESCE(a.count = a.raised_count, false)`,
		g.CTID, g.Resource, int64(g.Old), int64(g.New), int64(failures), g.Window.Seconds()), &opened)
	if err != nil {
		return a, false, fmt.Errorf("store: record failcnt growth of %d %s: %w", g.CTID, g.Resource, err)
	}
	return a, opened, nil
}

// InsertAlert records a failcnt that grew, as an alert raised at once
// (RecordFailcntGrowth with no threshold).
func (q *Queries) InsertAlert(ctx context.Context, ctid int, resource string, old, cur uint64) (Alert, error) {
	a, _, err := q.RecordFailcntGrowth(ctx, FailcntGrowth{CTID: ctid, Resource: resource, Old: old, New: cur, Failures: 1})
	return a, err
}

// ListAlerts lists raised alerts, last seen first; open limits them to
// unacknowledged; ownerID limits them to one owner's containers.
func (q *Queries) ListAlerts(ctx context.Context, open bool, ownerID *int64, limit int) ([]Alert, error) {
	rows, err := q.db.Query(ctx, `SELECT `+alertCols+`
		FROM alerts a LEFT JOIN containers c ON c.ct_id = a.ct_id
		WHERE a.raised_at IS NOT NULL AND (NOT $1 OR a.acknowledged_at IS NULL) AND ($2::bigint IS NULL OR c.owner_id = $2)
		ORDER BY a.acknowledged_at IS NOT NULL, a.last_seen DESC, a.id DESC LIMIT $3`, open, ownerID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list alerts: %w", err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list alerts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// OpenAlerts counts the raised alerts waiting for acknowledgement.
func (q *Queries) OpenAlerts(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRow(ctx, `SELECT count(*) FROM alerts WHERE acknowledged_at IS NULL AND raised_at IS NOT NULL`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count open alerts: %w", err)
	}
	return n, nil
}

// AlertSelection picks open alerts to acknowledge at once: those of IDs,
// or those of container CTID, or with All every one; ownerID narrows any
// of them to one owner's containers.
type AlertSelection struct {
	IDs     []int64
	CTID    *int
	All     bool
	OwnerID *int64
}

// AckAlerts acknowledges the open, raised alerts sel picks, in one
// statement, and returns their ids (ascending). An id that is not open,
// not raised, unknown or not the owner's is left out, not an error.
func (q *Queries) AckAlerts(ctx context.Context, sel AlertSelection, by string) ([]int64, error) {
	if len(sel.IDs) == 0 && sel.CTID == nil && !sel.All {
		return []int64{}, nil
	}
	var ids []int64
	if len(sel.IDs) > 0 {
		ids = sel.IDs
	}
	rows, err := q.db.Query(ctx, `UPDATE alerts a SET acknowledged_at = now(), acknowledged_by = $4
		WHERE a.acknowledged_at IS NULL AND a.raised_at IS NOT NULL
			AND ($1::bigint[] IS NULL OR a.id = ANY($1))
			AND ($2::integer IS NULL OR a.ct_id = $2)
			AND ($3::bigint IS NULL OR EXISTS (SELECT 1 FROM containers c WHERE c.ct_id = a.ct_id AND c.owner_id = $3))
		RETURNING a.id`, ids, sel.CTID, sel.OwnerID, by)
	if err != nil {
		return nil, fmt.Errorf("store: acknowledge alerts: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("store: acknowledge alerts: %w", err)
	}
	slices.Sort(out)
	if out == nil {
		out = []int64{}
	}
	return out, nil
}

// AlertThresholds reads the alert thresholds of the plans of ctids (as
// stored: ubc.AlertThresholds as JSON); a container on no plan has none.
func (q *Queries) AlertThresholds(ctx context.Context, ctids []int) (map[int]json.RawMessage, error) {
	rows, err := q.db.Query(ctx, `SELECT c.ct_id, p.alert_thresholds FROM containers c JOIN plans p ON p.id = c.plan_id
		WHERE c.ct_id = ANY($1)`, ctids)
	if err != nil {
		return nil, fmt.Errorf("store: alert thresholds: %w", err)
	}
	defer rows.Close()
	out := map[int]json.RawMessage{}
	for rows.Next() {
		var id int
		var raw json.RawMessage
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, fmt.Errorf("store: alert thresholds: %w", err)
		}
		out[id] = raw
	}
	return out, rows.Err()
}

// AckAlert acknowledges an alert.
func (q *Queries) AckAlert(ctx context.Context, id int64, by string) error {
	tag, err := q.db.Exec(ctx, `UPDATE alerts SET acknowledged_at = now(), acknowledged_by = $2
		WHERE id = $1 AND acknowledged_at IS NULL AND raised_at IS NOT NULL`, id, by)
	if err != nil {
		return fmt.Errorf("store: ack alert %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		var exists bool
		_ = q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM alerts WHERE id = $1 AND raised_at IS NOT NULL)`, id).Scan(&exists)
		if !exists {
			return ErrNotFound
		}
	}
	return nil
}
