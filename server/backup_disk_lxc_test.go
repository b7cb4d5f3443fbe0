package server

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// TestBackupOfContainerOnItsOwnDisk: a container on a disk of its own
// (a plan with diskspace) is backed up while it runs (a second mount of
// its filesystem, frozen for the delta) and while stopped (its image
// mounted read-only); restores in place and into a new CTID keep the
// disk, its size and the files' owners as the container sees them, and
// leave no mount behind.
func TestBackupOfContainerOnItsOwnDisk(t *testing.T) {
	lxcpath := requireLXC(t)
	p := newTestPanel(t, nil, lxcpath)
	_, alice := p.customer("alice")
	p.expect(p.do(p.admin, "POST", "/api/v1/backup-targets", map[string]any{"name": "local", "kind": "dir", "path": t.TempDir() + "/repo"}), http.StatusCreated)
	p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "disk", "limits": map[string]any{"numproc": "200", "diskspace": "128M"}}), http.StatusCreated)
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true, "owner": "alice", "plan": "disk"})
	ctx := context.Background()
	exec := func(ct, script string) string {
		t.Helper()
		res, err := p.app.Drv.Exec(ctx, ct, []string{"/bin/sh", "-c", script}, lxcdriver.ExecOptions{})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("%s in %s: %v %d %s %s", script, ct, err, res.ExitCode, res.Stdout, res.Stderr)
		}
		return strings.TrimSpace(string(res.Stdout))
	}
	onDisk := func(ct string) lxcdriver.DiskUsage {
		t.Helper()
		dd, ok := p.app.Drv.(lxcdriver.DiskDriver)
		if !ok {
			t.Fatal("the driver has no disks")
		}
		u, err := dd.DiskUsage(ctx, ct)
		if err != nil || !u.Loop {
			t.Fatalf("container %s: %+v %v, want a disk of its own", ct, u, err)
		}
		return u
	}
	noMountLeft := func() {
		t.Helper()
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "/run/ctpanel/backup/") || strings.Contains(l, "/run/ctpanel/restore/") {
				t.Errorf("a mount was left behind: %s", l)
			}
		}
	}
	size := onDisk("101").SizeBytes
	exec("101", "dd if=/dev/urandom of=/root/big bs=1M count=16 2>/dev/null; echo mine > /root/owned; chown 1000:1000 /root/owned")
	exec("101", "(i=0; while true; do i=$((i+1)); echo \"line-$i-end\" >> /root/seq; usleep 10000; done) </dev/null >/dev/null 2>&1 & echo started")
	exec("101", "usleep 300000")

	first := p.backup(t, alice, "101")
	if first["status"] != "succeeded" || first["freeze_ms"] == nil {
		t.Fatalf("backup of a running container on its disk: %v", first)
	}
	t.Logf("running, on its disk: %.0f bytes read, %.0f stored, frozen %v ms", first["size_bytes"], first["stored_bytes"], first["freeze_ms"])
	if first["size_bytes"].(float64) < 16<<20 {
		t.Errorf("the backup read %.0f bytes, want the 16 MiB file at least", first["size_bytes"])
	}
	noMountLeft()
	second := p.backup(t, alice, "101")
	if s2, st2 := second["size_bytes"].(float64), second["stored_bytes"].(float64); second["status"] != "succeeded" || st2 > 0.05*s2 {
		t.Errorf("second backup of the unchanged disk: %v (stored %.0f of %.0f), want under 5%%", second["status"], st2, s2)
	}

	// Stopped: the image mounted read-only, no freeze.
	p.ok(p.admin, "POST", "/api/v1/containers/101/stop", nil)
	cold := p.backup(t, alice, "101")
	if cold["status"] != "succeeded" || cold["freeze_ms"] != nil {
		t.Fatalf("backup of a stopped container on its disk: %v", cold)
	}
	noMountLeft()
	p.ok(p.admin, "POST", "/api/v1/containers/101/start", nil)

	// In place: the sequence whole, later files gone, the disk and its
	// size, limits and owners as they were.
	exec("101", "echo after-backup > /root/marker")
	r := p.expect(p.do(alice, "POST", "/api/v1/backups/"+second["id"].(string)+"/restore", map[string]any{}), http.StatusAccepted).json(t)
	p.waitOp(r["id"].(string))
	if info, err := p.app.Drv.Info(ctx, "101"); err != nil || info.State != lxcdriver.StateRunning {
		t.Fatalf("after restore: %+v %v", info, err)
	}
	if out := exec("101", "cat /root/marker 2>/dev/null || true"); out != "" {
		t.Errorf("a file made after the backup survived the restore: %q", out)
	}
	lines := strings.Split(exec("101", "cat /root/seq"), "\n")
	for i, l := range lines {
		if l != "line-"+strconv.Itoa(i+1)+"-end" {
			t.Fatalf("restored sequence: line %d is %q (a gap or a torn record)", i+1, l)
		}
	}
	t.Logf("restored sequence: %d whole lines", len(lines))
	if got := exec("101", "wc -c < /root/big"); got != strconv.Itoa(16<<20) {
		t.Errorf("restored big file: %s bytes", got)
	}
	if got := exec("101", "stat -c %u:%g /root/owned / /root"); got != "1000:1000\n0:0\n0:0" {
		t.Errorf("owners inside after restore: %q, want 1000:1000, then root's", got)
	}
	if u := onDisk("101"); u.SizeBytes != size {
		t.Errorf("disk after restore: %d bytes, want %d as before", u.SizeBytes, size)
	}
	lim := p.expect(p.do(p.admin, "GET", "/api/v1/containers/101/limits", nil), 200).json(t)
	if np, _ := lim["limits"].(map[string]any)["numproc"].(map[string]any); np["limit"] != float64(200) {
		t.Errorf("limits after restore: %v", lim)
	}
	noMountLeft()

	// Into a new CTID: its own block of host ids, the same owners inside.
	r = p.expect(p.do(p.admin, "POST", "/api/v1/backups/"+cold["id"].(string)+"/restore", map[string]any{"ctid": 150}), http.StatusAccepted).json(t)
	p.waitOp(r["id"].(string))
	if info, err := p.app.Drv.Info(ctx, "150"); err != nil || info.State != lxcdriver.StateRunning {
		t.Fatalf("the new container: %+v %v", info, err)
	}
	onDisk("150")
	if got := exec("150", "cat /root/owned; stat -c %u:%g /root/owned /"); got != "mine\n1000:1000\n0:0" {
		t.Errorf("the new container's file and owners: %q", got)
	}
	if got := exec("150", "wc -c < /root/big"); got != strconv.Itoa(16<<20) {
		t.Errorf("the new container's big file: %s bytes", got)
	}
	noMountLeft()
	p.ok(p.admin, "DELETE", "/api/v1/containers/150?force=true", nil)
}
