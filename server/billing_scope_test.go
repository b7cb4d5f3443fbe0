package server

import (
	"net/http"
	"testing"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// TestBillingTokensHaveBillingVerbsOnly: a billing token provisions,
// suspends and reads, but does not work on containers by hand (exec or a
// shell as root, limits, templates, freeze, clone, destroy).
func TestBillingTokensHaveBillingVerbsOnly(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	billing := p.token(db.RoleBilling, nil)
	p.ok(billing, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true})
	p.expect(p.do(billing, "GET", "/api/v1/containers/101", nil), http.StatusOK)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/containers/101/exec", map[string]any{"command": []string{"id"}}},
		{"POST", "/api/v1/containers/101/shell/ticket", nil},
		{"POST", "/api/v1/containers/101/console/ticket", nil},
		{"PATCH", "/api/v1/containers/101/limits", map[string]any{"numproc": "100"}},
		{"POST", "/api/v1/containers/101/freeze", nil},
		{"POST", "/api/v1/containers/101/clone", map[string]any{"ctid": 102}},
		{"DELETE", "/api/v1/containers/101?force=true", nil},
		{"PATCH", "/api/v1/templates/busybox", map[string]any{"enabled": false}},
	} {
		res := p.do(billing, c.method, c.path, c.body)
		if res.Status != http.StatusForbidden {
			t.Errorf("billing %s %s: %d, want 403", c.method, c.path, res.Status)
		}
	}
	// Its own verbs still work, staff's token still does the rest.
	p.ok(billing, "POST", "/api/v1/containers/101/suspend", map[string]any{"mode": "stop"})
	p.ok(billing, "POST", "/api/v1/containers/101/unsuspend", nil)
	p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/exec", map[string]any{"command": []string{"id"}}), http.StatusOK)
	p.ok(billing, "POST", "/api/v1/containers/101/terminate", nil)
}
