package liblxc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
)

// TestHalfMadeIsFoundAndDestroyed: what a create killed midway leaves
// (a folder without config, its loop disk still mounted where the create
// was filling it) is listed by HalfMade, is ErrNotFound to State, and
// Destroy removes it with its mount and loop device; a create of the same
// name then works.
func TestHalfMadeIsFoundAndDestroyed(t *testing.T) {
	requireLiblxc(t)
	d := newDriver(t)
	ctx := t.Context()
	const name = "9half"
	if err := d.Create(ctx, name, lxcdriver.CreateOptions{Template: "busybox", IDMap: testIDMap(), Disk: &lxcdriver.DiskOptions{SizeBytes: 64 << 20}}); err != nil {
		t.Fatalf("create: %v", err)
	}
	dir := filepath.Join(d.LXCPath(), name)
	mnt, _, err := liblxc.MountImage(filepath.Join(dir, "rootdev"), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "config")); err != nil {
		t.Fatal(err)
	}
	// A folder with no config at all, as a create cut before its disk.
	if err := os.MkdirAll(filepath.Join(d.LXCPath(), "9bare", "rootfs"), 0o700); err != nil {
		t.Fatal(err)
	}
	left, err := d.HalfMade(ctx)
	if err != nil || !slices.Equal(left, []string{"9bare", name}) {
		t.Fatalf("HalfMade = %v, %v; want [9bare %s]", left, err, name)
	}
	if _, err := d.State(ctx, name); !errors.Is(err, lxcdriver.ErrNotFound) {
		t.Fatalf("State of a half-made container: %v, want ErrNotFound", err)
	}
	if err := d.Create(ctx, name, lxcdriver.CreateOptions{Template: "busybox", IDMap: testIDMap()}); !errors.Is(err, lxcdriver.ErrExists) {
		t.Fatalf("create over a half-made folder: %v, want ErrExists", err)
	}
	for _, n := range []string{name, "9bare"} {
		if err := d.Destroy(ctx, n); err != nil {
			t.Fatalf("destroy half-made %s: %v", n, err)
		}
	}
	if _, err := os.Stat(mnt); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the fill mount point %s is still there (%v)", mnt, err)
	}
	if left, _ := d.HalfMade(ctx); len(left) != 0 {
		t.Errorf("HalfMade after destroy: %v", left)
	}
	if err := d.Destroy(ctx, "9none"); !errors.Is(err, lxcdriver.ErrNotFound) {
		t.Errorf("destroy of nothing: %v, want ErrNotFound", err)
	}
	if err := d.Create(ctx, name, lxcdriver.CreateOptions{Template: "busybox", IDMap: testIDMap()}); err != nil {
		t.Fatalf("create after the clean-up: %v", err)
	}
	t.Cleanup(func() { _ = d.Destroy(context.Background(), name) })
}
