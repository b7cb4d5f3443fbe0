package server

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requireLXC fails (never skips, but under -short) when real liblxc
// containers can't be run here.
func requireLXC(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("real liblxc containers are not run with -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("integration tests need root for liblxc containers: run `make test` as root")
	}
	for _, tool := range []string{"lxc-start", "lxc-info", "lxc-ls"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install Debian's lxc (make test does)", tool)
		}
	}
	if _, err := os.Stat("/usr/share/lxc/templates/lxc-busybox"); err != nil {
		t.Fatal("the busybox template is missing: install Debian's lxc and busybox-static (make test does)")
	}
	dir, err := os.MkdirTemp("", "ctpanel-lxc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Anything a failed test left behind is killed and removed.
		out, _ := exec.Command("lxc-ls", "-P", dir).Output()
		for _, name := range strings.Fields(string(out)) {
			_ = exec.Command("lxc-stop", "-P", dir, "-n", name, "-k").Run()
		}
		for _, name := range strings.Fields(string(out)) {
			_ = exec.Command("lxc-destroy", "-P", dir, "-n", name, "-f").Run()
		}
		os.RemoveAll(dir)
	})
	return dir
}

// lxcState is what lxc-info says, the operator's own view.
func lxcState(t *testing.T, lxcpath, name string) string {
	t.Helper()
	out, err := exec.Command("lxc-info", "-P", lxcpath, "-n", name, "-sH").CombinedOutput()
	if err != nil {
		return "absent"
	}
	return strings.ToLower(strings.TrimSpace(string(out)))
}

func lxcNames(t *testing.T, lxcpath string) []string {
	t.Helper()
	out, err := exec.Command("lxc-ls", "-P", lxcpath, "-1").Output()
	if err != nil {
		t.Fatalf("lxc-ls: %v", err)
	}
	return strings.Fields(string(out))
}

