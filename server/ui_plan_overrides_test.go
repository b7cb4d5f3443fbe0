package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestUIPlanEditKeepsOverrides: the plan page says how many containers
// have limits of their own and offers to reset them; a save keeps them
// unless asked, and says how many containers changed.
func TestUIPlanEditKeepsOverrides(t *testing.T) {
	p := uiFarm(t)
	p.expect(p.do(p.admin, "PATCH", "/api/v1/containers/101/limits", map[string]any{"numproc": "150"}), http.StatusAccepted)
	b := p.browser()
	b.mustLogin("ops", "correct horse")
	b.expect(b.get("/plans/small"), 200, "1 of them have limits of their own", `name="reset_overrides"`)
	pg := b.expect(b.post("/plans/small", url.Values{"description": {"small"}, "numproc": {"120"}, "network.present": {"1"}}), http.StatusSeeOther)
	loc := pg.Header.Get("Location")
	if loc != "/plans?done=updated&changed=0&kept=0" {
		t.Fatalf("a save that changes no container (101 keeps its own numproc): went to %q", loc)
	}
	numproc := func() float64 {
		lim := p.expect(p.do(p.admin, "GET", "/api/v1/containers/101/limits", nil), 200).json(t)
		return lim["limits"].(map[string]any)["numproc"].(map[string]any)["limit"].(float64)
	}
	if n := numproc(); n != 150 {
		t.Fatalf("101's own numproc after the plan edit: %v, want its 150", n)
	}
	pg = b.expect(b.post("/plans/small", url.Values{"description": {"small"}, "numproc": {"120"}, "network.present": {"1"}, "reset_overrides": {"1"}}), http.StatusSeeOther)
	if loc := pg.Header.Get("Location"); loc != "/plans?done=updated&changed=1&kept=0" {
		t.Fatalf("a reset: went to %q", loc)
	}
	if !strings.Contains(b.expect(b.get("/plans?done=updated&changed=1&kept=0"), 200).Body, "the limits of 1 container(s) change") {
		t.Error("the plans page does not say how many containers changed")
	}
	if n := numproc(); n != 120 {
		t.Fatalf("101's numproc after the reset: %v, want the plan's 120", n)
	}
	if strings.Contains(b.expect(b.get("/plans/small"), 200).Body, `name="reset_overrides"`) {
		t.Error("reset offered with no overrides left")
	}
}
