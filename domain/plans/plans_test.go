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
	if _, err := e.Plans.Create(ctx, staff, "vps-s", nil, []byte(`{"numproc":"bad"}`), nil, nil); domain.AsError(err) == nil ||
		domain.AsError(err).Fields["limits.numproc"] == "" {
		t.Fatalf("a bad limit: %v, want a 422 naming limits.numproc", err)
	}
	if _, err := e.Plans.Create(ctx, staff, "vps-s", nil, []byte(`{"numproc":"100"}`), nil, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		op, err := e.Containers.Create(ctx, staff, containers.CreateInput{Template: "busybox", Plan: "vps-s"})
		if err != nil {
			t.Fatal(err)
		}
		e.Wait(t, op.ID)
	}
	v, ch, err := e.Plans.Update(ctx, staff, "vps-s", nil, []byte(`{"numproc":"200"}`), nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	queued := ch.Operations
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
	if _, err := e.Plans.Create(ctx, staff, "vps-s", nil, nil, nil, nil); err != nil {
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

// TestPlanNetwork: a plan's address count and rates are checked, stored
// and shown; changed rates queue a set_network for each container on it.
func TestPlanNetwork(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	staff := domaintest.Staff()
	bad, zero := -1, 0
	_, err := e.Plans.Create(ctx, staff, "net", nil, nil, &db.PlanNetwork{IPAddresses: &bad, RateInMbit: &zero}, nil)
	if ae := domain.AsError(err); ae == nil || ae.Fields["network.ip_addresses"] == "" || ae.Fields["network.rate_in_mbit"] == "" {
		t.Fatalf("a bad plan network: %v, want a 422 naming network.ip_addresses and network.rate_in_mbit", err)
	}
	two, twenty := 2, 20
	v, err := e.Plans.Create(ctx, staff, "net", nil, nil, &db.PlanNetwork{IPAddresses: &two, RateInMbit: &twenty}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Network.IPAddresses == nil || *v.Network.IPAddresses != 2 || v.Network.RateInMbit == nil || *v.Network.RateInMbit != 20 || v.Network.RateOutMbit != nil {
		t.Fatalf("created plan's network %+v", v.Network)
	}
	op, err := e.Containers.Create(ctx, staff, containers.CreateInput{Template: "busybox", Plan: "net"})
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, op.ID)
	// The description alone queues nothing.
	desc := "small"
	if _, ch, err := e.Plans.Update(ctx, staff, "net", &desc, nil, nil, nil, false); err != nil || len(ch.Operations) != 0 {
		t.Fatalf("description only: %d operations (%v)", len(ch.Operations), err)
	}
	fifty := 50
	v, ch, err := e.Plans.Update(ctx, staff, "net", nil, nil, &db.PlanNetwork{IPAddresses: &two, RateInMbit: &fifty, RateOutMbit: &fifty}, nil, false)
	queued := ch.Operations
	if err != nil {
		t.Fatal(err)
	}
	if len(queued) != 1 || queued[0].Action != "set_network" || *v.Network.RateOutMbit != 50 {
		t.Fatalf("rates changed: %d operations %+v, network %+v; want one set_network", len(queued), queued, v.Network)
	}
	got, err := e.Plans.Get(ctx, staff, "net")
	if err != nil || *got.Network.RateInMbit != 50 || got.Description != "small" {
		t.Fatalf("stored plan %+v (%v)", got, err)
	}
}

// TestPlanEditKeepsOverrides: a plan edit gives its containers the new
// limits but keeps a container's own override (a limit set apart from
// the plan's), counting who changes; staff may reset the overrides; an
// edit that changes no container's limits queues nothing.
func TestPlanEditKeepsOverrides(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	staff := domaintest.Staff()
	if _, err := e.Plans.Create(ctx, staff, "vps", nil, []byte(`{"numproc":"100","physpages":"256M"}`), nil, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		op, err := e.Containers.Create(ctx, staff, containers.CreateInput{Template: "busybox", Plan: "vps"})
		if err != nil {
			t.Fatal(err)
		}
		e.Wait(t, op.ID)
	}
	// Stored at once (the operation applies them to liblxc).
	if _, err := e.Containers.SetLimits(ctx, staff, "102", []byte(`{"physpages":"512M"}`)); err != nil {
		t.Fatal(err)
	}
	if n, err := e.Plans.Overrides(ctx, staff, "vps"); err != nil || n != 1 {
		t.Fatalf("overrides on the plan: %d %v, want 1 (102's physpages)", n, err)
	}
	physOf := func(ref string) (uint64, uint64) {
		t.Helper()
		lim, err := e.Containers.Limits(ctx, staff, ref)
		if err != nil || lim.Limits.NumProc == nil || lim.Limits.PhysPages == nil {
			t.Fatalf("limits of %s: %+v %v", ref, lim, err)
		}
		return lim.Limits.NumProc.Limit, lim.Limits.PhysPages.Limit
	}
	_, ch, err := e.Plans.Update(ctx, staff, "vps", nil, []byte(`{"numproc":"200","physpages":"300M"}`), nil, nil, false)
	if err != nil || ch.Changed != 2 || ch.KeptOverrides != 1 || len(ch.Operations) != 2 {
		t.Fatalf("edit: %+v %v, want 2 changed, 1 keeping its own limits", ch, err)
	}
	if np, pp := physOf("101"); np != 200 || pp != 300<<8 {
		t.Errorf("101 (on the plan): numproc %d physpages %d, want the plan's 200 and 300M", np, pp)
	}
	if np, pp := physOf("102"); np != 200 || pp != 512<<8 {
		t.Errorf("102 (its own physpages): numproc %d physpages %d, want the plan's 200 and its own 512M", np, pp)
	}
	// The same limits again change nobody.
	if _, ch, err := e.Plans.Update(ctx, staff, "vps", nil, []byte(`{"numproc":"200","physpages":"300M"}`), nil, nil, false); err != nil || ch.Changed != 0 || len(ch.Operations) != 0 {
		t.Fatalf("an edit that changes nothing: %+v %v", ch, err)
	}
	_, ch, err = e.Plans.Update(ctx, staff, "vps", nil, []byte(`{"numproc":"200","physpages":"300M"}`), nil, nil, true)
	if err != nil || ch.Changed != 1 || ch.KeptOverrides != 0 {
		t.Fatalf("reset: %+v %v, want 102 alone changed", ch, err)
	}
	if _, pp := physOf("102"); pp != 300<<8 {
		t.Errorf("102 after the reset: physpages %d, want the plan's 300M", pp)
	}
	if n, _ := e.Plans.Overrides(ctx, staff, "vps"); n != 0 {
		t.Errorf("overrides after the reset: %d", n)
	}
}
