package liblxc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLXCFSServesSeesADeadLXCFS: an lxcfs that died leaves its mount in
// the table, answering ENOTCONN; liblxc's hook then skips it silently and
// containers show the host's figures. lxcfsServes must call that mount
// dead, not running. A second lxcfs is started on a folder of the test's
// own, killed, and its mount removed.
func TestLXCFSServesSeesADeadLXCFS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs lxcfs; skipped with -short")
	}
	bin, err := exec.LookPath("lxcfs")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("lxcfs missing (make test installs it)")
		}
		t.Skip("lxcfs missing")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := lxcfsServes(mnt); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("before lxcfs: %v, want not running", err)
	}
	cmd := exec.Command(bin, "-f", "-p", filepath.Join(dir, "pid"), mnt)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
	})
	deadline := time.Now().Add(10 * time.Second)
	for lxcfsServes(mnt) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("lxcfs did not serve %s: %v", mnt, lxcfsServes(mnt))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = cmd.Process.Wait()
	err = lxcfsServes(mnt)
	if err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("after lxcfs was killed: %v, want a dead mount reported", err)
	}
}
