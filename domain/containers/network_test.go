package containers_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/domain/domaintest"
	"github.com/ctpanel/ctpanel/domain/networks"
)

// TestReservationsAndPoolKinds: staff reserve an address for a customer,
// who sees it and puts it on their own container, where it counts toward
// their plan; nobody else sees it. A container's addresses come from pools
// of one kind: a bridged pool's address cannot join routed ones. A bridged
// pool needs its bridge and single-address shares.
func TestReservationsAndPoolKinds(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	staff := domaintest.Staff()
	alice, bob := e.Customer(t, "alice"), e.Customer(t, "bob")
	if _, err := e.Networks.Create(ctx, staff, networks.PoolInput{Name: ptr("main"), CIDR: ptr("198.18.60.0/24"), Default: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	_, err := e.Networks.Create(ctx, staff, networks.PoolInput{Name: ptr("lan"), CIDR: ptr("198.18.61.0/24"), Mode: ptr("bridged")})
	if ae := domain.AsError(err); ae == nil || ae.Fields["bridge"] == "" {
		t.Fatalf("a bridged pool without its bridge: %v, want a 422 naming bridge", err)
	}
	_, err = e.Networks.Create(ctx, staff, networks.PoolInput{Name: ptr("lan6"), CIDR: ptr("2001:db8:61::/48"), Mode: ptr("bridged"), Bridge: ptr("br0")})
	if ae := domain.AsError(err); ae == nil || ae.Fields["share_prefix"] == "" {
		t.Fatalf("a bridged IPv6 pool of /64 shares: %v, want a 422 naming share_prefix", err)
	}
	if _, err := e.Networks.Create(ctx, staff, networks.PoolInput{Name: ptr("lan"), CIDR: ptr("198.18.61.0/24"), Mode: ptr("bridged"),
		Bridge: ptr("br0"), Gateway: ptr("198.18.61.1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Plans.Create(ctx, staff, "two", nil, nil, &db.PlanNetwork{IPAddresses: ptr(2)}, nil); err != nil {
		t.Fatal(err)
	}
	op, err := e.Containers.Create(ctx, staff, containers.CreateInput{Template: "busybox", Owner: "alice", Plan: "two", IPAddresses: []string{"auto"}})
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, op.ID)

	// Pool kinds do not mix on one container.
	_, _, err = e.Containers.AddAddress(ctx, staff, "101", containers.AddressRequest{Address: "auto", Pool: "lan"})
	if ae := domain.AsError(err); ae == nil || ae.Status != http.StatusConflict || ae.Fields["address"] == "" {
		t.Fatalf("a bridged address on a routed container: %v, want a 409 naming address", err)
	}

	// A reservation for alice.
	if _, err := e.Containers.Reserve(ctx, alice, containers.ReserveInput{Customer: "alice"}); domain.AsError(err) == nil || domain.AsError(err).Status != http.StatusForbidden {
		t.Fatalf("a customer reserving: %v, want 403", err)
	}
	r, err := e.Containers.Reserve(ctx, staff, containers.ReserveInput{Customer: "alice", Address: "198.18.60.9"})
	if err != nil || r.Address != "198.18.60.9" || r.CTID != nil || !r.Reserved {
		t.Fatalf("reserve: %+v %v", r, err)
	}
	if _, err := e.Containers.Reserve(ctx, staff, containers.ReserveInput{Customer: "bob", Address: "198.18.60.9"}); domain.AsError(err) == nil || domain.AsError(err).Status != http.StatusConflict {
		t.Fatalf("reserving an address twice: %v, want 409", err)
	}
	held, err := e.Containers.HeldAddresses(ctx, bob)
	if err != nil || len(held) != 0 {
		t.Fatalf("bob's addresses: %+v %v", held, err)
	}
	if _, _, err := e.Containers.AddAddress(ctx, bob, "101", containers.AddressRequest{Address: "198.18.60.9"}); domain.AsError(err) == nil || domain.AsError(err).Status != http.StatusNotFound {
		t.Fatalf("bob on alice's container: %v, want 404", err)
	}
	v, op2, err := e.Containers.AddAddress(ctx, alice, "101", containers.AddressRequest{Address: "198.18.60.9"})
	if err != nil || v.Address != "198.18.60.9" || !v.Reserved {
		t.Fatalf("alice puts her reserved address on her container: %+v %v", v, err)
	}
	e.Wait(t, op2.ID)
	held, err = e.Containers.HeldAddresses(ctx, alice)
	if err != nil || len(held) != 2 {
		t.Fatalf("alice's addresses: %+v %v", held, err)
	}
	// Her plan's two are used.
	if _, _, err := e.Containers.AddAddress(ctx, alice, "101", containers.AddressRequest{Address: "auto"}); domain.AsError(err) == nil || domain.AsError(err).Status != http.StatusForbidden {
		t.Fatalf("beyond the plan: %v, want 403", err)
	}
	// Off the container, it stays hers; given up, it goes back to the pool.
	op3, err := e.Containers.RemoveAddress(ctx, alice, "101", "198.18.60.9")
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, op3.ID)
	if held, _ := e.Containers.HeldAddresses(ctx, alice); len(held) != 2 || held[1].CTID != nil {
		t.Fatalf("after removal: %+v, want the reservation kept", held)
	}
	if err := e.Containers.Unreserve(ctx, staff, "198.18.60.9"); err != nil {
		t.Fatal(err)
	}
	if held, _ := e.Containers.HeldAddresses(ctx, alice); len(held) != 1 {
		t.Fatalf("after giving the reservation up: %+v", held)
	}
}
