package plans_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/db/dbtest"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/domain/domaintest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestPlanEditReachesEveryContainerOnIt(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	staff := domaintest.Staff()
	if _, err := e.Plans.Create(ctx, staff, "vps-s", nil, []byte(`{"numproc":"bad"}`)); domain.AsError(err) == nil ||
		domain.AsError(err).Fields["limits.numproc"] == "" {
		t.Fatalf("a bad limit: %v, want a 422 naming limits.numproc", err)
	}
	if _, err := e.Plans.Create(ctx, staff, "vps-s", nil, []byte(`{"numproc":"100"}`)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		op, err := e.Containers.Create(ctx, staff, containers.CreateInput{Template: "busybox", Plan: "vps-s"})
		if err != nil {
			t.Fatal(err)
		}
		e.Wait(t, op.ID)
	}
	v, queued, err := e.Plans.Update(ctx, staff, "vps-s", nil, []byte(`{"numproc":"200"}`))
	if err != nil {
		t.Fatal(err)
	}
	if v.Limits.NumProc == nil || v.Limits.NumProc.Limit != 200 || len(queued) != 2 {
		t.Fatalf("plan %+v, %d operations; want numproc 200 and one set_limits per container", v.Limits, len(queued))
	}
	for _, op := range queued {
		if op.Action != "set_limits" || op.Status != db.OpPending {
			t.Fatalf("operation %s %s, want a pending set_limits", op.Action, op.Status)
		}
	}
	lim, err := e.Containers.Limits(ctx, staff, "101")
	if err != nil || lim.Limits.NumProc == nil || lim.Limits.NumProc.Limit != 200 {
		t.Fatalf("container 101's limits %+v (%v), want the plan's new numproc", lim, err)
	}
	if err := e.Plans.Delete(ctx, staff, "vps-s"); domain.AsError(err) == nil || domain.AsError(err).Status != http.StatusConflict {
		t.Fatalf("deleting a plan in use: %v, want 409", err)
	}
	if err := e.Plans.Delete(ctx, e.Customer(t, "alice"), "vps-s"); domain.AsError(err) == nil || domain.AsError(err).Status != http.StatusForbidden {
		t.Fatalf("a customer deleting a plan: %v, want 403", err)
	}
}

// TestCustomersSeeTheirOwnCountsOnPlans: a customer reading the plans sees
// how many of their own containers are on each, not the farm's.
func TestCustomersSeeTheirOwnCountsOnPlans(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	staff := domaintest.Staff()
	alice := e.Customer(t, "alice")
	e.Customer(t, "bob")
	if _, err := e.Plans.Create(ctx, staff, "vps-s", nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{"alice", "bob", "bob"} {
		op, err := e.Containers.Create(ctx, staff, containers.CreateInput{Template: "busybox", Plan: "vps-s", Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		e.Wait(t, op.ID)
	}
	all, err := e.Plans.Get(ctx, staff, "vps-s")
	if err != nil || all.Containers != 3 {
		t.Fatalf("staff count %d (%v), want 3", all.Containers, err)
	}
	mine, err := e.Plans.List(ctx, alice)
	if err != nil || len(mine) != 1 || mine[0].Containers != 1 {
		t.Fatalf("alice's view %+v (%v), want 1 container of hers", mine, err)
	}
}
