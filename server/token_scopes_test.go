package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// TestTokenScopes (hardening point 10): a token narrowed beyond its role.
// A billing token narrowed to customer alice sees and makes alice's
// containers only, reads her record and the plans and templates, and is
// refused everything farm-wide; a read-only staff token reads and watches
// but changes nothing.
func TestTokenScopes(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	alice := p.expect(p.do(p.admin, "POST", "/api/v1/customers", map[string]any{"username": "alice"}), 201).json(t)
	bob := p.expect(p.do(p.admin, "POST", "/api/v1/customers", map[string]any{"username": "bob"}), 201).json(t)
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "owner": "alice", "start": true})
	bobOp := p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 102, "template": "busybox", "owner": "bob"})

	// Narrowing that makes no sense is refused, naming the field.
	for _, bad := range []map[string]any{
		{"name": "x", "role": "admin", "customer": "alice"},
		{"name": "x", "role": "billing", "customer": "nobody"},
		{"name": "x", "role": "billing", "customer": "admin"},
	} {
		r := p.expect(p.do(p.admin, "POST", "/api/v1/tokens", bad), http.StatusUnprocessableEntity)
		if !strings.Contains(string(r.Body), `"customer"`) {
			t.Errorf("%v: %s", bad, r.Body)
		}
	}
	created := p.expect(p.do(p.admin, "POST", "/api/v1/tokens", map[string]any{"name": "whmcs-alice", "role": "billing", "customer": "alice"}), 201).json(t)
	if created["customer"] != "alice" || created["read_only"] != false {
		t.Fatalf("created token: %v", created)
	}
	scoped := created["token"].(string)

	list := p.expect(p.do(scoped, "GET", "/api/v1/containers", nil), 200).json(t)["containers"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["ctid"] != float64(101) {
		t.Fatalf("the scoped token lists %v", list)
	}
	p.expect(p.do(scoped, "GET", "/api/v1/containers/102", nil), http.StatusNotFound)
	p.expect(p.do(scoped, "POST", "/api/v1/containers/102/stop", nil), http.StatusNotFound)
	p.expect(p.do(scoped, "GET", "/api/v1/operations/"+bobOp["id"].(string), nil), http.StatusNotFound)
	p.ok(scoped, "POST", "/api/v1/containers/101/stop", nil)
	made := p.ok(scoped, "POST", "/api/v1/containers", map[string]any{"ctid": 103, "template": "busybox"})
	if c := p.expect(p.do(p.admin, "GET", "/api/v1/containers/103", nil), 200).json(t); c["owner"] != "alice" {
		t.Fatalf("a container the scoped token made belongs to %v (op %v)", c["owner"], made["id"])
	}
	r := p.expect(p.do(scoped, "POST", "/api/v1/containers", map[string]any{"ctid": 104, "template": "busybox", "owner": "bob"}), http.StatusUnprocessableEntity)
	if !strings.Contains(string(r.Body), `"owner"`) {
		t.Fatalf("create for bob: %s", r.Body)
	}
	p.expect(p.do(scoped, "GET", "/api/v1/customers/"+jsonNum(alice["id"]), nil), 200)
	p.expect(p.do(scoped, "GET", "/api/v1/plans", nil), 200)
	p.expect(p.do(scoped, "GET", "/api/v1/templates", nil), 200)
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/customers", nil},
		{"GET", "/api/v1/customers/" + jsonNum(bob["id"]), nil},
		{"POST", "/api/v1/customers", map[string]any{"username": "carol"}},
		{"POST", "/api/v1/plans", map[string]any{"name": "p1"}},
		{"GET", "/api/v1/webhooks", nil},
		{"GET", "/metrics", nil},
	} {
		r := p.expect(p.do(scoped, tc.method, tc.path, tc.body), http.StatusForbidden)
		if !strings.Contains(string(r.Body), "scoped_token") {
			t.Errorf("%s %s: %s", tc.method, tc.path, r.Body)
		}
	}

	// Read-only staff token.
	ro := p.expect(p.do(p.admin, "POST", "/api/v1/tokens", map[string]any{"name": "dashboard", "role": "staff", "read_only": true}), 201).json(t)["token"].(string)
	p.expect(p.do(ro, "GET", "/api/v1/containers/102", nil), 200)
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/containers/102/start", nil},
		{"PATCH", "/api/v1/containers/102", map[string]any{"description": "x"}},
		{"DELETE", "/api/v1/containers/102", nil},
		{"POST", "/api/v1/containers", map[string]any{"template": "busybox"}},
		{"POST", "/api/v1/containers/101/console/ticket", nil},
	} {
		r := p.expect(p.do(ro, tc.method, tc.path, tc.body), http.StatusForbidden)
		if !strings.Contains(string(r.Body), "read_only") {
			t.Errorf("read-only %s %s: %s", tc.method, tc.path, r.Body)
		}
	}
	p.expect(p.do(ro, "POST", "/api/v1/containers/101/console/ticket", map[string]any{"read_only": true}), http.StatusCreated)

	tokens := p.expect(p.do(p.admin, "GET", "/api/v1/tokens", nil), 200).json(t)["tokens"].([]any)
	seen := map[string]bool{}
	for _, x := range tokens {
		tk := x.(map[string]any)
		switch tk["name"] {
		case "whmcs-alice":
			seen["scoped"] = tk["customer"] == "alice" && tk["read_only"] == false
		case "dashboard":
			seen["ro"] = tk["customer"] == nil && tk["read_only"] == true
		}
	}
	if !seen["scoped"] || !seen["ro"] {
		t.Errorf("token list does not show the narrowing: %v", tokens)
	}
}
