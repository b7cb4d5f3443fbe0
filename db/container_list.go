package db

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ListFilter is one page of the container list: the filters, the sort
// and the window, all applied in PostgreSQL.
type ListFilter struct {
	OwnerID   *int64 // the caller's scope (a customer): nil is every owner
	Owner     string // a username (staff's filter)
	Plan      string // a plan name; "-" is containers on no plan
	Status    string // the list's status: a run state or a phase
	Suspended *bool
	Failing   bool     // only containers with open alerts
	Words     []string // each must match a CTID, name, hostname, address, owner, plan or description
	Sort      string   // a ListSorts key
	Desc      bool
	Limit     int
	Offset    int
	Month     time.Time // the start of the month whose traffic the rows carry
}

// ListSorts are the columns the list sorts by, and their SQL.
var ListSorts = map[string]string{
	"ctid":     "c.ct_id",
	"name":     "c.name",
	"hostname": "c.hostname",
	"status":   listStatus,
	"owner":    "u.username",
	"plan":     "p.name",
	"created":  "c.created_at",
	"cpu":      "s.cpu_percent",
	"memory":   "s.mem_bytes",
	"disk":     "s.disk_bytes",
	"nproc":    "s.nproc",
	"traffic":  "coalesce(tm.bytes, 0)",
}

// listStatus is the status the list shows and filters on: the phase of a
// container that is being made or has gone from liblxc, else its last
// known run state.
const listStatus = `(CASE WHEN c.phase IN ('creating', 'missing') THEN c.phase ELSE c.last_state END)`

// ContainerStats are a container's latest resource figures (the
// sampler's): CPU in percent of one CPU over the last sampling interval.
type ContainerStats struct {
	At             time.Time
	CPUPercent     float64
	NProc          int64
	MemBytes       int64
	MemLimitBytes  *int64
	DiskBytes      *int64
	DiskLimitBytes *int64
}

// ListedContainer is a row of the list: the container, its latest
// figures (nil before the first sample), this month's traffic and the
// resources with open alerts.
type ListedContainer struct {
	Container
	Stats        *ContainerStats
	TrafficBytes int64
	Failing      []string
}

