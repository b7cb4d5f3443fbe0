package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// TestSnapshotsThroughTheAPI: a running container's snapshot, rolled back
// after a change, brings its files back; a second snapshot past the
// plan's one is refused, as is a name taken or malformed; another
// customer reaches none of it; a snapshot's target is no backup target.
func TestSnapshotsThroughTheAPI(t *testing.T) {
	lxcpath := requireLXC(t)
	p := newTestPanel(t, nil, lxcpath)
	_, alice := p.customer("alice")
	_, bob := p.customer("bob")
	p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "one-snap", "backups": map[string]any{"snapshots": map[string]any{"max": 1, "max_age_hours": 24}}}), http.StatusCreated)
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true, "owner": "alice", "plan": "one-snap"})
	exec := func(script string) string {
		t.Helper()
		res, err := p.app.Drv.Exec(context.Background(), "101", []string{"/bin/sh", "-c", script}, lxcdriver.ExecOptions{})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("%s: %v %s %s", script, err, res.Stdout, res.Stderr)
		}
		return string(res.Stdout)
	}
	exec("echo before > /etc/motd")
	p.expect(p.do(alice, "POST", "/api/v1/containers/101/snapshots", map[string]any{"name": "../x"}), http.StatusUnprocessableEntity).errorField(t, "name")
	r := p.expect(p.do(alice, "POST", "/api/v1/containers/101/snapshots", map[string]any{"name": "before-upgrade"}), http.StatusAccepted).json(t)
	p.waitOp(r["operation"].(map[string]any)["id"].(string))
	list := p.expect(p.do(alice, "GET", "/api/v1/containers/101/snapshots", nil), 200).json(t)["snapshots"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["name"] != "before-upgrade" || list[0].(map[string]any)["status"] != "succeeded" {
		t.Fatalf("snapshots: %v", list)
	}
	t.Logf("snapshot: frozen %v ms, %v bytes new", list[0].(map[string]any)["freeze_ms"], list[0].(map[string]any)["stored_bytes"])
	p.expect(p.do(alice, "POST", "/api/v1/containers/101/snapshots", map[string]any{"name": "second"}), http.StatusConflict)
	p.expect(p.do(bob, "GET", "/api/v1/containers/101/snapshots", nil), http.StatusNotFound)
	p.expect(p.do(bob, "POST", "/api/v1/containers/101/snapshots/before-upgrade/rollback", nil), http.StatusNotFound)
	p.expect(p.do(alice, "POST", "/api/v1/containers/101/backups", map[string]any{"target": "_snapshots"}), http.StatusUnprocessableEntity).errorField(t, "target")
	if l := p.expect(p.do(p.admin, "GET", "/api/v1/backup-targets", nil), 200).json(t)["backup_targets"].([]any); len(l) != 0 {
		t.Errorf("the snapshots' target is listed as a backup target: %v", l)
	}

	exec("echo after > /etc/motd; rm -f /bin/vi")
	r = p.expect(p.do(alice, "POST", "/api/v1/containers/101/snapshots/before-upgrade/rollback", nil), http.StatusAccepted).json(t)
	p.waitOp(r["id"].(string))
	if got := strings.TrimSpace(exec("cat /etc/motd; test -e /bin/vi && echo vi")); got != "before\nvi" {
		t.Errorf("after the rollback: %q", got)
	}
	p.expect(p.do(alice, "DELETE", "/api/v1/containers/101/snapshots/before-upgrade", nil), http.StatusNoContent)
	p.expect(p.do(alice, "DELETE", "/api/v1/containers/101/snapshots/before-upgrade", nil), http.StatusNotFound)
	r = p.expect(p.do(alice, "POST", "/api/v1/containers/101/snapshots", map[string]any{"name": "second"}), http.StatusAccepted).json(t)
	p.waitOp(r["operation"].(map[string]any)["id"].(string))
}
