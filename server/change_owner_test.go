package server

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/db"
)

// TestChangeOwner: staff and billing give a container to another
// customer; the old owner's console and shell on it end at once, their
// unredeemed ticket no longer opens anything, and they lose sight of it.
func TestChangeOwner(t *testing.T) {
	p, _, alice, bob := consolePanel(t) // 101 alice's (running), 102 nobody's
	_, carol := p.customer("carol")
	staff := p.token(db.RoleStaff, nil)

	sh := p.openTerm(alice, "101", "shell", nil)
	con := p.openTerm(alice, "101", "console", nil)
	spare := p.ticket(alice, "101", "shell", nil) // not redeemed yet

	// Refusals first: each says what is wrong and changes nothing.
	r := p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/change-owner", map[string]any{"owner": "nobody"}), 422)
	if !strings.Contains(r.errorField(t, "owner"), `no user "nobody"`) {
		t.Errorf("unknown owner: %s", r.Body)
	}
	if got := p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/change-owner", map[string]any{"owner": "alice"}), 422).errorField(t, "owner"); !strings.Contains(got, "already") {
		t.Errorf("the owner already: %q", got)
	}
	if got := p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/change-owner", map[string]any{"owner": ""}), 422).errorField(t, "owner"); !strings.Contains(got, "required") {
		t.Errorf("no owner: %q", got)
	}
	p.expect(p.do(alice, "POST", "/api/v1/containers/101/change-owner", map[string]any{"owner": "carol"}), 403)
	p.expect(p.do(carol, "POST", "/api/v1/containers/101/change-owner", map[string]any{"owner": "carol"}), 403)
	if got := p.expect(p.do(alice, "GET", "/api/v1/containers/101", nil), 200).json(t)["owner"]; got != "alice" {
		t.Fatalf("after refusals 101 is %v's", got)
	}

	// Given to bob.
	v := p.expect(p.do(staff, "POST", "/api/v1/containers/101/change-owner", map[string]any{"owner": "bob"}), 200).json(t)
	if v["owner"] != "bob" || v["ctid"] != float64(101) {
		t.Fatalf("change-owner answered %v", v)
	}
	for _, c := range []*termClient{sh, con} {
		if m := c.waitMsg("end", func(m map[string]any) bool { return m["type"] == "end" }); !strings.Contains(m["message"].(string), "given to another customer") {
			t.Errorf("end message: %v", m)
		}
		c.waitClosed()
	}
	if c, res, err := p.dialTerm(spare["url"].(string), nil); err == nil {
		c.conn.Close()
		t.Fatal("alice's earlier ticket still opens a shell on 101")
	} else if res == nil || res.StatusCode != 401 && res.StatusCode != 404 && res.StatusCode != 403 {
		t.Errorf("alice's spent ticket: %v %v", res, err)
	}
	p.expect(p.do(alice, "GET", "/api/v1/containers/101", nil), 404)
	p.expect(p.do(alice, "POST", "/api/v1/containers/101/stop", nil), 404)
	if got := p.expect(p.do(bob, "GET", "/api/v1/containers/101", nil), 200).json(t)["owner"]; got != "bob" {
		t.Fatalf("bob's view of 101: owner %v", got)
	}
	sh2 := p.openTerm(bob, "101", "shell", nil) // the new owner gets in
	sh2.conn.Close()
	var details string
	if err := p.app.Pool.QueryRow(context.Background(), `SELECT details::text FROM audit_log WHERE action = 'container.change_owner' AND ct_id = 101`).Scan(&details); err != nil {
		t.Fatalf("no audit entry: %v", err)
	}
	if !strings.Contains(details, `"from": "alice"`) || !strings.Contains(details, `"to": "bob"`) {
		t.Errorf("audit details %s", details)
	}

	// The staff page: a refusal in the container page next to its field,
	// then the change.
	p.account("ops", db.RoleStaff, "correct horse")
	b := p.browser()
	b.mustLogin("ops", "correct horse")
	pg := b.expect(b.get("/containers/101"), 200, `id="change-owner-form"`, `<option value="carol">`)
	_ = pg
	bad := b.expect(b.post("/containers/101/change-owner", url.Values{"owner": {"bob"}}), 422, `id="change-owner-form"`)
	if got := fieldError(bad.Body, "owner"); !strings.Contains(got, "already") {
		t.Errorf("the page's owner error: %q", got)
	}
	res := b.post("/containers/101/change-owner", url.Values{"owner": {"carol"}})
	if res.Status != 303 || res.Header.Get("Location") != "/containers/101?done=owner" {
		t.Fatalf("page change-owner: %d %s", res.Status, res.Header.Get("Location"))
	}
	b.expect(b.get("/containers/101?done=owner"), 200, `id="owner-changed"`, "the container is carol's now")
	p.expect(p.do(bob, "GET", "/api/v1/containers/101", nil), 404)
}
