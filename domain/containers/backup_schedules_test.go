package containers_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/backup"

	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/domain/domaintest"
)

// TestNextRun: the next run is today's time if it is still ahead, else
// tomorrow's, in the host's zone; "auto" spreads containers over 01:00 to
// 05:00.
func TestNextRun(t *testing.T) {
	loc := time.FixedZone("host", 3600)
	for _, tc := range []struct {
		minute int
		now    string
		want   string
	}{
		{150, "2026-12-05T01:00:00+01:00", "2026-12-05T02:30:00+01:00"},
		{150, "2026-12-05T02:30:00+01:00", "2026-12-06T02:30:00+01:00"},
		{150, "2026-12-05T23:59:00+01:00", "2026-12-06T02:30:00+01:00"},
		{0, "2026-12-31T12:00:00+01:00", "2027-01-01T00:00:00+01:00"},
	} {
		now, _ := time.Parse(time.RFC3339, tc.now)
		want, _ := time.Parse(time.RFC3339, tc.want)
		if got := containers.NextRun(tc.minute, now, loc); !got.Equal(want) {
			t.Errorf("NextRun(%d, %s) = %s, want %s", tc.minute, tc.now, got, tc.want)
		}
	}
	seen := map[int]bool{}
	for id := 101; id < 111; id++ {
		m := containers.AutoMinute(id)
		if m < 60 || m >= 300 {
			t.Errorf("auto minute of %d: %d, want within 01:00 to 05:00", id, m)
		}
		seen[m] = true
	}
	if len(seen) < 10 {
		t.Errorf("ten containers share %d auto times", len(seen))
	}
}

