package server

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestUINetworks: the networks page (staff) makes pools and reservations
// with every refused field shown in the page; a customer's container page
// lists its addresses and takes new ones within the plan, the refusal
// shown in the page; customers cannot open the networks page.
func TestUINetworks(t *testing.T) {
	p := uiFarm(t)
	p.account("root", "admin", "admin password")
	b := p.browser()
	b.mustLogin("root", "admin password")
	b.expect(b.get("/networks"), 200, "No IP pools yet", `href="/networks"`)
	pg := b.expect(b.post("/networks/pools", url.Values{"name": {"main-v4"}, "cidr": {"198.18.70.1/24"}, "mode": {"bridged"}, "share_prefix": {"x"}}),
		http.StatusUnprocessableEntity, `name="cidr"`)
	for _, msg := range []string{"has bits set past its prefix length", "a bridged pool needs the name of a host bridge"} {
		if !strings.Contains(pg.Body, msg) {
			t.Errorf("the refused pool form lacks %q", msg)
		}
	}
	if strings.Count(pg.Body, `aria-invalid="true"`) < 2 {
		t.Errorf("want cidr and bridge both marked at once:\n%s", pg.Body)
	}
	b.expect(b.post("/networks/pools", url.Values{"name": {"main-v4"}, "cidr": {"198.18.70.0/24"}, "mode": {"routed"},
		"gateway": {"198.18.70.1"}, "nameservers": {"198.18.70.53"}, "default": {"1"}}), http.StatusSeeOther)
	b.expect(b.get("/networks"), 200, "main-v4", "198.18.70.0/24", "default IPv4", "198.18.70.53", ">253<")

	// A plan with one address; alice's container on it.
	p.expect(p.do(p.admin, "PATCH", "/api/v1/plans/small", map[string]any{"network": map[string]any{"ip_addresses": 1}}), http.StatusOK)
	carol := p.browser()
	carol.mustLogin("alice", "alice password")
	carol.expect(carol.get("/networks"), http.StatusForbidden)
	ct := carol.expect(carol.get("/containers/101"), 200, `id="network"`, "No addresses", `id="traffic-chart"`)
	if strings.Contains(ct.Body, `name="pool"`) {
		t.Error("a customer is offered the pool choice")
	}
	pg = carol.post("/containers/101/ip-addresses", url.Values{"address": {"auto"}})
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("alice adds auto: %d %s", pg.Status, pg.Body)
	}
	p.waitIdle(t, "101")
	carol.expect(carol.get("/containers/101"), 200, "198.18.70.2", "Remove")
	carol.expect(carol.post("/containers/101/ip-addresses", url.Values{"address": {"auto"}}), http.StatusForbidden,
		`id="network"`, "your plan allows 1 address")

	// A reservation for alice, shown on the networks page; a bad one
	// names its fields.
	b.expect(b.post("/networks/reservations", url.Values{"customer": {"nobody"}, "address": {"203.0.113.5"}}), http.StatusUnprocessableEntity, "no user")
	b.expect(b.post("/networks/reservations", url.Values{"customer": {"alice"}, "address": {"198.18.70.9"}}), http.StatusSeeOther)
	b.expect(b.get("/networks"), 200, "198.18.70.9", "alice")
	b.expect(b.post("/networks/reservations/remove", url.Values{"address": {"198.18.70.9"}}), http.StatusSeeOther)
	if strings.Contains(b.get("/networks").Body, "198.18.70.9") {
		t.Error("a reservation given up is still listed")
	}
	// The pool is in use: its delete is refused in the page.
	b.expect(b.post("/networks/pools/1/delete", nil), http.StatusConflict, "main-v4")
	// Removing the address from the page.
	pg = carol.post("/containers/101/ip-addresses/remove", url.Values{"address": {"198.18.70.2"}})
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("alice removes her address: %d %s", pg.Status, pg.Body)
	}
	p.waitIdle(t, "101")
	carol.expect(carol.get("/containers/101"), 200, "No addresses")
}

// waitIdle waits until container ref has no operation running.
func (p *testPanel) waitIdle(t *testing.T, ref string) {
	t.Helper()
	id, err := strconv.Atoi(ref)
	if err != nil {
		t.Fatal(err)
	}
	list, err := p.app.Store.ListOperations(context.Background(), id, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list {
		if !o.Done() {
			p.finished(p.admin, "/api/v1/operations/"+o.ID)
		}
	}
}
