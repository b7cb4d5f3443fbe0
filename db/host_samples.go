package db

import (
	"context"
	"fmt"
	"time"
)

// HostSample is the host at one time (see host_samples).
type HostSample struct {
	At         time.Time `json:"t"`
	CPUPercent float64   `json:"cpu_percent"`
	Load1      float64   `json:"load1"`
	MemUsed    int64     `json:"mem_used"`
	MemTotal   int64     `json:"mem_total"`
	DiskUsed   int64     `json:"disk_used"`
	DiskSize   int64     `json:"disk_size"`
}

// InsertHostSample records the host now, and forgets samples older than
// expire.
func (q *Queries) InsertHostSample(ctx context.Context, s HostSample, expire time.Time) error {
	if _, err := q.db.Exec(ctx, `INSERT INTO host_samples (at, cpu_percent, load1, mem_used, mem_total, disk_used, disk_size)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (at) DO NOTHING`,
		s.At, s.CPUPercent, s.Load1, s.MemUsed, s.MemTotal, s.DiskUsed, s.DiskSize); err != nil {
		return fmt.Errorf("store: host sample: %w", err)
	}
	if _, err := q.db.Exec(ctx, `DELETE FROM host_samples WHERE at < $1`, expire); err != nil {
		return fmt.Errorf("store: expire host samples: %w", err)
	}
	return nil
}

// HostHistory answers the host between from and to in buckets of step:
// average CPU, load and memory, the latest disk.
func (q *Queries) HostHistory(ctx context.Context, from, to time.Time, step time.Duration) ([]HostSample, error) {
	rows, err := q.db.Query(ctx, `
		SELECT date_bin($3::interval, at, 'epoch'::timestamptz) AS b, avg(cpu_percent)::float8, avg(load1)::float8,
			avg(mem_used)::bigint, max(mem_total), max(disk_used), max(disk_size)
		FROM host_samples WHERE at >= $1 AND at < $2 GROUP BY b ORDER BY b`, from, to, step)
	if err != nil {
		return nil, fmt.Errorf("store: host history: %w", err)
	}
	defer rows.Close()
	var out []HostSample
	for rows.Next() {
		var s HostSample
		if err := rows.Scan(&s.At, &s.CPUPercent, &s.Load1, &s.MemUsed, &s.MemTotal, &s.DiskUsed, &s.DiskSize); err != nil {
			return nil, fmt.Errorf("store: host history: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