// TestSchedulesRunOnceWhenDue: a schedule a stopped panel missed makes one
// backup, then moves on to tomorrow; running again makes none; bad input
// names its field; a customer schedules only their own containers.
func TestSchedulesRunOnceWhenDue(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	staff := domaintest.Staff()
	alice, bob := e.Customer(t, "alice"), e.Customer(t, "bob")
	if _, err := e.Containers.CreateTarget(ctx, staff, containers.TargetInput{Name: "local", Kind: "dir", Path: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	op, err := e.Containers.Create(ctx, staff, containers.CreateInput{Template: "busybox", Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, op.ID)
	_, err = e.Containers.SetSchedule(ctx, alice, "101", containers.ScheduleInput{Target: "nowhere", Time: "25:00"})
	if ae := domain.AsError(err); ae == nil || ae.Fields["target"] == "" || ae.Fields["time"] == "" {
		t.Fatalf("bad schedule: %v, want a 422 naming target and time", err)
	}
	if _, err := e.Containers.SetSchedule(ctx, bob, "101", containers.ScheduleInput{Target: "local"}); domain.AsError(err) == nil || domain.AsError(err).Status != http.StatusNotFound {
		t.Fatalf("bob scheduling alice's container: %v, want 404", err)
	}
	v, err := e.Containers.SetSchedule(ctx, alice, "101", containers.ScheduleInput{Target: "local", Time: "03:15"})
	if err != nil || v.Time != "03:15" || !v.NextRunAt.After(time.Now()) {
		t.Fatalf("schedule: %+v %v", v, err)
	}
	// As if the panel had been down past two runs.
	sch, err := e.Store.GetSchedule(ctx, 101)
	if err != nil {
		t.Fatal(err)
	}
	sch.NextRunAt = time.Now().Add(-49 * time.Hour)
	if err := e.Store.PutSchedule(ctx, sch); err != nil {
		t.Fatal(err)
	}
	n, err := e.Containers.RunDueSchedules(ctx, time.Now(), 10)
	if err != nil || n != 1 {
		t.Fatalf("due run: %d started (%v), want 1", n, err)
	}
	if n, err := e.Containers.RunDueSchedules(ctx, time.Now(), 10); err != nil || n != 0 {
		t.Fatalf("second run: %d started (%v), want none: a missed run is made once", n, err)
	}
	after, err := e.Containers.Schedule(ctx, alice, "101")
	if err != nil || !after.NextRunAt.After(time.Now()) || after.LastBackup == nil || after.LastRunAt == nil {
		t.Fatalf("after the run: %+v %v", after, err)
	}
	list, err := e.Containers.Backups(ctx, alice, "101")
	if err != nil || len(list) != 1 || list[0].ID != *after.LastBackup {
		t.Fatalf("the scheduled backup: %+v %v", list, err)
	}
	if err := e.Containers.DeleteSchedule(ctx, alice, "101"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Containers.Schedule(ctx, alice, "101"); domain.AsError(err) == nil || domain.AsError(err).Status != http.StatusNotFound {
		t.Fatalf("a deleted schedule: %v", err)
	}
}

// TestSnapshotsExpire: a snapshot older than its plan lets snapshots live
// goes; a younger one and a protected one stay.
func TestSnapshotsExpire(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	staff := domaintest.Staff()
	day := 24
	if _, err := e.Plans.Create(ctx, staff, "snaps", nil, nil, nil, &backup.Policy{Snapshots: backup.SnapshotPolicy{MaxAgeHours: day}}); err != nil {
		t.Fatal(err)
	}
	op, err := e.Containers.Create(ctx, staff, containers.CreateInput{Template: "busybox", Plan: "snaps"})
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, op.ID)
	for _, name := range []string{"old", "kept", "young"} {
		_, op, err := e.Containers.TakeSnapshot(ctx, staff, "101", name)
		if err != nil {
			t.Fatal(err)
		}
		e.Wait(t, op.ID)
	}
	list, err := e.Containers.Snapshots(ctx, staff, "101")
	if err != nil || len(list) != 3 {
		t.Fatalf("snapshots: %+v %v", list, err)
	}
	for _, s := range list {
		if s.Name == "kept" {
			if _, err := e.Containers.ProtectBackup(ctx, staff, s.ID, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A day and an hour on, all three are past the plan's 24 hours; the
	// protected one stays.
	n, err := e.Containers.ExpireSnapshots(ctx, time.Now().Add(25*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("expired %d (%v), want old and young: kept is protected", n, err)
	}
	if n, _ := e.Containers.ExpireSnapshots(ctx, time.Now()); n != 0 {
		t.Fatalf("expired %d snapshots younger than a day", n)
	}
	list, _ = e.Containers.Snapshots(ctx, staff, "101")
	if len(list) != 1 || list[0].Name != "kept" {
		t.Fatalf("left: %+v", list)
	}
}

// TestPlanDefaultSchedule: a container on a plan with a daily backup gets
// the plan's schedule (its own, when it has one, stays).
func TestPlanDefaultSchedule(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	staff := domaintest.Staff()
	if _, err := e.Containers.CreateTarget(ctx, staff, containers.TargetInput{Name: "local", Kind: "dir", Path: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	_, err := e.Plans.Create(ctx, staff, "nightly", nil, nil, nil, &backup.Policy{Schedule: backup.ScheduleDefault{Target: "local", Time: "4am"}})
	if ae := domain.AsError(err); ae == nil || ae.Fields["backups.schedule.time"] == "" {
		t.Fatalf("a bad plan schedule: %v", err)
	}
	if _, err := e.Plans.Create(ctx, staff, "nightly", nil, nil, nil, &backup.Policy{Schedule: backup.ScheduleDefault{Target: "local", Time: "04:00"}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		op, err := e.Containers.Create(ctx, staff, containers.CreateInput{Template: "busybox", Plan: "nightly"})
		if err != nil {
			t.Fatal(err)
		}
		e.Wait(t, op.ID)
	}
	if _, err := e.Containers.SetSchedule(ctx, staff, "102", containers.ScheduleInput{Target: "local", Time: "01:30"}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.Containers.RunDueSchedules(ctx, time.Now(), 10); err != nil || n != 0 {
		t.Fatalf("run: %d (%v), want none due yet", n, err)
	}
	s101, err := e.Containers.Schedule(ctx, staff, "101")
	if err != nil || s101.Time != "04:00" || s101.Target != "local" {
		t.Fatalf("101's schedule from its plan: %+v %v", s101, err)
	}
	if s102, err := e.Containers.Schedule(ctx, staff, "102"); err != nil || s102.Time != "01:30" {
		t.Fatalf("102's own schedule: %+v %v", s102, err)
	}
}
