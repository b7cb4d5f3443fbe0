package ops

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/hostnet"
)

// Traffic accounting: each share's nftables counters are folded into
// PostgreSQL, per container per hour, as the growth since the reading
// folded last. The reading, the host's boot id with it, is stored in the
// same transaction as the hour it was added to, so a fold that fails
// changes nothing and the next one counts the same bytes; counters that
// went back (a reboot: another boot id; a share that came again) count
// from zero. Folds run under a PostgreSQL lock, reading the counters
// inside it, so that two never add one growth twice. The panel folds
// every minute, and before anything that would take counters away (an
// address removed, a container destroyed).

// bootID is the host's boot id, or "" when the kernel has none.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// FoldTraffic folds plane's counters into store.
func FoldTraffic(ctx context.Context, store *db.Store, plane hostnet.Plane) error {
	boot := bootID()
	return store.InTx(ctx, func(_ pgx.Tx, q *db.Queries) error {
		if err := q.LockTraffic(ctx); err != nil {
			return err
		}
		now := time.Now()
		counters, err := plane.Traffic(ctx)
		if err != nil {
			return err
		}
		last, err := q.TrafficReadings(ctx)
		if err != nil {
			return err
		}
		present := make([]db.TrafficKey, len(counters))
		for i, c := range counters {
			present[i] = db.TrafficKey{CTID: c.CTID, Share: c.Share}
		}
		if err := q.DropStaleReadings(ctx, present); err != nil {
			return err
		}
		readings, deltas := foldReadings(boot, counters, last)
		if len(readings) == 0 {
			return nil
		}
		return q.FoldTraffic(ctx, now, readings, deltas)
	})
}

// foldReadings turns counters into readings to store and each container's
// growth since last.
func foldReadings(boot string, counters []hostnet.Traffic, last map[db.TrafficKey]db.TrafficReading) ([]db.TrafficReading, []db.TrafficDelta) {
	var readings []db.TrafficReading
	at := map[int]int{}
	var deltas []db.TrafficDelta
	for _, c := range counters {
		r := db.TrafficReading{CTID: c.CTID, Share: c.Share, BootID: boot,
			InBytes: c.In.Bytes, InPackets: c.In.Packets, OutBytes: c.Out.Bytes, OutPackets: c.Out.Packets}
		prev, ok := last[db.TrafficKey{CTID: c.CTID, Share: c.Share}]
		if ok && prev == r {
			continue
		}
		readings = append(readings, r)
		if !ok || prev.BootID != boot {
			prev = db.TrafficReading{}
		}
		i, seen := at[c.CTID]
		if !seen {
			i = len(deltas)
			at[c.CTID] = i
			deltas = append(deltas, db.TrafficDelta{CTID: c.CTID})
		}
		d := &deltas[i]
		d.InBytes += growth(prev.InBytes, r.InBytes)
		d.InPackets += growth(prev.InPackets, r.InPackets)
		d.OutBytes += growth(prev.OutBytes, r.OutBytes)
		d.OutPackets += growth(prev.OutPackets, r.OutPackets)
	}
	return readings, deltas
}

// growth is what a counter grew by from prev to now; all of now when it
// went back (it began again).
func growth(prev, now uint64) uint64 {
	if now >= prev {
		return now - prev
	}
	return now
}

func (r *Runner) foldTraffic(ctx context.Context) error {
	if r.Net == nil {
		return nil
	}
	return FoldTraffic(ctx, r.Store, r.Net)
}