func TestRealLifecycleAgreesWithLXCTools(t *testing.T) {
	lxcpath := requireLXC(t)
	p := newTestPanel(t, nil, lxcpath)
	check := func(ref, name, want string) {
		t.Helper()
		ct := p.expect(p.do(p.admin, "GET", "/api/v1/containers/"+ref, nil), 200).json(t)
		if ct["status"] != want {
			t.Fatalf("panel says %v, want %s", ct["status"], want)
		}
		if got := lxcState(t, lxcpath, name); got != want {
			t.Fatalf("lxc-info says %s, want %s", got, want)
		}
	}
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "name": "web1", "hostname": "web1.example.com", "template": "busybox", "start": true})
	check("web1", "101", "running")
	if got, _ := os.ReadFile(filepath.Join(lxcpath, "101", "config")); !strings.Contains(string(got), "lxc.net.0.type = empty") {
		t.Fatalf("config has a network:\n%s", got)
	}
	ex := p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/exec", map[string]any{"command": []string{"hostname"}}), 200).json(t)
	if ex["stdout"] != "web1.example.com\n" || ex["exit_code"] != float64(0) {
		t.Fatalf("exec hostname: %v", ex)
	}
	ex = p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/exec", map[string]any{"command": []string{"sh", "-c", "echo out; echo err >&2; exit 4"}}), 200).json(t)
	if ex["stdout"] != "out\n" || ex["stderr"] != "err\n" || ex["exit_code"] != float64(4) {
		t.Fatalf("exec sh: %v", ex)
	}
	ct := p.expect(p.do(p.admin, "GET", "/api/v1/containers/101", nil), 200).json(t)
	if ct["nproc"].(float64) < 1 {
		t.Fatalf("nproc %v", ct["nproc"])
	}

	p.ok(p.admin, "POST", "/api/v1/containers/101/freeze", nil)
	check("101", "101", "frozen")
	p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/exec", map[string]any{"command": []string{"true"}}), 409)
	p.ok(p.admin, "POST", "/api/v1/containers/101/unfreeze", nil)
	check("101", "101", "running")

	// hostname applied live and saved, like vzctl set --hostname --save.
	p.ok(p.admin, "PATCH", "/api/v1/containers/web1", map[string]any{"hostname": "www.example.com", "nameserver": "192.0.2.53"})
	ex = p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/exec", map[string]any{"command": []string{"sh", "-c", "hostname; cat /etc/hostname /etc/resolv.conf"}}), 200).json(t)
	if ex["stdout"] != "www.example.com\nwww.example.com\nnameserver 192.0.2.53\n" {
		t.Fatalf("after PATCH: %q", ex["stdout"])
	}

	p.expect(p.do(p.admin, "DELETE", "/api/v1/containers/101", nil), 409)
	check("101", "101", "running")
	p.ok(p.admin, "POST", "/api/v1/containers/101/stop", nil)
	check("101", "101", "stopped")

	// Two full clones of the stopped container boot, each unprivileged
	// with a block of host ids of its own (none of them 0).
	p.ok(p.admin, "POST", "/api/v1/containers/web1/clone", map[string]any{"ctid": 102, "hostname": "copy.example.com", "start": true})
	p.ok(p.admin, "POST", "/api/v1/containers/web1/clone", map[string]any{"ctid": 103, "name": "copy2", "start": true})
	check("102", "102", "running")
	check("copy2", "103", "running")
	var blocks [][3]uint64
	for _, ct := range []string{"102", "103"} {
		ex := p.expect(p.do(p.admin, "POST", "/api/v1/containers/"+ct+"/exec", map[string]any{"command": []string{"cat", "/proc/self/uid_map"}}), 200).json(t)
		var b [3]uint64
		if n, err := fmt.Sscan(fmt.Sprint(ex["stdout"]), &b[0], &b[1], &b[2]); n != 3 || err != nil || b[0] != 0 || b[1] == 0 || b[2] != 65536 {
			t.Fatalf("uid_map of %s = %q: want container 0 mapped to a block of 65536 host ids above 0", ct, ex["stdout"])
		}
		t.Logf("uid_map of %s: %v", ct, b)
		blocks = append(blocks, b)
	}
	if a, b := blocks[0], blocks[1]; a[1] < b[1]+b[2] && b[1] < a[1]+a[2] {
		t.Fatalf("the clones' host id blocks overlap: %v and %v", a, b)
	}
	ex = p.expect(p.do(p.admin, "POST", "/api/v1/containers/102/exec", map[string]any{"command": []string{"hostname"}}), 200).json(t)
	if ex["stdout"] != "copy.example.com\n" {
		t.Fatalf("clone hostname %q", ex["stdout"])
	}
	p.ok(p.admin, "POST", "/api/v1/containers/102/shutdown", map[string]any{"timeout": 10})
	check("102", "102", "stopped")

	p.ok(p.admin, "DELETE", "/api/v1/containers/103?force=true", nil)
	p.ok(p.admin, "DELETE", "/api/v1/containers/102", nil)
	p.ok(p.admin, "DELETE", "/api/v1/containers/web1", nil)
	if names := lxcNames(t, lxcpath); len(names) != 0 {
		t.Fatalf("lxc-ls still lists %v", names)
	}
	if n := p.containerCount(); n != 0 {
		t.Fatalf("%d container rows left", n)
	}
	var audits int
	_ = p.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE ct_id = 101`).Scan(&audits)
	if audits < 8 {
		t.Fatalf("audit log has %d entries for 101", audits)
	}
}

func TestFailedCreateLeavesNothing(t *testing.T) {
	lxcpath := requireLXC(t)
	p := newTestPanel(t, nil, lxcpath)
	// A tarball template whose file is not a rootfs: the create fails in
	// liblxc after the row was written, and must be undone completely.
	if err := os.MkdirAll(p.app.Cfg.TemplateCacheDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(p.app.Cfg.TemplateCacheDir(), "broken.tar.gz")
	if err := os.WriteFile(bad, []byte("\x1f\x8bnot really gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.app.scanTemplateCache(context.Background()); err != nil {
		t.Fatal(err)
	}
	op := p.run(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 120, "template": "broken"})
	if op["status"] != "failed" || op["error"] == "" {
		t.Fatalf("create from a broken template: %v", op)
	}
	p.expect(p.do(p.admin, "GET", "/api/v1/containers/120", nil), 404)
	if names := lxcNames(t, lxcpath); len(names) != 0 {
		t.Fatalf("lxc-ls lists %v after a failed create", names)
	}
}
