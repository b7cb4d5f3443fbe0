package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// TestBackupFaults: a target that cannot be written fails the backup
// cleanly (failed, with the reason; nothing listed as good) and leaves the
// container running, thawed; a restore of a backup whose data on the
// target is corrupt is refused before the container is touched.
func TestBackupFaults(t *testing.T) {
	lxcpath := requireLXC(t)
	p := newTestPanel(t, nil, lxcpath)
	base := t.TempDir()
	// A file where the target's folder should be: nothing can be made there.
	if err := os.WriteFile(filepath.Join(base, "blocked"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.expect(p.do(p.admin, "POST", "/api/v1/backup-targets", map[string]any{"name": "broken", "kind": "dir", "path": filepath.Join(base, "blocked", "repo")}), http.StatusCreated)
	p.expect(p.do(p.admin, "POST", "/api/v1/backup-targets", map[string]any{"name": "local", "kind": "dir", "path": filepath.Join(base, "repo")}), http.StatusCreated)
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true})

	r := p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/backups", map[string]any{"target": "broken"}), http.StatusAccepted).json(t)
	op := p.finished(p.admin, "/api/v1/operations/"+r["operation"].(map[string]any)["id"].(string))
	if op["status"] != "failed" {
		t.Fatalf("backup to an unwritable target: %v", op)
	}
	b := p.expect(p.do(p.admin, "GET", "/api/v1/backups/"+r["backup"].(map[string]any)["id"].(string), nil), 200).json(t)
	if b["status"] != "failed" || !strings.Contains(b["error"].(string), "broken") {
		t.Errorf("the failed backup: %v", b)
	}
	if info, err := p.app.Drv.Info(context.Background(), "101"); err != nil || info.State != lxcdriver.StateRunning {
		t.Errorf("the container after a failed backup: %+v %v", info, err)
	}

	good := p.backup(t, p.admin, "101")
	if good["status"] != "succeeded" {
		t.Fatalf("backup: %v", good)
	}
	// Corrupt every data pack on the target.
	packs := 0
	_ = filepath.Walk(filepath.Join(base, "repo", "data"), func(path string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err == nil {
				_, _ = f.WriteAt([]byte("corrupt corrupt corrupt"), 64)
				_ = f.Close()
				packs++
			}
		}
		return nil
	})
	if packs == 0 {
		t.Fatal("no data packs on the target")
	}
	if _, err := p.app.Drv.Exec(context.Background(), "101", []string{"sh", "-c", "echo still-here > /root/marker"}, lxcdriver.ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	r = p.expect(p.do(p.admin, "POST", "/api/v1/backups/"+good["id"].(string)+"/restore", map[string]any{}), http.StatusAccepted).json(t)
	op = p.finished(p.admin, "/api/v1/operations/"+r["id"].(string))
	if op["status"] != "failed" || !strings.Contains(op["error"].(string), "unchanged") {
		t.Errorf("restore of a corrupt backup: %v", op)
	}
	res, err := p.app.Drv.Exec(context.Background(), "101", []string{"cat", "/root/marker"}, lxcdriver.ExecOptions{})
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "still-here" {
		t.Errorf("the container after a refused restore: %q %v", res.Stdout, err)
	}
}
