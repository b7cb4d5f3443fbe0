package server

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBackupInterruptedByACrash kills `ctpanel serve` with SIGKILL while a
// backup of a running container is copying, and starts it again: the
// operation is taken up again and ends either as a good backup (whose
// restore into a new CTID holds the data, byte for byte) or failed, never
// as a backup listed good that is not; the container is left running,
// never frozen; the next backup to the same repository works.
func TestBackupInterruptedByACrash(t *testing.T) {
	lxcpath := requireLXC(t)
	s := newServeProc(t, lxcpath, "ctpanel-bkcrash-")
	s.start()
	repo := t.TempDir() + "/repo"
	if code, m := s.call("POST", "/api/v1/backup-targets", map[string]any{"name": "local", "kind": "dir", "path": repo}); code != 201 {
		t.Fatalf("target: %d %v", code, m)
	}
	s.mustRun("POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true})
	attach := func(script string) string {
		t.Helper()
		out, err := exec.Command("lxc-attach", "-P", lxcpath, "-n", "101", "--", "/bin/sh", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", script, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	attach("dd if=/dev/urandom of=/root/data bs=1M count=256 2>/dev/null")
	sum := attach("md5sum /root/data | cut -d' ' -f1")

	code, r := s.call("POST", "/api/v1/containers/101/backups", map[string]any{"target": "local"})
	if code != 202 {
		t.Fatalf("backup: %d %v", code, r)
	}
	id := r["backup"].(map[string]any)["id"].(string)
	opLoc := "/api/v1/operations/" + r["operation"].(map[string]any)["id"].(string)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, b := s.call("GET", "/api/v1/backups/"+id, nil)
		if done, _ := b["bytes_done"].(float64); b["status"] == "running" && done > 0 {
			t.Logf("killed at %v bytes of the first pass", done)
			break
		}
		if b["status"] == "succeeded" || b["status"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("the backup ended before it could be interrupted: %v", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	s.start()

	op := s.waitOp(opLoc)
	_, b := s.call("GET", "/api/v1/backups/"+id, nil)
	t.Logf("after the restart: operation %v (%v), backup %v (%v)", op["status"], op["error"], b["status"], b["error"])
	if out, _ := exec.Command("lxc-info", "-P", lxcpath, "-n", "101", "-s", "-H").Output(); strings.TrimSpace(string(out)) != "RUNNING" {
		t.Errorf("the container is %q after the crash, want RUNNING (never left frozen)", out)
	}
	switch b["status"] {
	case "succeeded":
		if op["status"] != "succeeded" {
			t.Fatalf("backup listed good by a failed operation: %v", op)
		}
		s.mustRun("POST", "/api/v1/backups/"+id+"/restore", map[string]any{"ctid": 150})
		out, err := exec.Command("lxc-attach", "-P", lxcpath, "-n", "150", "--", "/bin/sh", "-c", "md5sum /root/data | cut -d' ' -f1").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != sum {
			t.Fatalf("restored data: %q %v, want md5 %s", out, err, sum)
		}
	case "failed":
		if op["status"] != "failed" || b["error"] == "" {
			t.Fatalf("a failed backup without its reason: %v %v", op, b)
		}
	default:
		t.Fatalf("backup left %v", b)
	}
	// No backup is left running (listed as if it might still become
	// good) after recovery.
	_, list := s.call("GET", "/api/v1/containers/101/backups", nil)
	for _, it := range list["backups"].([]any) {
		if bb := it.(map[string]any); bb["status"] == "running" {
			t.Errorf("a backup still running after recovery: %v", bb)
		}
	}
	// A backup after the crash works: the repository's stale lock from
	// the killed run does not block it.
	s.mustRun("POST", "/api/v1/containers/101/backups", map[string]any{"target": "local"})
	s.mustRun("DELETE", "/api/v1/containers/101?force=true", nil)
	if b["status"] == "succeeded" {
		s.mustRun("DELETE", "/api/v1/containers/150?force=true", nil)
	}
}
