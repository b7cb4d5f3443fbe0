package containers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/backup"
	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/domain/domaintest"
)

// TestPlanByteQuotas: a plan's max_bytes for backups refuses a new one
// once the container's backups hold that much (a rotating plan lets it be
// made: the oldest go after), and its snapshots' max_bytes refuses a new
// snapshot likewise.
func TestPlanByteQuotas(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	staff := domaintest.Staff()
	alice := e.Customer(t, "alice")
	if _, err := e.Containers.CreateTarget(ctx, staff, containers.TargetInput{Name: "local", Kind: "dir", Path: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	lim := func(n int64) *int64 { return &n }
	if _, err := e.Plans.Create(ctx, staff, "quota", nil, nil, nil, &backup.Policy{MaxBytes: lim(1000), Snapshots: backup.SnapshotPolicy{MaxBytes: lim(500)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Plans.Create(ctx, staff, "rotating", nil, nil, nil, &backup.Policy{MaxBytes: lim(1000), WhenFull: "rotate"}); err != nil {
		t.Fatal(err)
	}
	for _, plan := range []string{"quota", "rotating"} {
		op, err := e.Containers.Create(ctx, staff, containers.CreateInput{Template: "busybox", Owner: "alice", Plan: plan})
		if err != nil {
			t.Fatal(err)
		}
		e.Wait(t, op.ID)
	}
	// As if each had finished having added what it says.
	finished := func(id string, added int64) {
		t.Helper()
		size := added
		if err := e.Store.FinishBackup(ctx, db.Backup{ID: id, Status: db.BackupSucceeded, SnapshotID: "0123abcd", SizeBytes: &size, AddedBytes: &added}); err != nil {
			t.Fatal(err)
		}
	}
	conflict := func(err error, what string) {
		t.Helper()
		ae := domain.AsError(err)
		if ae == nil || ae.Status != http.StatusConflict || !strings.Contains(ae.Error(), "bytes of "+what) {
			t.Fatalf("past the plan's bytes: %v, want a 409 saying how many bytes of %s it keeps", err, what)
		}
	}
	for _, ct := range []string{"101", "102"} {
		b, op, err := e.Containers.CreateBackup(ctx, alice, ct, "local")
		if err != nil {
			t.Fatalf("first backup of %s: %v", ct, err)
		}
		e.Wait(t, op.ID)
		finished(b.ID, 999)
		b, op, err = e.Containers.CreateBackup(ctx, alice, ct, "local")
		if err != nil {
			t.Fatalf("second backup of %s (999 of 1000 bytes held): %v", ct, err)
		}
		e.Wait(t, op.ID)
		finished(b.ID, 1)
	}
	_, _, err := e.Containers.CreateBackup(ctx, alice, "101", "local")
	conflict(err, "backups")
	if _, op, err := e.Containers.CreateBackup(ctx, alice, "102", "local"); err != nil {
		t.Fatalf("a rotating plan at its bytes: %v, want the backup made", err)
	} else {
		e.Wait(t, op.ID)
	}

	s, op, err := e.Containers.TakeSnapshot(ctx, alice, "101", "first")
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, op.ID)
	finished(s.ID, 500)
	_, _, err = e.Containers.TakeSnapshot(ctx, alice, "101", "second")
	conflict(err, "snapshots")
	_, err = e.Plans.Create(ctx, staff, "negative", nil, nil, nil, &backup.Policy{MaxBytes: lim(-1)})
	if ae := domain.AsError(err); ae == nil || ae.Fields["backups.max_bytes"] == "" {
		t.Fatalf("a negative max_bytes: %v, want a 422 naming backups.max_bytes", err)
	}
}
