package server

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestUIStaffBillingVerbs: from the container page staff reset the root
// password (a made one shown once, a bad one named next to its field),
// change the plan after a preview of the limits that change, and shut the
// container down cleanly; a customer gets no plan change.
func TestUIStaffBillingVerbs(t *testing.T) {
	p := uiFarm(t)
	ctx := context.Background()
	p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "big", "limits": map[string]any{"numproc": "300", "cpulimit": 100}}), 201)
	b := p.browser()
	b.mustLogin("ops", "correct horse")
	b.expect(b.get("/containers/101"), 200, "Shut down", "Reset root password", `id="change-plan-form"`, `<option value="big"`)

	pg := b.expect(b.post("/containers/101/root-password", url.Values{"root_password": {"x"}}), http.StatusUnprocessableEntity, "Beancounters")
	if fieldError(pg.Body, "root_password") == "" {
		t.Errorf("a one-letter root password: no error next to the field:\n%s", pg.Body)
	}
	pg = b.expect(b.post("/containers/101/root-password", nil), http.StatusOK, "shown only this once")
	m := regexp.MustCompile(`id="new-root-password">[^<]*<code>([^<]{12,})</code>`).FindStringSubmatch(pg.Body)
	if m == nil {
		t.Fatalf("no generated password shown:\n%s", pg.Body)
	}
	if again := b.expect(b.get("/containers/101"), 200).Body; strings.Contains(again, m[1]) {
		t.Error("the generated password is shown again")
	}

	b.expect(b.get("/containers/101/change-plan?plan=nope"), http.StatusUnprocessableEntity, "Choose a plan")
	pv := b.expect(b.get("/containers/101/change-plan?plan=big"), 200, "Move 101 to plan big")
	if !regexp.MustCompile(`(?s)<td data-label="resource">numproc</td><td data-label="now">100</td><td data-label="on big">300</td>`).MatchString(pv.Body) ||
		!regexp.MustCompile(`(?s)<td data-label="resource">cpulimit</td><td data-label="now">not set</td><td data-label="on big">100</td>`).MatchString(pv.Body) {
		t.Errorf("the preview does not show numproc 100 -> 300 and cpulimit set:\n%s", pv.Body)
	}
	pg = b.expect(b.post("/containers/101/change-plan", url.Values{"plan": {"big"}}), http.StatusSeeOther)
	p.waitOp(strings.TrimPrefix(pg.Header.Get("Location"), "/containers/101?op="))
	if ct := p.expect(p.do(p.admin, "GET", "/api/v1/containers/101", nil), 200).json(t); ct["plan"] != "big" {
		t.Fatalf("after the page's change of plan: %v", ct["plan"])
	}

	pg = b.expect(b.post("/containers/101/shutdown", nil), http.StatusSeeOther)
	p.waitOp(strings.TrimPrefix(pg.Header.Get("Location"), "/containers/101?op="))
	if st, _ := p.app.Drv.State(ctx, "101"); st != "stopped" {
		t.Fatalf("after the page's shutdown: %s", st)
	}

	alice := p.browser()
	alice.mustLogin("alice", "alice password")
	alice.expect(alice.get("/containers/101/change-plan?plan=small"), http.StatusForbidden)
	alice.expect(alice.post("/containers/101/change-plan", url.Values{"plan": {"small"}}), http.StatusForbidden)
	if c := alice.expect(alice.get("/containers/101"), 200).Body; strings.Contains(c, "change-plan-form") {
		t.Error("alice is offered a change of plan")
	}
}
