package server

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// TestDiskFull (hardening point 3): with the template store's file system
// full, an upload answers 507 naming what is full and leaves nothing
// behind, /healthz answers 503 disk_full naming the file system, and
// /metrics says ctpanel_disk_full 1 for it; once space is freed, all is
// well again. The store is a 64 MiB tmpfs of the test's own.
func TestDiskFull(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	dir := p.app.Cfg.TemplateCacheDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("ctpanel-test", dir, "tmpfs", 0, "size=64m,mode=0700"); err != nil {
		t.Fatalf("mount a tmpfs for the template store (needs root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })

	health := func() map[string]any {
		t.Helper()
		r := p.do("", "GET", "/healthz", nil)
		m := r.json(t)
		m["http_status"] = r.Status
		return m
	}
	disk := func(h map[string]any, name string) map[string]any {
		disks, _ := h["disks"].([]any)
		for _, d := range disks {
			if m, _ := d.(map[string]any); m["name"] == name {
				return m
			}
		}
		t.Fatalf("no disk %q in /healthz: %v", name, h)
		return nil
	}
	if h := health(); h["http_status"] != 200 || h["status"] != "ok" || disk(h, "templates")["full"] != false {
		t.Fatalf("before filling: %v", h)
	}

	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{1}, 1<<20)
	for {
		if _, err := filler.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling: %v", err)
			}
			break
		}
	}
	filler.Close()

	h := health()
	d := disk(h, "templates")
	if h["http_status"] != http.StatusServiceUnavailable || h["status"] != "disk_full" || d["full"] != true || d["path"] != dir {
		t.Fatalf("/healthz with the template store full: %v", h)
	}
	if w, _ := h["warnings"].(map[string]any); w == nil || !strings.Contains(w["disk.templates"].(string), "is full") {
		t.Fatalf("/healthz warnings: %v", h["warnings"])
	}
	metrics := string(p.expect(p.do(p.admin, "GET", "/metrics", nil), 200).Body)
	if want := `ctpanel_disk_full{path="` + dir + `",volume="templates"} 1`; !strings.Contains(metrics, want) {
		t.Fatalf("/metrics lacks %s", want)
	}

	body := make([]byte, 2<<20)
	_, _ = rand.Read(body)
	r := p.do(p.admin, "PUT", "/api/v1/templates/big", string(body))
	e := r.json(t)["error"].(map[string]any)
	if r.Status != http.StatusInsufficientStorage || e["code"] != "insufficient_storage" || !strings.Contains(e["message"].(string), dir) ||
		e["fields"].(map[string]any)["body"] == nil {
		t.Fatalf("upload to a full store: %d %s", r.Status, r.Body)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left in the store after the failed upload: %v", entries)
	}
	p.expect(p.do(p.admin, "GET", "/api/v1/templates/big", nil), http.StatusNotFound)

	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	if h := health(); h["http_status"] != 200 || h["status"] != "ok" || disk(h, "templates")["full"] != false {
		t.Fatalf("after freeing space: %v", h)
	}
}
