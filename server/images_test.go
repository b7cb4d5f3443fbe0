package server

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// debianFixture is a Debian-like root file system: what first boot looks
// at (os-release, ifupdown) and an init.
func debianFixture(t *testing.T, marker string) []byte {
	return rootfsTarball(t, map[string]string{
		"./etc/os-release":         "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12\"\n",
		"./sbin/init":              "#!",
		"./sbin/ifup":              "elf",
		"./bin/sh":                 "#!",
		"./etc/network/interfaces": "source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\n",
		"./etc/ctpanel-fixture":    marker,
	})
}

// tarWith makes a .tar.gz of raw headers (device nodes, links).
func tarWith(t *testing.T, headers ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range headers {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// waitTask follows an image task to its end.
func (p *testPanel) waitTask(id string, limit time.Duration) map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		task := p.expect(p.do(p.admin, "GET", "/api/v1/image-tasks/"+id, nil), 200).json(p.t)
		if task["status"] != "running" {
			return task
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("image task %s still running after %s: %v", id, limit, task)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestImageVersions: versions uploaded, checked and hashed; new
// containers get the newest, reinstall picks one; a version containers
// were made from cannot be deleted; bad archives are refused naming why,
// leaving nothing.
func TestImageVersions(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	_, alice := p.customer("alice")
	store := filepath.Join(p.app.Cfg.TemplateCacheDir(), "images")
	up := func(token, name string, body []byte) response {
		return p.doWith(http.Header{"Content-Type": {"application/octet-stream"}}, token, "POST", "/api/v1/templates/"+name+"/versions", string(body))
	}

	for _, c := range []struct {
		name   string
		body   []byte
		reason string
	}{
		{"garbage", []byte("not an archive at all"), "not gzip, xz or zstd"},
		{"escaping path", rootfsTarball(t, map[string]string{"sbin/init": "#!", "../../etc/cron.d/x": "boom"}), "outside its root"},
		{"device node", tarWith(t, &tar.Header{Name: "sbin/init", Typeflag: tar.TypeReg, Mode: 0o755, Size: 2},
			&tar.Header{Name: "dev/sda", Typeflag: tar.TypeBlock, Mode: 0o600, Devmajor: 8}), "device node"},
		{"escaping hard link", tarWith(t, &tar.Header{Name: "sbin/init", Typeflag: tar.TypeReg, Mode: 0o755, Size: 2},
			&tar.Header{Name: "etc/x", Typeflag: tar.TypeLink, Linkname: "../../etc/shadow"}), "hard link outside"},
		{"no init", rootfsTarball(t, map[string]string{"etc/motd": "hi"}), "no init"},
	} {
		r := p.expect(p.doWith(http.Header{"Content-Type": {"application/octet-stream"}, malformedHeader: {"1"}}, p.admin, "POST",
			"/api/v1/templates/deb/versions", string(c.body)), http.StatusUnprocessableEntity)
		if got := r.errorField(t, "body"); !strings.Contains(got, c.reason) {
			t.Errorf("%s: body is %q, want it to say %q", c.name, got, c.reason)
		}
	}
	if entries, _ := os.ReadDir(store); len(entries) != 0 {
		t.Fatalf("refused archives left %d entries in the image store", len(entries))
	}
	p.expect(p.do(p.admin, "GET", "/api/v1/templates/deb", nil), http.StatusNotFound)
	p.expect(up(alice, "deb", debianFixture(t, "1")), http.StatusForbidden)
	p.expect(up(p.admin, "busybox", debianFixture(t, "1")), http.StatusConflict)

	v1body := debianFixture(t, "1")
	r1 := p.expect(up(p.admin, "deb", v1body), http.StatusCreated).json(t)
	v1 := r1["version"].(string)
	img := r1["template"].(map[string]any)
	vers := img["versions"].([]any)
	if img["distribution"] != "debian" || img["release"] != "12" || img["origin"] != "uploaded" || len(vers) != 1 ||
		vers[0].(map[string]any)["sha256"] != sha256Hex(v1body) {
		t.Fatalf("first version: %v", img)
	}
	time.Sleep(1100 * time.Millisecond) // versions are named by the second
	r2 := p.expect(up(p.admin, "deb", debianFixture(t, "2")), http.StatusCreated).json(t)
	v2 := r2["version"].(string)
	if v2 == v1 || r2["template"].(map[string]any)["version"] != v2 {
		t.Fatalf("second version %s (first %s): %v", v2, v1, r2["template"])
	}

	// A pool for the container's address; created from the newest.
	p.expect(p.do(p.admin, "POST", "/api/v1/ip-pools", map[string]any{"name": "p", "cidr": "198.18.60.0/24", "default": true,
		"nameservers": []string{"198.18.60.53"}}), http.StatusCreated)
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "deb", "hostname": "vps.example.com",
		"ip_addresses": []string{"auto"}, "owner": "alice"})
	ct := p.expect(p.do(alice, "GET", "/api/v1/containers/101", nil), 200).json(t)
	if ct["image_version"] != v2 || ct["guest_os"] != "debian 12 (ifupdown)" {
		t.Fatalf("container: image_version %v guest_os %v, want %s and debian 12 (ifupdown)", ct["image_version"], ct["guest_os"], v2)
	}
	read := func(path string) string {
		b, err := p.app.Drv.(lxcdriver.FileReader).ReadFile(context.Background(), "101", path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return string(b)
	}
	if f := read("/etc/network/interfaces"); !strings.Contains(f, "address 198.18.60.1/32") || !strings.HasPrefix(f, "source /etc/network/interfaces.d/*") {
		t.Errorf("interfaces:\n%s", f)
	}
	if f := read("/etc/ctpanel-fixture"); f != "2" {
		t.Errorf("made from %q, want the newest version", f)
	}
	// An address added: the guest's file follows.
	p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/ip-addresses", map[string]any{"address": "198.18.60.9"}), http.StatusAccepted)
	waitFor(t, func() bool { return strings.Contains(read("/etc/network/interfaces"), "address 198.18.60.9/32") })

	// Reinstall to the older version: bad version refused first.
	if f := p.expect(p.do(alice, "POST", "/api/v1/containers/101/reinstall", map[string]any{"template": "deb", "version": "19990101-000000"}),
		http.StatusUnprocessableEntity).errorField(t, "version"); f == "" {
		t.Error("unknown version: no version field")
	}
	p.ok(alice, "POST", "/api/v1/containers/101/reinstall", map[string]any{"template": "deb", "version": v1})
	if ct := p.expect(p.do(alice, "GET", "/api/v1/containers/101", nil), 200).json(t); ct["image_version"] != v1 || read("/etc/ctpanel-fixture") != "1" {
		t.Fatalf("reinstalled to %v (%q), want %s", ct["image_version"], read("/etc/ctpanel-fixture"), v1)
	}
	// v1 has a container: kept. v2 has none: removable, and then v1 is
	// the only version.
	p.expect(p.do(p.admin, "DELETE", "/api/v1/templates/deb/versions/"+v1, nil), http.StatusConflict)
	p.expect(p.do(alice, "DELETE", "/api/v1/templates/deb/versions/"+v2, nil), http.StatusForbidden)
	p.expect(p.do(p.admin, "DELETE", "/api/v1/templates/deb/versions/"+v2, nil), http.StatusNoContent)
	p.expect(p.do(p.admin, "DELETE", "/api/v1/templates/deb/versions/"+v2, nil), http.StatusNotFound)
	p.expect(p.do(p.admin, "DELETE", "/api/v1/templates/deb/versions/"+v1, nil), http.StatusConflict)
	if files, _ := filepath.Glob(filepath.Join(store, "deb", "*")); len(files) != 1 {
		t.Fatalf("image store holds %v, want v1's file only", files)
	}

	// A distribution the panel does not know: made, nothing but the
	// hostname, resolver and credentials written, and a note.
	gentoo := rootfsTarball(t, map[string]string{"./etc/os-release": "ID=gentoo\n", "./sbin/init": "#!"})
	p.expect(p.upload(p.admin, "/api/v1/templates/gentoo", string(gentoo)), http.StatusCreated)
	op := p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 102, "template": "gentoo", "ip_addresses": []string{"auto"}})
	if note, _ := op["note"].(string); !strings.Contains(note, "unknown distribution") || !strings.Contains(note, "gentoo") {
		t.Errorf("operation note %q, want it to name the unknown distribution", note)
	}
	if _, err := p.app.Drv.(lxcdriver.FileReader).ReadFile(context.Background(), "102", "/etc/network/interfaces"); err == nil {
		t.Error("network files written into an unknown distribution")
	}
	if ct := p.expect(p.do(p.admin, "GET", "/api/v1/containers/102", nil), 200).json(t); ct["guest_os"] != "" {
		t.Errorf("guest_os %v for an unknown distribution", ct["guest_os"])
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// simplestreamsTree writes a tree with products whose files are rootfs;
// corrupt products' index gives a wrong sha256.
func simplestreamsTree(t *testing.T, dir string, rootfs []byte) {
	t.Helper()
	meta := rootfsTarball(t, map[string]string{"metadata.yaml": "architecture: x86_64\ncreation_date: 1733356800\nproperties:\n  description: Debian bookworm amd64 (test build)\n  os: debian\n  release: bookworm\n"})
	write := func(rel string, b []byte) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	item := func(ftype, path string, b []byte, sum string) map[string]any {
		return map[string]any{"ftype": ftype, "path": path, "size": len(b), "sha256": sum}
	}
	write("images/debian/bookworm/root.tar.xz", rootfs) // gzip inside: the name is the index's business
	write("images/debian/bookworm/lxd.tar.xz", meta)
	products := map[string]any{
		"debian:bookworm:amd64:default": map[string]any{"os": "Debian", "release": "bookworm", "arch": "amd64", "variant": "default",
			"versions": map[string]any{
				"20241201_05:24": map[string]any{"items": map[string]any{
					"root.tar.xz": item("root.tar.xz", "images/debian/bookworm/root.tar.xz", rootfs, sha256Hex(rootfs)),
					"lxd.tar.xz":  item("lxd.tar.xz", "images/debian/bookworm/lxd.tar.xz", meta, sha256Hex(meta)),
				}},
				"20241130_05:24": map[string]any{"items": map[string]any{
					"root.tar.xz": item("root.tar.xz", "images/debian/bookworm/root.tar.xz", rootfs, strings.Repeat("0", 64)),
				}},
			}},
		"debian:bookworm:amd64:corrupt": map[string]any{"os": "Debian", "release": "bookworm", "arch": "amd64", "variant": "corrupt",
			"versions": map[string]any{"20241201_05:24": map[string]any{"items": map[string]any{
				"root.tar.xz": item("root.tar.xz", "images/debian/bookworm/root.tar.xz", rootfs, sha256Hex(append([]byte("x"), rootfs...))),
			}}}},
		"plan9:4:amd64:default": map[string]any{"os": "Plan9", "release": "4", "arch": "amd64", "variant": "default",
			"versions": map[string]any{"1": map[string]any{"items": map[string]any{
				"root.tar.xz": item("root.tar.xz", "images/debian/bookworm/root.tar.xz", rootfs, sha256Hex(rootfs)),
			}}}},
	}
	b, _ := json.Marshal(map[string]any{"format": "products:1.0", "datatype": "image-downloads", "products": products})
	write("streams/v1/images.json", b)
	idx, _ := json.Marshal(map[string]any{"format": "index:1.0", "index": map[string]any{"images": map[string]any{
		"datatype": "image-downloads", "path": "streams/v1/images.json", "format": "products:1.0",
		"products": []string{"debian:bookworm:amd64:default", "debian:bookworm:amd64:corrupt", "plan9:4:amd64:default"}}}})
	write("streams/v1/index.json", idx)
}

// TestSimplestreamsImport: a tree's products listed from a folder and
// over HTTP; an import verified by sha256 becomes a version; a wrong
// sha256 fails the task and keeps nothing; an unknown distribution and a
// missing product are refused up front.
func TestSimplestreamsImport(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	_, alice := p.customer("alice")
	tree := t.TempDir()
	rootfs := debianFixture(t, "ss")
	simplestreamsTree(t, tree, rootfs)
	web := httptest.NewServer(http.FileServer(http.Dir(tree)))
	defer web.Close()

	for _, src := range []string{tree, web.URL} {
		list := p.expect(p.do(p.admin, "GET", "/api/v1/image-sources?source="+src, nil), 200).json(t)["products"].([]any)
		if len(list) != 3 {
			t.Fatalf("%s: %d products: %v", src, len(list), list)
		}
		first := list[0].(map[string]any)
		vs := first["versions"].([]any)
		if first["id"] != "debian:bookworm:amd64:corrupt" || len(vs) != 1 {
			t.Fatalf("%s: %v", src, first)
		}
	}
	p.expect(p.do(alice, "GET", "/api/v1/image-sources?source="+tree, nil), http.StatusForbidden)
	p.expect(p.do(p.admin, "GET", "/api/v1/image-sources?source=relative/dir", nil), http.StatusUnprocessableEntity).errorField(t, "source")
	p.expect(p.do(p.admin, "GET", "/api/v1/image-sources?source="+t.TempDir(), nil), http.StatusBadGateway)
	p.expect(p.do(p.admin, "POST", "/api/v1/image-imports", map[string]any{"source": tree, "product": "nope:1:amd64:default"}),
		http.StatusUnprocessableEntity).errorField(t, "product")
	p.expect(p.do(p.admin, "POST", "/api/v1/image-imports", map[string]any{"source": tree, "product": "plan9:4:amd64:default"}),
		http.StatusUnprocessableEntity).errorField(t, "product")

	// Wrong sha256: failed, nothing kept.
	for _, c := range []struct{ product, version string }{{"debian:bookworm:amd64:corrupt", ""}, {"debian:bookworm:amd64:default", "20241130_05:24"}} {
		task := p.expect(p.do(p.admin, "POST", "/api/v1/image-imports", map[string]any{"source": web.URL, "product": c.product,
			"version": c.version, "name": "bad"}), http.StatusAccepted).json(t)
		done := p.waitTask(task["id"].(string), time.Minute)
		if done["status"] != "failed" || !strings.Contains(done["error"].(string), "sha256 mismatch") {
			t.Fatalf("%s %s: %v", c.product, c.version, done)
		}
	}
	p.expect(p.do(p.admin, "GET", "/api/v1/templates/bad", nil), http.StatusNotFound)
	if entries, _ := os.ReadDir(filepath.Join(p.app.Cfg.TemplateCacheDir(), "images")); len(entries) != 0 {
		t.Fatalf("failed imports left %d entries in the image store", len(entries))
	}

	// The newest good version, by URL: checked, recorded with its sha256.
	task := p.expect(p.do(p.admin, "POST", "/api/v1/image-imports", map[string]any{"source": web.URL, "product": "debian:bookworm:amd64:default"}),
		http.StatusAccepted).json(t)
	done := p.waitTask(task["id"].(string), time.Minute)
	if done["status"] != "succeeded" || done["template"] != "debian-bookworm" {
		t.Fatalf("import: %v", done)
	}
	img := p.expect(p.do(p.admin, "GET", "/api/v1/templates/debian-bookworm", nil), 200).json(t)
	v := img["versions"].([]any)[0].(map[string]any)
	if img["origin"] != "imported" || img["release"] != "bookworm" || img["description"] != "Debian bookworm amd64 (test build)" ||
		v["sha256"] != sha256Hex(rootfs) || v["version"] != *strPtr(done["version"]) {
		t.Fatalf("imported image: %v", img)
	}
	// A VPS of it, for a customer.
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "debian-bookworm", "owner": "alice"})
	if ct := p.expect(p.do(alice, "GET", "/api/v1/containers/101", nil), 200).json(t); ct["image_version"] != done["version"] {
		t.Fatalf("container from the import: %v", ct)
	}
}

