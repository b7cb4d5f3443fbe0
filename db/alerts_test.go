package db_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/db/dbtest"
)

// TestFailcntGrowthUpsertsOneOpenAlert: growths of one container's
// resource fold into one open alert (the partial unique index and the
// upsert), only the first opens it, a threshold holds it back while
// counting, and an acknowledged alert lets the next growth open a new one.
func TestFailcntGrowthUpsertsOneOpenAlert(t *testing.T) {
	pool := dbtest.Pool(t)
	s := db.New(pool)
	ctx := context.Background()
	dbtest.Must(t, s.InsertContainer(ctx, db.Container{CTID: 101, Template: "busybox"}))
	grow := func(res string, old, cur, failures uint64, window time.Duration) (db.Alert, bool) {
		t.Helper()
		a, opened, err := s.RecordFailcntGrowth(ctx, db.FailcntGrowth{CTID: 101, Resource: res, Old: old, New: cur, Failures: failures, Window: window})
		if err != nil {
			t.Fatal(err)
		}
		return a, opened
	}
	var first db.Alert
	for i := uint64(0); i < 35; i++ {
		a, opened := grow("cpu", i, i+1, 1, 0)
		if opened != (i == 0) {
			t.Fatalf("growth %d: opened=%v", i+1, opened)
		}
		if i == 0 {
			first = a
		} else if a.ID != first.ID {
			t.Fatalf("growth %d made alert %d, want %d", i+1, a.ID, first.ID)
		}
	}
	open, err := s.ListAlerts(ctx, true, nil, 100)
	if err != nil || len(open) != 1 {
		t.Fatalf("open: %v %v", open, err)
	}
	if a := open[0]; a.Count != 35 || a.Old != 0 || a.New != 35 || a.LastSeen.Before(a.FirstSeen) || !a.FirstSeen.Equal(a.At) {
		t.Fatalf("the open alert: %+v", a)
	}
	// A second insert of an open pair is refused by the index itself.
	if _, err := pool.Exec(ctx, `INSERT INTO alerts (ct_id, resource, old_failcnt, new_failcnt) VALUES (101, 'cpu', 0, 1)`); err == nil {
		t.Fatal("a second open alert for 101 cpu was stored")
	}
	ids, err := s.AckAlerts(ctx, db.AlertSelection{CTID: ptr(101)}, "test")
	if err != nil || len(ids) != 1 || ids[0] != first.ID {
		t.Fatalf("ack: %v %v", ids, err)
	}
	a, opened := grow("cpu", 35, 36, 1, 0)
	if !opened || a.ID == first.ID || a.Count != 1 {
		t.Fatalf("after the ack: %+v opened=%v", a, opened)
	}

	// A threshold of 10 failures in 10 minutes: 3 + 3 count, 5 more raise.
	if _, opened := grow("numproc", 0, 3, 10, 10*time.Minute); opened {
		t.Fatal("3 of 10 opened the alert")
	}
	if _, opened := grow("numproc", 3, 6, 10, 10*time.Minute); opened {
		t.Fatal("6 of 10 opened the alert")
	}
	if n, _ := s.OpenAlerts(ctx); n != 1 {
		t.Fatalf("%d open alerts with numproc below its threshold, want 1 (cpu)", n)
	}
	a, opened = grow("numproc", 6, 11, 10, 10*time.Minute)
	if !opened || a.Count != 3 || a.Old != 0 || a.New != 11 || a.RaisedAt == nil {
		t.Fatalf("crossing: %+v opened=%v", a, opened)
	}
	if _, opened := grow("numproc", 11, 12, 10, 10*time.Minute); opened {
		t.Fatal("a repeat of a raised alert opened it again")
	}
	// A window that passed short of the threshold starts again.
	if _, opened := grow("kmemsize", 0, 3, 5, time.Minute); opened {
		t.Fatal("3 of 5 opened")
	}
	if _, err := pool.Exec(ctx, `UPDATE alerts SET window_start = now() - interval '2 minutes' WHERE resource = 'kmemsize'`); err != nil {
		t.Fatal(err)
	}
	if a, opened := grow("kmemsize", 3, 6, 5, time.Minute); opened || a.Count != 2 {
		t.Fatalf("3 in a new window (6 in all) opened: %+v %v", a, opened)
	}
	if a, opened := grow("kmemsize", 6, 8, 5, time.Minute); !opened || a.Count != 3 {
		t.Fatalf("5 in the window did not open: %+v %v", a, opened)
	}
}

func ptr[T any](v T) *T { return &v }

// TestAlertsMigrationMergesOpenDuplicates: 0018 merges the open alerts a
// container's resource piled up before it into one row that counts them.
func TestAlertsMigrationMergesOpenDuplicates(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	run := func(file string) {
		t.Helper()
		sql, err := os.ReadFile("migrations/" + file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, string(sql)); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	run("0018_alerts.down.sql")
	if _, err := pool.Exec(ctx, `INSERT INTO alerts (ct_id, resource, old_failcnt, new_failcnt, at, acknowledged_at, events_sent_at) VALUES
		(101, 'cpu', 0, 1, '2026-01-01 10:00Z', NULL, '2026-01-01 10:00Z'),
		(101, 'cpu', 1, 2, '2026-01-01 10:01Z', NULL, NULL),
		(101, 'cpu', 2, 5, '2026-01-01 10:02Z', NULL, NULL),
		(101, 'cpu', 5, 6, '2026-01-01 09:00Z', '2026-01-01 09:30Z', '2026-01-01 09:00Z'),
		(101, 'numproc', 0, 4, '2026-01-01 10:00Z', NULL, NULL),
		(102, 'cpu', 0, 9, '2026-01-01 10:00Z', NULL, NULL)`); err != nil {
		t.Fatal(err)
	}
	run("0018_alerts.up.sql")
	s := db.New(pool)
	open, err := s.ListAlerts(ctx, true, nil, 100)
	if err != nil || len(open) != 3 {
		t.Fatalf("open after the merge: %+v %v", open, err)
	}
	var merged *db.Alert
	for i := range open {
		if open[i].CTID == 101 && open[i].Resource == "cpu" {
			merged = &open[i]
		}
	}
	if merged == nil || merged.Count != 3 || merged.Old != 0 || merged.New != 5 ||
		!merged.FirstSeen.Equal(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)) || !merged.LastSeen.Equal(time.Date(2026, 1, 1, 10, 2, 0, 0, time.UTC)) {
		t.Fatalf("merged: %+v", merged)
	}
	all, _ := s.ListAlerts(ctx, false, nil, 100)
	if len(all) != 4 {
		t.Fatalf("%d alerts in all, want 4 (the acknowledged one kept)", len(all))
	}
	// The next growth folds into the merged row.
	a, opened, err := s.RecordFailcntGrowth(ctx, db.FailcntGrowth{CTID: 101, Resource: "cpu", Old: 5, New: 7, Failures: 1})
	if err != nil || opened || a.ID != merged.ID || a.Count != 4 {
		t.Fatalf("growth after the merge: %+v %v %v", a, opened, err)
	}
}
