package liblxc

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/cgroups/cgroupstest"
)

// TestFreezerV2OnRealHierarchy drives the cgroup2 freezer path (what
// Freeze uses on a pure cgroup2 host) on a real cgroup in the host's
// cgroup2 mount with a process that writes a counter: frozen, the counter
// stands still and cgroup.events says frozen; thawed, it moves again.
func TestFreezerV2OnRealHierarchy(t *testing.T) {
	dir := cgroupstest.V2Dir(t, "ctpanel-freeze-test")
	if _, err := os.Stat(filepath.Join(dir, "cgroup.freeze")); err != nil {
		t.Fatalf("this kernel's cgroup2 has no freezer (Linux 5.2 or later has): %v", err)
	}
	out := filepath.Join(t.TempDir(), "ticks")
	cmd := exec.Command("sh", "-c", `i=0; while :; do i=$((i+1)); echo $i > "$0"; sleep 0.01; done`, out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	tick := func() string {
		b, _ := os.ReadFile(out)
		return strings.TrimSpace(string(b))
	}
	f := freezer{dir: dir, v2: true}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if s, err := f.state(); err != nil || s != lxcdriver.StateRunning {
		t.Fatalf("before: %s %v", s, err)
	}
	start := time.Now()
	if err := f.set(ctx, true); err != nil {
		t.Fatalf("freeze: %v", err)
	}
	t.Logf("cgroup2 freeze took %s", time.Since(start))
	if s, err := f.state(); err != nil || s != lxcdriver.StateFrozen {
		t.Fatalf("after freeze: %s %v", s, err)
	}
	if ev, _ := os.ReadFile(filepath.Join(dir, "cgroup.events")); !strings.Contains(string(ev), "frozen 1") {
		t.Fatalf("cgroup.events after freeze: %q", ev)
	}
	frozenAt := tick()
	time.Sleep(300 * time.Millisecond)
	if now := tick(); now != frozenAt {
		t.Fatalf("the frozen process went on counting: %s then %s", frozenAt, now)
	}
	// Freezing again is a no-op that still ends frozen.
	if err := f.set(ctx, true); err != nil {
		t.Fatalf("second freeze: %v", err)
	}
	if err := f.set(ctx, false); err != nil {
		t.Fatalf("thaw: %v", err)
	}
	if s, err := f.state(); err != nil || s != lxcdriver.StateRunning {
		t.Fatalf("after thaw: %s %v", s, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tick() == frozenAt && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if tick() == frozenAt {
		t.Fatal("the thawed process does not count any more")
	}
}
