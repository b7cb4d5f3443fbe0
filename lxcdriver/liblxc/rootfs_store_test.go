package liblxc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// loopsOn counts the loop devices backed by image.
func loopsOn(t *testing.T, image string) int {
	t.Helper()
	if real, err := filepath.EvalSymlinks(image); err == nil {
		image = real
	}
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	n := 0
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) == image {
			n++
		}
	}
	return n
}

// TestRootfsViewOfARunningDisk: a backup's view of a running container's
// disk is the container's own filesystem (a write inside shows at once),
// read-only; a guest that reboots while the view is held waits to start
// again until it is released (its image never on two loop devices), then
// starts.
func TestRootfsViewOfARunningDisk(t *testing.T) {
	requireLiblxc(t)
	d := newDriver(t)
	ctx := t.Context()
	const name = "9view"
	m := testIDMap()
	if err := d.Create(ctx, name, lxcdriver.CreateOptions{Template: "busybox", IDMap: m, Disk: &lxcdriver.DiskOptions{SizeBytes: 64 << 20}}); err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = d.Stop(ctx, name)
		if err := d.Destroy(ctx, name); err != nil {
			t.Errorf("destroy: %v", err)
		}
	})
	if err := d.Start(ctx, name); err != nil {
		t.Fatalf("start: %v", err)
	}
	image := filepath.Join(d.LXCPath(), name, "rootdev")
	view, err := d.OpenRootfs(ctx, name)
	if err != nil {
		t.Fatalf("open rootfs: %v", err)
	}
	released := false
	defer func() {
		if !released {
			_ = view.Release()
		}
	}()
	if view.IDBase != m.HostID {
		t.Errorf("IDBase = %d, want the container's first host id %d (a disk's files are stored shifted)", view.IDBase, m.HostID)
	}
	if res, err := d.Exec(ctx, name, []string{"/bin/sh", "-c", "echo written-inside > /root/now"}, lxcdriver.ExecOptions{}); err != nil || res.ExitCode != 0 {
		t.Fatalf("write inside: %v %+v", err, res)
	}
	if b, err := os.ReadFile(filepath.Join(view.Dir, "root/now")); err != nil || string(b) != "written-inside\n" {
		t.Errorf("the view shows %q, %v; want what the container just wrote", b, err)
	}
	if err := os.WriteFile(filepath.Join(view.Dir, "root/from-host"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("a write through the view: %v, want EROFS", err)
	}
	before, err := d.Info(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	// The guest reboots: liblxc would start it again at once, on a new
	// loop device, while the view still holds the old one. The start is
	// refused; the guest stays stopped until the view is let go.
	_, _ = d.Exec(ctx, name, []string{"/bin/sh", "-c", "reboot -f"}, lxcdriver.ExecOptions{})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if n := loopsOn(t, image); n > 1 {
			t.Fatalf("the image is on %d loop devices while the view is held", n)
		}
		info, err := d.Info(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		// liblxc may say RUNNING for a moment while the refused start
		// unwinds, with no init: only a new init is a start.
		if info.State == lxcdriver.StateRunning && info.InitPID > 0 && info.InitPID != before.InitPID {
			t.Fatalf("the guest started again (init %d) while the view was held", info.InitPID)
		}
		// Stopped, and by the refused start (its marker beside the view's
		// mount): liblxc says STOPPED for a moment between the old guest
		// and the start it tries.
		_, refused := os.Stat(view.Dir + ".reboot")
		if info.State == lxcdriver.StateStopped && refused == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a reboot the guest is %s, want stopped while the view is held", info.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := view.Release(); err != nil {
		t.Fatalf("release: %v", err)
	}
	released = true
	if !view.RebootAsked() {
		t.Fatal("RebootAsked = false after a reboot refused while the view was held")
	}
	if view.RebootAsked() {
		t.Error("RebootAsked said true twice")
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatalf("start after the view was let go: %v", err)
	}
	if n := loopsOn(t, image); n != 1 {
		t.Errorf("the running guest's image is on %d loop devices, want 1", n)
	}
}
