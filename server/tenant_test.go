package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// TestTenantIsolationEveryRoute walks every route of the router: a
// customer token on another customer's container gets 404, and on a
// staff-only route gets 403.
func TestTenantIsolationEveryRoute(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	_, aliceTok := p.customer("alice")
	p.customer("bob")
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "owner": "alice", "start": true})
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 102, "name": "bobs", "template": "busybox", "owner": "bob", "start": true})
	p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "small"}), 201)
	bodies := map[string]string{
		"/exec":           `{"command":["true"]}`,
		"/reinstall":      `{"template":"busybox"}`,
		"/change-plan":    `{"plan":"small"}`,
		"/{ref}":          `{"hostname":"x.example.com"}`,
		"/reset-password": `{}`,
	}
	checked := 0
	for _, rt := range openAPIRouterRoutes(t) {
		if !rt.authenticated {
			continue
		}
		path := rt.path
		body := `{}`
		for suffix, b := range bodies {
			if strings.HasSuffix(path, suffix) {
				body = b
			}
		}
		if rt.method == http.MethodGet || rt.method == http.MethodDelete {
			body = ""
		}
		for _, ref := range []string{"102", "bobs"} {
			url := strings.NewReplacer("{ref}", ref, "{id}", "1", "{name}", "small").Replace(path)
			want := 0
			switch {
			case rt.staffOnly:
				want = http.StatusForbidden
			case strings.Contains(path, "{ref}"):
				want = http.StatusNotFound
			default:
				continue
			}
			// Bodies and websocket handshakes are not what the routes
			// take: the refusal must come first.
			if r := p.doMalformed(aliceTok, rt.method, url, body); r.Status != want {
				t.Errorf("customer %s %s: %d, want %d: %s", rt.method, url, r.Status, want, r.Body)
			}
			checked++
		}
	}
	if checked < 40 {
		t.Fatalf("only %d route checks ran", checked)
	}
	// And the lists a customer may read show only their own.
	for _, path := range []string{"/api/v1/containers", "/api/v1/beancounters", "/api/v1/usage", "/api/v1/alerts", "/api/v1/beancounters/failstat"} {
		body := string(p.expect(p.do(aliceTok, "GET", path, nil), 200).Body)
		if strings.Contains(body, `"ctid": 102`) {
			t.Errorf("%s shows bob's container to alice:\n%s", path, body)
		}
	}
}