// ListContainersPage answers one page of the list and how many rows the
// filters match in all.
func (q *Queries) ListContainersPage(ctx context.Context, f ListFilter) ([]ListedContainer, int, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	month := arg(f.Month)
	if f.OwnerID != nil {
		where = append(where, "c.owner_id = "+arg(*f.OwnerID))
	}
	if f.Owner != "" {
		where = append(where, "u.username = "+arg(f.Owner))
	}
	switch f.Plan {
	case "":
	case "-":
		where = append(where, "c.plan_id IS NULL")
	default:
		where = append(where, "p.name = "+arg(f.Plan))
	}
	if f.Status != "" {
		where = append(where, listStatus+" = "+arg(f.Status))
	}
	if f.Suspended != nil {
		if *f.Suspended {
			where = append(where, "c.suspended_at IS NOT NULL")
		} else {
			where = append(where, "c.suspended_at IS NULL")
		}
	}
	if f.Failing {
		where = append(where, "EXISTS (SELECT 1 FROM alerts al WHERE al.ct_id = c.ct_id AND al.acknowledged_at IS NULL AND al.raised_at IS NOT NULL)")
	}
	for _, w := range f.Words {
		exact := arg(w)
		like := arg("%" + likeEscape(w) + "%")
		prefix := arg(likeEscape(w) + "%")
		where = append(where, `(c.ct_id::text = `+exact+` OR c.name ILIKE `+like+` OR c.hostname ILIKE `+like+
			` OR u.username ILIKE `+like+` OR p.name ILIKE `+like+` OR c.description ILIKE `+like+
			` OR c.ct_id IN (SELECT a.ct_id FROM ip_addresses a WHERE host(a.share) LIKE `+prefix+` AND a.ct_id IS NOT NULL))`)
	}
	sortExpr, ok := ListSorts[f.Sort]
	if !ok {
		sortExpr = "c.ct_id"
	}
	dir := "ASC"
	if f.Desc {
		dir = "DESC"
	}
	from := containerFrom + ` LEFT JOIN container_stats s ON s.ct_id = c.ct_id
		LEFT JOIN traffic_month tm ON tm.ct_id = c.ct_id AND tm.month = ` + month
	if len(where) > 0 {
		from += " WHERE " + strings.Join(where, " AND ")
	}
	total := 0
	if err := q.db.QueryRow(ctx, `SELECT count(*)`+from, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count containers: %w", err)
	}
	order := " ORDER BY " + sortExpr + " " + dir + " NULLS LAST, c.ct_id " + dir
	// The window is chosen on the sort key alone; the row's columns (its
	// addresses, open alerts) are read for the page's rows only.
	sql := `SELECT ` + containerCols + `,
		s.at, s.cpu_percent, s.nproc, s.mem_bytes, s.mem_limit_bytes, s.disk_bytes, s.disk_limit_bytes,
		coalesce(tm.bytes, 0),
		(SELECT coalesce(array_agg(DISTINCT al.resource ORDER BY al.resource), '{}') FROM alerts al
			WHERE al.ct_id = c.ct_id AND al.acknowledged_at IS NULL AND al.raised_at IS NOT NULL)
		FROM (SELECT c.ct_id` + from + order + ` LIMIT ` + arg(f.Limit) + ` OFFSET ` + arg(f.Offset) + `) pg
		JOIN containers c ON c.ct_id = pg.ct_id
		LEFT JOIN users u ON u.id = c.owner_id LEFT JOIN plans p ON p.id = c.plan_id
		LEFT JOIN container_stats s ON s.ct_id = c.ct_id
		LEFT JOIN traffic_month tm ON tm.ct_id = c.ct_id AND tm.month = ` + month + order
	rows, err := q.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list containers: %w", err)
	}
	defer rows.Close()
	var out []ListedContainer
	for rows.Next() {
		var l ListedContainer
		var at *time.Time
		var cpu *float32
		var nproc, mem *int64
		var st ContainerStats
		dest := append(containerDest(&l.Container), &at, &cpu, &nproc, &mem, &st.MemLimitBytes, &st.DiskBytes,
			&st.DiskLimitBytes, &l.TrafficBytes, &l.Failing)
		if err := rows.Scan(dest...); err != nil {
			return nil, 0, fmt.Errorf("store: list containers: %w", err)
		}
		if at != nil {
			st.At, st.CPUPercent, st.NProc, st.MemBytes = *at, float64(*cpu), *nproc, *mem
			l.Stats = &st
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list containers: %w", err)
	}
	return out, total, nil
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// StatsReading is what the sampler read of one container. A stopped
// container has Running false: its CPU, processes and memory are 0.
type StatsReading struct {
	CTID           int
	At             time.Time
	Running        bool
	CPUms          uint64
	NProc          uint64
	MemBytes       uint64
	MemLimitBytes  *uint64
	DiskBytes      *uint64
	DiskLimitBytes *uint64
}

// UpsertContainerStats records the sampler's readings; CPU percent is
// the growth of the CPU counter since the previous reading of a running
// container (0 after a stop, or when the counter began again).
func (q *Queries) UpsertContainerStats(ctx context.Context, readings []StatsReading) error {
	if len(readings) == 0 {
		return nil
	}
	opt := func(v *uint64) *int64 {
		if v == nil {
			return nil
		}
		n := clampInt64(*v)
		return &n
	}
	n := len(readings)
	ids, cpu, nproc, mem := make([]int32, n), make([]int64, n), make([]int64, n), make([]int64, n)
	at := make([]time.Time, n)
	memLim, disk, diskLim := make([]*int64, n), make([]*int64, n), make([]*int64, n)
	for i, r := range readings {
		ids[i], at[i] = int32(r.CTID), r.At
		if r.Running {
			cpu[i], nproc[i], mem[i] = clampInt64(r.CPUms), clampInt64(r.NProc), clampInt64(r.MemBytes)
		}
		memLim[i], disk[i], diskLim[i] = opt(r.MemLimitBytes), opt(r.DiskBytes), opt(r.DiskLimitBytes)
	}
	_, err := q.db.Exec(ctx, `INSERT INTO container_stats AS s (ct_id, at, cpu_ms, nproc, mem_bytes, mem_limit_bytes, disk_bytes, disk_limit_bytes)
		SELECT r.* FROM unnest($1::int[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[])
			AS r (ct_id, at, cpu_ms, nproc, mem_bytes, mem_limit_bytes, disk_bytes, disk_limit_bytes)
		WHERE EXISTS (SELECT 1 FROM containers c WHERE c.ct_id = r.ct_id)
		ON CONFLICT (ct_id) DO UPDATE SET at = EXCLUDED.at, cpu_ms = EXCLUDED.cpu_ms,
			cpu_percent = CASE WHEN s.nproc > 0 AND EXCLUDED.nproc > 0 AND EXCLUDED.cpu_ms >= s.cpu_ms AND EXCLUDED.at > s.at
				THEN (EXCLUDED.cpu_ms - s.cpu_ms) * 100.0 / (extract(epoch FROM EXCLUDED.at - s.at) * 1000) ELSE 0 END,
			nproc = EXCLUDED.nproc, mem_bytes = EXCLUDED.mem_bytes, mem_limit_bytes = EXCLUDED.mem_limit_bytes,
			disk_bytes = coalesce(EXCLUDED.disk_bytes, s.disk_bytes),
			disk_limit_bytes = coalesce(EXCLUDED.disk_limit_bytes, s.disk_limit_bytes)`,
		ids, at, cpu, nproc, mem, memLim, disk, diskLim)
	if err != nil {
		return fmt.Errorf("store: container stats: %w", err)
	}
	return nil
}

// ContainerCounts counts the containers an owner scope holds by the
// list's status, and how many of them are suspended.
func (q *Queries) ContainerCounts(ctx context.Context, ownerID *int64) (map[string]int, int, error) {
	rows, err := q.db.Query(ctx, `SELECT `+listStatus+`, count(*), count(*) FILTER (WHERE c.suspended_at IS NOT NULL)
		FROM containers c WHERE ($1::bigint IS NULL OR c.owner_id = $1) GROUP BY 1`, ownerID)
	if err != nil {
		return nil, 0, fmt.Errorf("store: count containers: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	suspended := 0
	for rows.Next() {
		var st string
		var n, s int
		if err := rows.Scan(&st, &n, &s); err != nil {
			return nil, 0, fmt.Errorf("store: count containers: %w", err)
		}
		out[st] += n
		suspended += s
	}
	return out, suspended, rows.Err()
}
