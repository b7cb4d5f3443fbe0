package server

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestUISuspendedVPS: staff suspend and unsuspend from the container page
// with the API's rules (a bad mode and a reason too long are both named, in the page); the
// customer's page explains the suspension and offers no start, restart
// or reinstall; a start they send anyway is refused in the container page
// with the reason, not on a bare status page; staff are asked before
// starting a suspended VPS.
func TestUISuspendedVPS(t *testing.T) {
	p := uiFarm(t)
	ctx := context.Background()
	staff := p.browser()
	staff.mustLogin("ops", "correct horse")
	alice := p.browser()
	alice.mustLogin("alice", "alice password")

	alice.expect(alice.post("/containers/101/suspend", url.Values{"reason": {"mine"}}), http.StatusForbidden)
	pg := staff.expect(staff.post("/containers/101/suspend", url.Values{"mode": {"sleep"}, "reason": {strings.Repeat("x", 1025)}}),
		http.StatusUnprocessableEntity, "Beancounters")
	if fieldError(pg.Body, "reason") == "" || fieldError(pg.Body, "mode") == "" {
		t.Errorf("a bad mode and a 1025-character reason: not both named next to their fields:\n%s", pg.Body)
	}
	if !strings.Contains(pg.Body, "Nothing was changed") {
		t.Error("the refused suspend does not say nothing changed")
	}
	pg = staff.post("/containers/101/suspend", url.Values{"mode": {"stop"}, "reason": {"unpaid invoice 1234"}})
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("suspend: %d %s", pg.Status, pg.Body)
	}
	p.waitOp(strings.TrimPrefix(pg.Header.Get("Location"), "/containers/101?op="))
	c, err := p.app.Store.GetContainer(ctx, 101)
	if err != nil || c.SuspendedAt == nil || c.SuspendReason != "unpaid invoice 1234" {
		t.Fatalf("after the page's suspend: %+v %v", c.SuspendedAt, err)
	}

	ct := alice.expect(alice.get("/containers/101"), 200, "This VPS is suspended", "unpaid invoice 1234")
	for _, re := range []string{`(?s)<button class="primary"[^>]*disabled title="suspended"[^>]*>Start</button>`,
		`(?s)<button[^>]*disabled title="suspended"[^>]*>Restart</button>`, `<button disabled title="suspended">Reinstall</button>`} {
		if !regexp.MustCompile(re).MatchString(ct.Body) {
			t.Errorf("alice's page of her suspended VPS lacks %s", re)
		}
	}
	if strings.Contains(ct.Body, `href="/containers/101/reinstall"`) || strings.Contains(ct.Body, "/unsuspend") {
		t.Error("alice's page offers reinstall or unsuspend")
	}
	pg = alice.expect(alice.post("/containers/101/start", nil), http.StatusConflict, "Beancounters", "This VPS is suspended")
	if !strings.Contains(pg.Body, `role="alert"`) || !strings.Contains(pg.Body, "unsuspended") {
		t.Errorf("a refused start: the reason is not shown in the page:\n%s", pg.Body)
	}

	st := staff.expect(staff.get("/containers/101"), 200, "Suspended", "/containers/101/unsuspend")
	if !strings.Contains(st.Body, "does not lift the suspension (Unsuspend does). Start it anyway?") {
		t.Error("staff are not asked before starting a suspended VPS")
	}
	if strings.Contains(st.Body, `id="suspend-form"`) {
		t.Error("a suspended VPS is offered a second suspend")
	}
	pg = staff.post("/containers/101/unsuspend", nil)
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("unsuspend: %d %s", pg.Status, pg.Body)
	}
	p.waitOp(strings.TrimPrefix(pg.Header.Get("Location"), "/containers/101?op="))
	if c, _ := p.app.Store.GetContainer(ctx, 101); c.SuspendedAt != nil {
		t.Fatal("still suspended after the page's unsuspend")
	}
	staff.expect(staff.post("/containers/101/unsuspend", nil), http.StatusConflict, "is not suspended", "Beancounters")
	if ct := alice.expect(alice.get("/containers/101"), 200); strings.Contains(ct.Body, "This VPS is suspended") || !strings.Contains(ct.Body, `href="/containers/101/reinstall"`) {
		t.Error("alice's page after the unsuspend still says suspended or hides reinstall")
	}
}
