package server

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/domain/templates"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// rootfsTarball makes a small .tar.gz holding the given files (path to
// content); a path ending in "/" is a directory.
func rootfsTarball(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		h := &tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestTemplateUploadAndManagement: staff upload a rootfs tarball into the
// template cache over the API; bad uploads are refused and leave nothing;
// a disabled template cannot be used and customers do not see it; delete
// removes the file.
func TestTemplateUploadAndManagement(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	_, alice := p.customer("alice")
	cache := p.app.Cfg.TemplateCacheDir()
	good := rootfsTarball(t, map[string]string{"./bin/": "", "./bin/sh": "#!", "./etc/hostname": "x\n"})

	cacheFiles := func() []string {
		entries, _ := os.ReadDir(cache)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}

	// Refused uploads, each naming its reason, and none leaves a file.
	for _, c := range []struct {
		name, path, body, field, reason string
	}{
		{"not gzip", "/api/v1/templates/deb12", "just text", "body", "not gzip"},
		{"gzip, not tar", "/api/v1/templates/deb12", string(gzipOf(t, []byte("plain text, not a tar archive at all, long enough to fail the header"))), "body", "tar"},
		{"no init", "/api/v1/templates/deb12", string(rootfsTarball(t, map[string]string{"etc/motd": "hi"})), "body", "not a root file system"},
		{"escapes", "/api/v1/templates/deb12", string(rootfsTarball(t, map[string]string{"bin/sh": "#!", "../../etc/cron.d/x": "boom"})), "body", "outside its root"},
		{"empty body", "/api/v1/templates/deb12", "", "body", "empty"},
		{"bad name", "/api/v1/templates/-deb", string(good), "name", "start with a letter"},
		{"tar.gz name", "/api/v1/templates/deb12.tar.gz", string(good), "name", "without .tar.gz"},
		{"bad enabled", "/api/v1/templates/deb12?enabled=maybe", string(good), "enabled", "true or false"},
	} {
		// Malformed on purpose: only the answers are checked against the document.
		r := p.expect(p.doWith(http.Header{"Content-Type": {"application/gzip"}, malformedHeader: {"1"}}, p.admin, "PUT", c.path, c.body), http.StatusUnprocessableEntity)
		if got := r.errorField(t, c.field); !strings.Contains(got, c.reason) {
			t.Errorf("%s: %s is %q, want it to say %q", c.name, c.field, got, c.reason)
		}
	}
	if files := cacheFiles(); len(files) != 0 {
		t.Fatalf("refused uploads left %v in the template cache", files)
	}
	p.expect(p.do(p.admin, "GET", "/api/v1/templates/deb12", nil), http.StatusNotFound)

	// Customers may not upload, change or delete.
	p.expect(p.upload(alice, "/api/v1/templates/deb12", string(good)), http.StatusForbidden)
	p.expect(p.do(alice, "PATCH", "/api/v1/templates/busybox", map[string]any{"enabled": false}), http.StatusForbidden)
	p.expect(p.do(alice, "DELETE", "/api/v1/templates/busybox", nil), http.StatusForbidden)
	// busybox is liblxc's template script, not a tarball: it cannot be
	// replaced or deleted, only disabled.
	p.expect(p.upload(p.admin, "/api/v1/templates/busybox", string(good)), http.StatusConflict)
	p.expect(p.do(p.admin, "DELETE", "/api/v1/templates/busybox", nil), http.StatusConflict)
	// A body announced over the limit is refused before it is read.
	if status := rawPut(t, p, "/api/v1/templates/huge", templates.MaxBytes+1); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("announced 16 GiB + 1: %d", status)
	}

	// A good upload: 201, the file in the cache, usable at once.
	r := p.expect(p.upload(p.admin, "/api/v1/templates/deb12?description=Debian+12", string(good)), http.StatusCreated)
	tv := r.json(t)
	if tv["kind"] != "tarball" || tv["enabled"] != true || tv["description"] != "Debian 12" || tv["size_bytes"] != float64(len(good)) {
		t.Fatalf("uploaded template: %v", tv)
	}
	if r.Header.Get("Location") != "/api/v1/templates/deb12" {
		t.Fatalf("Location %q", r.Header.Get("Location"))
	}
	if b, err := os.ReadFile(filepath.Join(cache, "deb12.tar.gz")); err != nil || !bytes.Equal(b, good) {
		t.Fatalf("template cache file: %v", err)
	}
	if files := cacheFiles(); len(files) != 1 {
		t.Fatalf("template cache holds %v", files)
	}
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "deb12", "owner": "alice"})

	// Replacing it: 200, the description kept.
	good2 := rootfsTarball(t, map[string]string{"sbin/init": "#!", "etc/debian_version": "12.8\n"})
	tv = p.expect(p.upload(p.admin, "/api/v1/templates/deb12", string(good2)), http.StatusOK).json(t)
	if tv["description"] != "Debian 12" || tv["size_bytes"] != float64(len(good2)) || tv["containers"] != float64(1) {
		t.Fatalf("replaced template: %v", tv)
	}
	if fi, err := os.Stat(filepath.Join(cache, "deb12.tar.gz")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("template file: %v %v (want 0600: root only)", fi, err)
	}
	// Customers see the template, but not how much of the farm uses it.
	if tv := p.expect(p.do(alice, "GET", "/api/v1/templates/deb12", nil), 200).json(t); tv["containers"] != nil {
		t.Fatalf("a customer sees the farm's count: %v", tv)
	}
	// Replaced disabled, then enabled again by the next upload that says so.
	if tv := p.expect(p.upload(p.admin, "/api/v1/templates/deb12?enabled=false", string(good2)), 200).json(t); tv["enabled"] != false {
		t.Fatalf("replaced with enabled=false: %v", tv)
	}
	if tv := p.expect(p.upload(p.admin, "/api/v1/templates/deb12", string(good2)), 200).json(t); tv["enabled"] != false {
		t.Fatalf("a replacement without enabled changed it: %v", tv)
	}
	if tv := p.expect(p.upload(p.admin, "/api/v1/templates/deb12?enabled=true", string(good2)), 200).json(t); tv["enabled"] != true {
		t.Fatalf("replaced with enabled=true: %v", tv)
	}

	// A tarball gone from the cache behind the panel's back: the
	// reinstall fails before it touches the container.
	if err := os.Rename(filepath.Join(cache, "deb12.tar.gz"), filepath.Join(cache, "deb12.away")); err != nil {
		t.Fatal(err)
	}
	op := p.run(alice, "POST", "/api/v1/containers/101/reinstall", map[string]any{"template": "deb12"})
	if op["status"] != "failed" || !strings.Contains(op["error"].(string), "unchanged") {
		t.Fatalf("reinstall from a missing tarball: %v", op)
	}
	if c := p.expect(p.do(alice, "GET", "/api/v1/containers/101", nil), 200).json(t); c["status"] != "stopped" || c["phase"] != "ready" {
		t.Fatalf("container after the refused reinstall: %v", c)
	}
	if err := os.Rename(filepath.Join(cache, "deb12.away"), filepath.Join(cache, "deb12.tar.gz")); err != nil {
		t.Fatal(err)
	}

	// Disabled: staff still see it, customers do not, nobody creates from it.
	tv = p.expect(p.do(p.admin, "PATCH", "/api/v1/templates/deb12", map[string]any{"enabled": false}), http.StatusOK).json(t)
	if tv["enabled"] != false || tv["description"] != "Debian 12" {
		t.Fatalf("disabled template: %v", tv)
	}
	p.expect(p.doMalformed(p.admin, "PATCH", "/api/v1/templates/deb12", map[string]any{"enabled": "no"}), http.StatusBadRequest)
	p.expect(p.do(p.admin, "PATCH", "/api/v1/templates/nope", map[string]any{"enabled": true}), http.StatusNotFound)
	if got := p.expect(p.do(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 102, "template": "deb12"}), 422).errorField(t, "template"); !strings.Contains(got, "deb12") {
		t.Fatalf("create from a disabled template: %q", got)
	}
	p.expect(p.do(alice, "POST", "/api/v1/containers/101/reinstall", map[string]any{"template": "deb12"}), 422)
	p.expect(p.do(alice, "GET", "/api/v1/templates/deb12", nil), http.StatusNotFound)
	for _, tok := range []string{alice, p.admin} {
		list := p.expect(p.do(tok, "GET", "/api/v1/templates", nil), http.StatusOK).json(t)["templates"].([]any)
		var names []string
		for _, x := range list {
			names = append(names, x.(map[string]any)["name"].(string))
		}
		want := "busybox deb12"
		if tok == alice {
			want = "busybox"
		}
		if strings.Join(names, " ") != want {
			t.Errorf("templates listed: %v, want %s", names, want)
		}
	}

	// A restart's scan of the cache leaves staff's changes alone, and
	// removes what an interrupted upload left.
	if err := os.WriteFile(filepath.Join(cache, ".upload-deb13-123"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.app.scanTemplateCache(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tv := p.expect(p.do(p.admin, "GET", "/api/v1/templates/deb12", nil), 200).json(t); tv["enabled"] != false {
		t.Fatalf("the start-up scan re-enabled a disabled template: %v", tv)
	}
	if files := cacheFiles(); len(files) != 1 {
		t.Fatalf("after the scan the template cache holds %v", files)
	}

	// Delete: the row and the file go; the container made from it stays.
	p.expect(p.do(p.admin, "DELETE", "/api/v1/templates/deb12", nil), http.StatusNoContent)
	p.expect(p.do(p.admin, "DELETE", "/api/v1/templates/deb12", nil), http.StatusNotFound)
	if files := cacheFiles(); len(files) != 0 {
		t.Fatalf("after delete the template cache holds %v", files)
	}
	if c := p.expect(p.do(alice, "GET", "/api/v1/containers/101", nil), 200).json(t); c["template"] != "deb12" {
		t.Fatalf("container after its template was deleted: %v", c)
	}
}

func gzipOf(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// upload PUTs a template tarball.
func (p *testPanel) upload(token, path, tarball string) response {
	p.t.Helper()
	return p.doWith(http.Header{"Content-Type": {"application/gzip"}}, token, "PUT", path, tarball)
}

// rawPut sends a PUT announcing a body of n bytes without sending it, and
// returns the status the panel answers with.
func rawPut(t *testing.T, p *testPanel, path string, n int64) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", path, p.admin, n)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return res.StatusCode
}
