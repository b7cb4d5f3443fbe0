// Package cgroupstest gives tests a real cgroup2 directory of their own:
// in the host's cgroup2 mount (the whole tree on a pure cgroup2 host,
// /sys/fs/cgroup/unified on a hybrid one), or in a cgroup2 hierarchy it
// mounts itself where the host has none. Like the project's other real
// tests it fails, never skips, when it cannot (only -short skips).
package cgroupstest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctpanel/ctpanel/lxcdriver/cgroups"
)

// V2Dir makes a fresh, empty cgroup2 directory named after prefix and
// removes it when the test ends (after the test's own cleanups, which
// should end the processes they put in it).
func V2Dir(t *testing.T, prefix string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("real cgroups are not used with -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("real cgroup2 tests need root: run `make test` as root")
	}
	root := cgroups.HostLayout().V2Root
	if root == "" {
		root = t.TempDir()
		if err := unix.Mount("cgroup2", root, "cgroup2", 0, ""); err != nil {
			t.Fatalf("the host mounts no cgroup2 hierarchy and mounting one failed: %v", err)
		}
		t.Cleanup(func() { _ = unix.Unmount(root, unix.MNT_DETACH) })
	}
	dir := filepath.Join(root, fmt.Sprintf("%s-%d", prefix, os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("make a cgroup in %s: %v", root, err)
	}
	t.Cleanup(func() {
		// A killed process leaves the cgroup a moment later.
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := os.Remove(dir)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("remove test cgroup %s: %v", dir, err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	return dir
}
