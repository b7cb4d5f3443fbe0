package server

import (
	"net/http"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// TestBackupScheduleAPI: a container's schedule through the API, as the
// document says; a customer's own only.
func TestBackupScheduleAPI(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	_, alice := p.customer("alice")
	_, bob := p.customer("bob")
	p.expect(p.do(p.admin, "POST", "/api/v1/backup-targets", map[string]any{"name": "local", "kind": "dir", "path": t.TempDir()}), http.StatusCreated)
	if l := p.expect(p.do(p.admin, "GET", "/api/v1/backup-targets", nil), 200).json(t)["backup_targets"].([]any); len(l) != 1 {
		t.Fatalf("targets: %v", l)
	}
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "owner": "alice"})
	p.expect(p.do(alice, "GET", "/api/v1/containers/101/backup-schedule", nil), http.StatusNotFound)
	p.expect(p.do(alice, "PUT", "/api/v1/containers/101/backup-schedule", map[string]any{"target": "local", "time": "9am"}),
		http.StatusUnprocessableEntity).errorField(t, "time")
	v := p.expect(p.do(alice, "PUT", "/api/v1/containers/101/backup-schedule", map[string]any{"target": "local"}), 200).json(t)
	if v["target"] != "local" || v["time"] == "" {
		t.Fatalf("schedule: %v", v)
	}
	p.expect(p.do(bob, "PUT", "/api/v1/containers/101/backup-schedule", map[string]any{"target": "local"}), http.StatusNotFound)
	p.expect(p.do(alice, "GET", "/api/v1/containers/101/backup-schedule", nil), 200)
	p.expect(p.do(alice, "DELETE", "/api/v1/containers/101/backup-schedule", nil), http.StatusNoContent)
	p.expect(p.do(p.admin, "DELETE", "/api/v1/backup-targets/local", nil), http.StatusNoContent)
	p.expect(p.do(p.admin, "DELETE", "/api/v1/backup-targets/local", nil), http.StatusNotFound)
}
