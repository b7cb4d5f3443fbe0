package server

import (
	"net/http"
	"net/url"
	"testing"
)

// TestUIPoolEdit: the pool edit page through the panel's router: staff
// open it from the networks page, a refused field comes back on the form,
// a saved pool is listed under its new name; customers are refused both.
func TestUIPoolEdit(t *testing.T) {
	p := uiFarm(t)
	b := p.browser()
	b.mustLogin("ops", "correct horse")
	b.expect(b.post("/networks/pools", url.Values{"name": {"main-v4"}, "cidr": {"198.18.70.0/24"}, "mode": {"routed"}}), http.StatusSeeOther)
	b.expect(b.get("/networks"), http.StatusOK, `href="/networks/pools/1"`)
	b.expect(b.get("/networks/pools/1"), http.StatusOK, `value="main-v4"`, `action="/networks/pools/1"`)
	pg := b.expect(b.post("/networks/pools/1", url.Values{"name": {"Main V4"}, "mode": {"routed"}}), http.StatusUnprocessableEntity)
	if got := fieldError(pg.Body, "name"); got == "" {
		t.Errorf("no error next to a bad name:\n%s", pg.Body)
	}
	b.expect(b.post("/networks/pools/1", url.Values{"name": {"edge-v4"}, "mode": {"routed"}}), http.StatusSeeOther)
	b.expect(b.get("/networks"), http.StatusOK, "edge-v4")

	alice := p.browser()
	alice.mustLogin("alice", "alice password")
	alice.expect(alice.get("/networks/pools/1"), http.StatusForbidden)
	alice.expect(alice.post("/networks/pools/1", url.Values{"name": {"mine"}, "mode": {"routed"}}), http.StatusForbidden)
}
