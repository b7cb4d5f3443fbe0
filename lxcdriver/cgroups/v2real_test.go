package cgroups_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/cgroups"
	"github.com/ctpanel/ctpanel/lxcdriver/cgroups/cgroupstest"
)

// realV2Cgroup makes a fresh cgroup in a real cgroup2 hierarchy with one
// sleeping process in it; both go when the test ends.
func realV2Cgroup(t *testing.T) (dir string, pid int) {
	t.Helper()
	dir = cgroupstest.V2Dir(t, "ctpanel-test")
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
		t.Fatalf("move the process into %s: %v", dir, err)
	}
	return dir, cmd.Process.Pid
}

// TestReadV2OnRealHierarchy reads a real cgroup2 directory: every row is
// there exactly when the host gives the cgroup the controller behind it,
// and what is counted is true (one task; some memory). On a hybrid host,
// whose controllers are all on v1, no row at all is shown: a resource the
// host cannot account is absent, never zeros.
func TestReadV2OnRealHierarchy(t *testing.T) {
	dir, pid := realV2Cgroup(t)
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	has := map[string]bool{}
	for _, c := range strings.Fields(string(b)) {
		has[c] = true
	}
	rows := map[string]lxcdriver.Counter{}
	for _, c := range cgroups.ReadV2(dir) {
		rows[c.Resource] = c
	}
	t.Logf("controllers %v, rows %v", has, rows)
	for res, ctl := range map[string]string{
		lxcdriver.ResNumProc: "pids", lxcdriver.ResPhysPages: "memory", lxcdriver.ResOOM: "memory", lxcdriver.ResCPU: "cpu",
	} {
		if _, ok := rows[res]; ok != has[ctl] {
			t.Errorf("row %s present %v, but the %s controller is enabled: %v", res, ok, ctl, has[ctl])
		}
	}
	if c, ok := rows[lxcdriver.ResNumProc]; ok && c.Held != 1 {
		t.Errorf("numproc held %d, want 1 (sleep %d)", c.Held, pid)
	}
	if c, ok := rows[lxcdriver.ResPhysPages]; ok && c.Held == 0 {
		t.Errorf("physpages held 0 for a cgroup with a live process")
	}
	// The same through Locate, as the sampler finds a container.
	p, err := cgroups.DetectLayout().Locate(pid)
	if err != nil {
		t.Fatal(err)
	}
	if p.V2 == "" && len(rows) > 0 {
		t.Errorf("Locate found no cgroup2 directory for a process whose cgroup2 rows exist: %+v", p)
	}
}
