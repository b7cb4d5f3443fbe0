package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// TestBackupAndRestoreThroughTheAPI: a running container writing a line
// every 10 ms is backed up (a pass while it runs, then a short freeze for
// the delta); the restored copy's sequence has no gap and no torn line. A
// second backup of the unchanged container stores a few percent of it.
// Restore in place keeps the CTID and limits. Another customer can see,
// restore and delete none of it; bad input names its field.
func TestBackupAndRestoreThroughTheAPI(t *testing.T) {
	lxcpath := requireLXC(t)
	p := newTestPanel(t, nil, lxcpath)
	_, alice := p.customer("alice")
	_, bob := p.customer("bob")
	dir := t.TempDir() + "/repo"

	p.expect(p.do(p.admin, "POST", "/api/v1/backup-targets", map[string]any{"name": "local", "kind": "dir", "path": "relative"}),
		http.StatusUnprocessableEntity).errorField(t, "path")
	p.expect(p.do(p.admin, "POST", "/api/v1/backup-targets", map[string]any{"name": "local", "kind": "dir", "path": dir}), http.StatusCreated)
	p.expect(p.do(alice, "POST", "/api/v1/backup-targets", map[string]any{"name": "mine", "kind": "dir", "path": dir + "2"}), http.StatusForbidden)
	p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "p200", "limits": map[string]any{"numproc": "200"}}), http.StatusCreated)
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true, "owner": "alice", "plan": "p200"})
	exec := func(script string) string {
		t.Helper()
		res, err := p.app.Drv.Exec(context.Background(), "101", []string{"/bin/sh", "-c", script}, lxcdriver.ExecOptions{})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("%s: %v %d %s %s", script, err, res.ExitCode, res.Stdout, res.Stderr)
		}
		return string(res.Stdout)
	}
	exec("dd if=/dev/urandom of=/root/big bs=1M count=32 2>/dev/null")
	exec("(i=0; while true; do i=$((i+1)); echo \"line-$i-end\" >> /root/seq; usleep 10000; done) </dev/null >/dev/null 2>&1 & echo started")
	exec("usleep 300000")

	p.expect(p.do(alice, "POST", "/api/v1/containers/101/backups", map[string]any{"target": "nowhere"}), http.StatusUnprocessableEntity).errorField(t, "target")
	first := p.backup(t, alice, "101")
	if first["status"] != "succeeded" || first["freeze_ms"] == nil || first["progress"] != float64(100) || first["bytes_done"] == nil {
		t.Fatalf("first backup: %v", first)
	}
	size, stored := first["size_bytes"].(float64), first["stored_bytes"].(float64)
	t.Logf("first backup: %.0f bytes read, %.0f stored, frozen %v ms", size, stored, first["freeze_ms"])
	if size < 32<<20 {
		t.Errorf("first backup read %.0f bytes, want the 32 MiB file at least", size)
	}
	second := p.backup(t, alice, "101")
	s2, st2 := second["size_bytes"].(float64), second["stored_bytes"].(float64)
	t.Logf("second backup: %.0f bytes read, %.0f stored (%.2f%%), frozen %v ms", s2, st2, 100*st2/s2, second["freeze_ms"])
	if st2 > 0.05*s2 {
		t.Errorf("a second backup of an unchanged container stored %.0f of %.0f bytes, want under 5%%", st2, s2)
	}

	// Another customer: nothing.
	id := second["id"].(string)
	p.expect(p.do(bob, "GET", "/api/v1/backups/"+id, nil), http.StatusNotFound)
	p.expect(p.do(bob, "POST", "/api/v1/backups/"+id+"/restore", map[string]any{}), http.StatusNotFound)
	p.expect(p.do(bob, "DELETE", "/api/v1/backups/"+id, nil), http.StatusNotFound)
	p.expect(p.do(bob, "GET", "/api/v1/containers/101/backups", nil), http.StatusNotFound)
	p.expect(p.do(p.admin, "GET", "/api/v1/backups/not-a-uuid", nil), http.StatusNotFound)
	p.expect(p.do(alice, "POST", "/api/v1/backups/"+id+"/restore", map[string]any{"ctid": 150}), http.StatusForbidden)

	// Restore in place: the sequence in the restored tree is whole.
	exec("echo after-backup > /root/marker")
	r := p.expect(p.do(alice, "POST", "/api/v1/backups/"+id+"/restore", map[string]any{}), http.StatusAccepted).json(t)
	p.waitOp(r["id"].(string))
	info, err := p.app.Drv.Info(context.Background(), "101")
	if err != nil || info.State != lxcdriver.StateRunning {
		t.Fatalf("after restore: %+v %v", info, err)
	}
	if out, _ := p.app.Drv.Exec(context.Background(), "101", []string{"cat", "/root/marker"}, lxcdriver.ExecOptions{}); len(out.Stdout) > 0 {
		t.Errorf("a file made after the backup survived the restore: %q", out.Stdout)
	}
	lines := strings.Split(strings.TrimRight(exec("cat /root/seq"), "\n"), "\n")
	if len(lines) < 10 {
		t.Fatalf("restored sequence has %d lines", len(lines))
	}
	for i, l := range lines {
		if l != "line-"+strconv.Itoa(i+1)+"-end" {
			t.Fatalf("restored sequence: line %d is %q, want line-%d-end (a gap or a torn record)", i+1, l, i+1)
		}
	}
	t.Logf("restored sequence: %d whole lines", len(lines))
	if got := exec("wc -c < /root/big"); strings.TrimSpace(got) != strconv.Itoa(32<<20) {
		t.Errorf("restored big file: %s bytes", got)
	}
	lim := p.expect(p.do(p.admin, "GET", "/api/v1/containers/101/limits", nil), 200).json(t)
	if np, _ := lim["limits"].(map[string]any)["numproc"].(map[string]any); np["limit"] != float64(200) || lim["ctid"] != float64(101) {
		t.Errorf("limits after restore: %v", lim)
	}

	// Into a new container (staff): it boots with the data, alice's.
	p.expect(p.do(p.admin, "POST", "/api/v1/backups/"+id+"/restore", map[string]any{"ctid": 101}), http.StatusAccepted) // in place, said so
	r = p.expect(p.do(p.admin, "POST", "/api/v1/backups/"+id+"/restore", map[string]any{"ctid": 150}), http.StatusAccepted).json(t)
	p.waitOp(r["id"].(string))
	if info, err := p.app.Drv.Info(context.Background(), "150"); err != nil || info.State != lxcdriver.StateRunning {
		t.Fatalf("the new container: %+v %v", info, err)
	}
	res, err := p.app.Drv.Exec(context.Background(), "150", []string{"wc", "-c", "/root/big"}, lxcdriver.ExecOptions{})
	if err != nil || !strings.HasPrefix(string(res.Stdout), strconv.Itoa(32<<20)) {
		t.Errorf("the new container's data: %q %v", res.Stdout, err)
	}
	if ct := p.expect(p.do(alice, "GET", "/api/v1/containers/150", nil), 200).json(t); ct["plan"] != "p200" {
		t.Errorf("the new container: %v, want alice's on p200", ct)
	}
	p.expect(p.do(p.admin, "POST", "/api/v1/backups/"+id+"/restore", map[string]any{"ctid": 150}), http.StatusConflict)
	p.ok(p.admin, "DELETE", "/api/v1/containers/150?force=true", nil)

	// Listing and deleting.
	if list := p.expect(p.do(alice, "GET", "/api/v1/containers/101/backups", nil), 200).json(t)["backups"].([]any); len(list) != 2 {
		t.Fatalf("alice's backups: %v", list)
	}
	p.expect(p.do(alice, "DELETE", "/api/v1/backups/"+first["id"].(string), nil), http.StatusNoContent)
	if list := p.expect(p.do(alice, "GET", "/api/v1/containers/101/backups", nil), 200).json(t)["backups"].([]any); len(list) != 1 {
		t.Fatalf("after a delete: %v", list)
	}

	// The plan's count: refused when full, then rotated (the protected
	// one stays).
	p.expect(p.doMalformed(p.admin, "PATCH", "/api/v1/plans/p200", `{"backups": {"max": 2, "when_full": "sometimes"}}`),
		http.StatusUnprocessableEntity).errorField(t, "backups.when_full")
	p.expect(p.do(p.admin, "PATCH", "/api/v1/plans/p200", map[string]any{"backups": map[string]any{"max": 2}}), http.StatusOK)
	third := p.backup(t, alice, "101")
	p.expect(p.do(alice, "POST", "/api/v1/containers/101/backups", map[string]any{"target": "local"}), http.StatusConflict)
	p.expect(p.do(p.admin, "PATCH", "/api/v1/plans/p200", map[string]any{"backups": map[string]any{"max": 2, "when_full": "rotate"}}), http.StatusOK)
	p.expect(p.do(alice, "PATCH", "/api/v1/backups/"+id, map[string]any{}), http.StatusUnprocessableEntity).errorField(t, "protected")
	if v := p.expect(p.do(alice, "PATCH", "/api/v1/backups/"+id, map[string]any{"protected": true}), http.StatusOK).json(t); v["protected"] != true {
		t.Fatalf("protect: %v", v)
	}
	p.expect(p.do(bob, "PATCH", "/api/v1/backups/"+id, map[string]any{"protected": false}), http.StatusNotFound)
	fourth := p.backup(t, alice, "101")
	var left []string
	for _, b := range p.expect(p.do(alice, "GET", "/api/v1/containers/101/backups", nil), 200).json(t)["backups"].([]any) {
		left = append(left, b.(map[string]any)["id"].(string))
	}
	if len(left) != 2 || left[0] != fourth["id"] || left[1] != id {
		t.Errorf("after rotation: %v, want the newest (%v) and the protected one (%s); %v rotated out", left, fourth["id"], id, third["id"])
	}
	// Billing reads the count and the bytes kept.
	u := p.expect(p.do(p.admin, "GET", "/api/v1/containers/101/usage", nil), 200).json(t)
	if u["backups"] != float64(2) || u["backup_stored_bytes"].(float64) != second["stored_bytes"].(float64)+fourth["stored_bytes"].(float64) {
		t.Errorf("usage: %v backups, %v stored; want 2, and what the two kept added (%v + %v)", u["backups"], u["backup_stored_bytes"], second["stored_bytes"], fourth["stored_bytes"])
	}
	p.expect(p.do(p.admin, "DELETE", "/api/v1/backup-targets/local", nil), http.StatusConflict)
}

// backup backs ref up to "local" as token and returns the finished backup.
func (p *testPanel) backup(t *testing.T, token, ref string) map[string]any {
	t.Helper()
	r := p.expect(p.do(token, "POST", "/api/v1/containers/"+ref+"/backups", map[string]any{"target": "local"}), http.StatusAccepted).json(t)
	p.waitOp(r["operation"].(map[string]any)["id"].(string))
	return p.expect(p.do(token, "GET", "/api/v1/backups/"+r["backup"].(map[string]any)["id"].(string), nil), 200).json(t)
}
