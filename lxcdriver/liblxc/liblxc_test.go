package liblxc_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/drivertest"
	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
)

// TestDriver runs the conformance suite on real containers, each subtest
// in a private lxcpath. It needs root, liblxc and busybox; without them it
// fails rather than skips, so CI cannot go green without testing liblxc.
func TestDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("the liblxc suite starts real containers; skipped with -short")
	}
	requireLiblxc(t)
	tarball := busyboxTarball(t)
	drivertest.Exercise(t, func(t *testing.T) lxcdriver.Driver {
		return newDriver(t)
	}, drivertest.WithRootfsTarball(tarball))
}

const howToRun = "run `make test` as root on a host with liblxc, lxc-start and busybox-static"

func requireLiblxc(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("the liblxc suite needs root: %s", howToRun)
	}
	for _, f := range []string{"/usr/share/lxc/templates/lxc-busybox", "/usr/share/lxc/config/common.conf"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("liblxc is not usable (%v): %s", err, howToRun)
		}
	}
	for _, bin := range []string{"busybox", "tar", "rsync"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found (%v): %s", bin, err, howToRun)
		}
	}
}

// newDriver returns a driver on a fresh lxcpath and checks, after the
// test's own cleanups, that nothing was left in it.
func newDriver(t *testing.T) *liblxc.Driver {
	t.Helper()
	d, err := liblxc.New(t.TempDir())
	if err != nil {
		t.Fatalf("new driver: %v (%s)", err, howToRun)
	}
	t.Cleanup(func() {
		names, err := d.List(context.Background())
		if err != nil {
			t.Errorf("list at cleanup: %v", err)
		}
		if len(names) > 0 {
			t.Errorf("containers left behind in %s: %v", d.LXCPath(), names)
		}
		entries, _ := os.ReadDir(d.LXCPath())
		for _, e := range entries {
			t.Errorf("left behind in %s: %s", d.LXCPath(), e.Name())
		}
	})
	return d
}

// busyboxTarball makes a template-cache tarball the OpenVZ way: the rootfs
// of a freshly created busybox container, tarred with numeric owners.
func busyboxTarball(t *testing.T) string {
	t.Helper()
	d := newDriver(t)
	ctx := t.Context()
	const name = "9tarball"
	if err := d.Create(ctx, name, lxcdriver.CreateOptions{Template: "busybox"}); err != nil {
		t.Fatalf("create busybox container for the tarball: %v (%s)", err, howToRun)
	}
	defer func() {
		if err := d.Destroy(context.Background(), name); err != nil {
			t.Errorf("destroy tarball source: %v", err)
		}
	}()
	out := filepath.Join(t.TempDir(), "busybox-rootfs.tar.gz")
	rootfs := filepath.Join(d.LXCPath(), name, "rootfs")
	cmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "-czpf", out, "-C", rootfs, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar %s: %v: %s", rootfs, err, b)
	}
	return out
}

// startBusybox creates and starts a busybox container with extra config in
// a fresh lxcpath; the test's cleanup removes it.
func startBusybox(t *testing.T, extra ...lxcdriver.ConfigItem) (*liblxc.Driver, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real container; skipped with -short")
	}
	requireLiblxc(t)
	d := newDriver(t)
	const name = "9liblxc"
	t.Cleanup(func() {
		ctx := context.Background()
		if err := d.Stop(ctx, name); err != nil {
			t.Errorf("cleanup: stop: %v", err)
		}
		if err := d.Destroy(ctx, name); err != nil {
			t.Errorf("cleanup: destroy: %v", err)
		}
	})
	cfg := append([]lxcdriver.ConfigItem{{Key: "lxc.net.0.type", Value: "empty"}}, extra...)
	if err := d.Create(t.Context(), name, lxcdriver.CreateOptions{Template: "busybox", Config: cfg}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := d.Start(t.Context(), name); err != nil {
		t.Fatalf("start: %v", err)
	}
	return d, name
}

// TestExecContext: a command outliving its context is killed and the
// context's error comes back.
func TestExecContext(t *testing.T) {
	d, name := startBusybox(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := d.Exec(ctx, name, []string{"sleep", "600"}, lxcdriver.ExecOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("exec sleep past its deadline: error %v, want %v", err, context.DeadlineExceeded)
	}
	res, err := d.Exec(t.Context(), name, []string{"pidof", "sleep"}, lxcdriver.ExecOptions{})
	if err != nil {
		t.Fatalf("exec pidof: %v", err)
	}
	if res.ExitCode == 0 {
		t.Errorf("sleep still running after its context ended: pid %s", res.Stdout)
	}
}

// TestWriteFileStaysInRoot: symlinks planted in the container cannot lead
// WriteFile onto the host, running or stopped.
func TestWriteFileStaysInRoot(t *testing.T) {
	d, name := startBusybox(t)
	ctx := t.Context()
	host := t.TempDir()
	hostFile := filepath.Join(host, "victim")
	links := map[string]string{
		"/root/abs": hostFile,
		"/root/rel": "../../../../../../../../" + strings.TrimPrefix(hostFile, "/"),
		"/root/dir": host,
	}
	for link, target := range links {
		if res, err := d.Exec(ctx, name, []string{"ln", "-s", target, link}, lxcdriver.ExecOptions{}); err != nil || res.ExitCode != 0 {
			t.Fatalf("ln -s %s %s: %v %s", target, link, err, res.Stderr)
		}
	}
	write := func(state string) {
		for _, p := range []string{"/root/abs", "/root/rel", "/root/dir/victim"} {
			// Either an error (the target's directory does not exist in
			// the container) or a file inside the container is fine.
			_ = d.WriteFile(ctx, name, p, []byte("escaped\n"), 0o644)
			if _, err := os.Stat(hostFile); err == nil {
				t.Fatalf("%s: writing %s wrote %s on the host", state, p, hostFile)
			}
		}
	}
	write("running")
	if err := d.Stop(ctx, name); err != nil {
		t.Fatalf("stop: %v", err)
	}
	write("stopped")
}

// TestInfoAddresses: addresses come from inside the container, loopback
// left out.
func TestInfoAddresses(t *testing.T) {
	d, name := startBusybox(t,
		lxcdriver.ConfigItem{Key: "lxc.net.0.type", Value: ""}, // drop "empty"
		lxcdriver.ConfigItem{Key: "lxc.net.0.type", Value: "veth"},
		lxcdriver.ConfigItem{Key: "lxc.net.0.flags", Value: "up"},
		// Not eth0: the busybox rootfs runs udhcpc on eth0, which drops
		// static addresses.
		lxcdriver.ConfigItem{Key: "lxc.net.0.name", Value: "ctp0"},
		lxcdriver.ConfigItem{Key: "lxc.net.0.ipv4.address", Value: "192.0.2.10/24"},
	)
	info, err := d.Info(t.Context(), name)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if !slices.Contains(info.IPv4, "192.0.2.10") {
		t.Errorf("info IPv4 = %v, want 192.0.2.10", info.IPv4)
	}
	for _, ip := range append(info.IPv4, info.IPv6...) {
		if ip == "127.0.0.1" || ip == "::1" {
			t.Errorf("info lists loopback %s", ip)
		}
	}
}
