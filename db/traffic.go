package db

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// NetShare is one share of a container as the host side needs it: with
// its pool's mode, network and gateway, and its plan's rates.
type NetShare struct {
	CTID        int
	Share       netip.Prefix
	Mode        string
	Bridge      string
	PoolCIDR    netip.Prefix
	Gateway     *netip.Addr
	RateInMbit  *int
	RateOutMbit *int
}

// NetShares are the shares on container ctid (every container's, 0), by
// CTID and address.
func (q *Queries) NetShares(ctx context.Context, ctid int) ([]NetShare, error) {
	rows, err := q.db.Query(ctx, `SELECT a.ct_id, a.share, p.mode, p.bridge, p.cidr, p.gateway, pl.rate_in_mbit, pl.rate_out_mbit
		FROM ip_addresses a JOIN ip_pools p ON p.id = a.pool_id JOIN containers c ON c.ct_id = a.ct_id
		LEFT JOIN plans pl ON pl.id = c.plan_id
		WHERE a.ct_id IS NOT NULL AND ($1 = 0 OR a.ct_id = $1)
		ORDER BY a.ct_id, family(a.share), a.share`, ctid)
	if err != nil {
		return nil, fmt.Errorf("store: network shares: %w", err)
	}
	defer rows.Close()
	var out []NetShare
	for rows.Next() {
		var n NetShare
		if err := rows.Scan(&n.CTID, &n.Share, &n.Mode, &n.Bridge, &n.PoolCIDR, &n.Gateway, &n.RateInMbit, &n.RateOutMbit); err != nil {
			return nil, fmt.Errorf("store: network shares: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// TrafficReading is one share's counters as last folded in.
type TrafficReading struct {
	CTID                 int
	Share                netip.Prefix
	BootID               string
	InBytes, InPackets   uint64
	OutBytes, OutPackets uint64
}

// TrafficKey names a share's reading.
type TrafficKey struct {
	CTID  int
	Share netip.Prefix
}

// LockTraffic serialises folds (until the transaction ends), so that two
// never count one reading twice.
func (q *Queries) LockTraffic(ctx context.Context) error {
	if _, err := q.db.Exec(ctx, `SELECT pg_advisory_xact_lock(7236110)`); err != nil {
		return fmt.Errorf("store: lock traffic: %w", err)
	}
	return nil
}

// TrafficReadings are the last folded readings.
func (q *Queries) TrafficReadings(ctx context.Context) (map[TrafficKey]TrafficReading, error) {
	rows, err := q.db.Query(ctx, `SELECT ct_id, share, boot_id, in_bytes, in_packets, out_bytes, out_packets FROM traffic_readings`)
	if err != nil {
		return nil, fmt.Errorf("store: traffic readings: %w", err)
	}
	defer rows.Close()
	out := map[TrafficKey]TrafficReading{}
	for rows.Next() {
		var r TrafficReading
		var ib, ip, ob, op int64
		if err := rows.Scan(&r.CTID, &r.Share, &r.BootID, &ib, &ip, &ob, &op); err != nil {
			return nil, fmt.Errorf("store: traffic readings: %w", err)
		}
		r.InBytes, r.InPackets, r.OutBytes, r.OutPackets = uint64(ib), uint64(ip), uint64(ob), uint64(op)
		out[TrafficKey{r.CTID, r.Share}] = r
	}
	return out, rows.Err()
}

// TrafficDelta is what one container's traffic grew by.
type TrafficDelta struct {
	CTID                 int
	InBytes, InPackets   uint64
	OutBytes, OutPackets uint64
}

// FoldTraffic adds deltas to their containers' hour and stores readings
// as the last folded, in two statements whatever their number. Containers
// gone from the database are skipped.
func (q *Queries) FoldTraffic(ctx context.Context, at time.Time, readings []TrafficReading, deltas []TrafficDelta) error {
	n := len(readings)
	ids, shares, boots := make([]int32, n), make([]netip.Prefix, n), make([]string, n)
	ib, ip, ob, op := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, r := range readings {
		ids[i], shares[i], boots[i] = int32(r.CTID), r.Share, r.BootID
		ib[i], ip[i], ob[i], op[i] = int64(r.InBytes), int64(r.InPackets), int64(r.OutBytes), int64(r.OutPackets)
	}
	if _, err := q.db.Exec(ctx, `INSERT INTO traffic_readings AS t (ct_id, share, boot_id, in_bytes, in_packets, out_bytes, out_packets, read_at)
		SELECT u.*, $8::timestamptz FROM unnest($1::int[], $2::cidr[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
			AS u(ct_id, share, boot_id, ib, ip, ob, op)
		WHERE EXISTS (SELECT 1 FROM containers c WHERE c.ct_id = u.ct_id)
		ON CONFLICT (ct_id, share) DO UPDATE SET boot_id = excluded.boot_id, in_bytes = excluded.in_bytes,
			in_packets = excluded.in_packets, out_bytes = excluded.out_bytes, out_packets = excluded.out_packets,
			read_at = excluded.read_at`,
		ids, shares, boots, ib, ip, ob, op, at); err != nil {
		return fmt.Errorf("store: traffic readings: %w", err)
	}
	m := len(deltas)
	dids := make([]int32, m)
	dib, dip, dob, dop := make([]int64, m), make([]int64, m), make([]int64, m), make([]int64, m)
	for i, d := range deltas {
		dids[i] = int32(d.CTID)
		dib[i], dip[i], dob[i], dop[i] = int64(d.InBytes), int64(d.InPackets), int64(d.OutBytes), int64(d.OutPackets)
	}
	// The hour's row and the month's total (what the container list
	// sorts by) in one statement: both or neither.
	if _, err := q.db.Exec(ctx, `WITH u AS (
			SELECT u.* FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS u(ct_id, ib, ip, ob, op)
			WHERE EXISTS (SELECT 1 FROM containers c WHERE c.ct_id = u.ct_id)),
		hourly AS (
			INSERT INTO traffic_hourly AS t (ct_id, hour, in_bytes, in_packets, out_bytes, out_packets)
			SELECT u.ct_id, date_trunc('hour', $6::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', u.ib, u.ip, u.ob, u.op FROM u
			ON CONFLICT (ct_id, hour) DO UPDATE SET in_bytes = t.in_bytes + excluded.in_bytes,
				in_packets = t.in_packets + excluded.in_packets, out_bytes = t.out_bytes + excluded.out_bytes,
				out_packets = t.out_packets + excluded.out_packets)
		INSERT INTO traffic_month AS m (ct_id, month, bytes)
		SELECT u.ct_id, date_trunc('month', $6::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', u.ib + u.ob FROM u
		ON CONFLICT (ct_id) DO UPDATE SET bytes = CASE WHEN m.month = excluded.month THEN m.bytes + excluded.bytes ELSE excluded.bytes END,
			month = excluded.month`,
		dids, dib, dip, dob, dop, at); err != nil {
		return fmt.Errorf("store: traffic per hour: %w", err)
	}
	return nil
}

// DropStaleReadings forgets the readings of shares that are neither on
// their container in the database nor counted now (present), so that a
// share given back later counts from zero, as its new counter does.
func (q *Queries) DropStaleReadings(ctx context.Context, present []TrafficKey) error {
	ids, shares := make([]int32, len(present)), make([]netip.Prefix, len(present))
	for i, k := range present {
		ids[i], shares[i] = int32(k.CTID), k.Share
	}
	if _, err := q.db.Exec(ctx, `DELETE FROM traffic_readings t
		WHERE NOT EXISTS (SELECT 1 FROM ip_addresses a WHERE a.ct_id = t.ct_id AND a.share = t.share)
		AND NOT EXISTS (SELECT 1 FROM unnest($1::int[], $2::cidr[]) AS u(ct_id, share) WHERE u.ct_id = t.ct_id AND u.share = t.share)`,
		ids, shares); err != nil {
		return fmt.Errorf("store: stale traffic readings: %w", err)
	}
	return nil
}

// TrafficHour is one container's traffic in one hour.
type TrafficHour struct {
	CTID                 int
	Hour                 time.Time
	InBytes, InPackets   uint64
	OutBytes, OutPackets uint64
}

// TrafficHours are the hours from the one from is in up to to, of
// container ctid (all containers, 0), by container and hour.
func (q *Queries) TrafficHours(ctx context.Context, ctid int, from, to time.Time) ([]TrafficHour, error) {
	rows, err := q.db.Query(ctx, `SELECT ct_id, hour, in_bytes, in_packets, out_bytes, out_packets FROM traffic_hourly
		WHERE ($1 = 0 OR ct_id = $1) AND hour > $2::timestamptz - interval '1 hour' AND hour < $3
		ORDER BY ct_id, hour`, ctid, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: traffic: %w", err)
	}
	defer rows.Close()
	var out []TrafficHour
	for rows.Next() {
		var h TrafficHour
		var ib, ip, ob, op int64
		if err := rows.Scan(&h.CTID, &h.Hour, &ib, &ip, &ob, &op); err != nil {
			return nil, fmt.Errorf("store: traffic: %w", err)
		}
		h.InBytes, h.InPackets, h.OutBytes, h.OutPackets = uint64(ib), uint64(ip), uint64(ob), uint64(op)
		out = append(out, h)
	}
	return out, rows.Err()
}