func strPtr(v any) *string { s := fmt.Sprint(v); return &s }

// TestImageTasksRecover: a build the panel's stop interrupted is failed
// at the next start, and what it left in the image store removed; bad
// build requests are refused naming the field.
func TestImageTasksRecover(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	p.expect(p.do(p.admin, "POST", "/api/v1/image-builds", map[string]any{"recipe": "windows-11"}), http.StatusUnprocessableEntity).errorField(t, "recipe")
	p.expect(p.do(p.admin, "POST", "/api/v1/image-builds", map[string]any{"recipe": "debian-12", "mirror": "ftp://x"}), http.StatusUnprocessableEntity).errorField(t, "mirror")
	p.expect(p.do(p.admin, "POST", "/api/v1/image-builds", map[string]any{"recipe": "debian-12", "name": "busybox"}), http.StatusConflict)
	rec := p.expect(p.do(p.admin, "GET", "/api/v1/image-recipes", nil), 200).json(t)
	if !strings.Contains(fmt.Sprint(rec["recipes"]), "debian-12") || rec["mirror"] == "" {
		t.Fatalf("recipes: %v", rec)
	}

	ctx := context.Background()
	task, err := p.app.Store.InsertImageTask(ctx, "build", "debian-12", map[string]any{"recipe": "debian-12"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.app.Store.InsertImageTask(ctx, "build", "debian-12", nil, "test"); err != db.ErrConflict {
		t.Fatalf("a second task of one image: %v", err)
	}
	store := filepath.Join(p.app.Cfg.TemplateCacheDir(), "images")
	left := filepath.Join(store, ".build-debian-12-123", "rootfs")
	stray := filepath.Join(store, "debian-12", "20260101-000000.tar.zst")
	for _, f := range []string{left + "/etc/x", stray} {
		os.MkdirAll(filepath.Dir(f), 0o700)
		os.WriteFile(f, []byte("x"), 0o600)
	}
	p.restart()
	got := p.expect(p.do(p.admin, "GET", "/api/v1/image-tasks/"+task.ID, nil), 200).json(t)
	if got["status"] != "failed" || !strings.Contains(got["error"].(string), "interrupted") {
		t.Fatalf("interrupted task: %v", got)
	}
	for _, f := range []string{left, stray} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s survived the start", f)
		}
	}
	if list := p.expect(p.do(p.admin, "GET", "/api/v1/image-tasks", nil), 200).json(t)["tasks"].([]any); len(list) != 1 {
		t.Fatalf("tasks: %v", list)
	}
	p.expect(p.do(p.admin, "GET", "/api/v1/image-tasks/not-a-uuid", nil), http.StatusNotFound)
}
