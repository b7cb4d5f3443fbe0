package cgroups

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

func TestCPUCount(t *testing.T) {
	for pc, want := range map[uint64]int{0: 0, 1: 1, 50: 1, 100: 1, 101: 2, 150: 2, 200: 2, 201: 3, lxcdriver.Unlimited: 0} {
		if got := CPUCount(pc); got != want {
			t.Errorf("CPUCount(%d) = %d, want %d", pc, got, want)
		}
	}
}

func TestCPUListRoundTrip(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "0-1": "0-1", "0,1,2,5": "0-2,5", "3,1,2": "1-3", "0-3,8,10-11\n": "0-3,8,10-11", "": "",
	} {
		cpus, err := ParseCPUList(in)
		if err != nil {
			t.Fatalf("ParseCPUList(%q): %v", in, err)
		}
		if got := FormatCPUList(cpus); got != want {
			t.Errorf("%q: formatted %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"a", "1-", "3-1", "-1", "0,,1"} {
		if _, err := ParseCPUList(bad); err == nil {
			t.Errorf("ParseCPUList(%q) took it", bad)
		}
	}
}

// TestPickCPUsSpreads: one-CPU containers land on different CPUs by
// name, always the same for one name, and a limit covering every CPU
// leaves the cpuset whole.
func TestPickCPUsSpreads(t *testing.T) {
	online := []int{0, 1, 2, 3}
	seen := map[int]int{}
	for i := range 200 {
		name := strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('0'+i%10))
		cpus := PickCPUs(online, 1, name)
		if len(cpus) != 1 || !slices.Contains(online, cpus[0]) {
			t.Fatalf("PickCPUs(1, %q) = %v", name, cpus)
		}
		if again := PickCPUs(online, 1, name); !slices.Equal(again, cpus) {
			t.Fatalf("%q: %v then %v", name, cpus, again)
		}
		seen[cpus[0]]++
	}
	if len(seen) != 4 {
		t.Errorf("200 one-CPU containers used CPUs %v, want all four", seen)
	}
	if got := PickCPUs(online, 3, "101"); len(got) != 3 || !slices.IsSorted(got) {
		t.Errorf("PickCPUs(3) = %v", got)
	}
	if got := PickCPUs(online, 4, "101"); got != nil {
		t.Errorf("every CPU: %v, want nil (whole cpuset)", got)
	}
	if got := PickCPUs(online, 0, "101"); got != nil {
		t.Errorf("no limit: %v, want nil", got)
	}
	it, ok := CPUSetItem(false, lxcdriver.Limits{CPULimitPc: ptr(150)}, online, "101")
	if !ok || it.Key != "lxc.cgroup.cpuset.cpus" || len(strings.Split(strings.ReplaceAll(it.Value, "-", ","), ",")) != 2 {
		t.Errorf("CPUSetItem(150%%) = %+v, %v", it, ok)
	}
	if _, ok := CPUSetItem(true, lxcdriver.Limits{CPULimitPc: ptr(400)}, online, "101"); ok {
		t.Error("CPUSetItem(400% of 4 CPUs) narrowed the cpuset")
	}
}

func ptr(v uint64) *uint64 { return &v }

// TestApplyCPUsWritesAndReverts: on v1 the cpuset goes to the list, and
// back to the parent's CPUs for "all"; a later failing write puts it back.
func TestApplyCPUsWritesAndReverts(t *testing.T) {
	root := t.TempDir()
	parent := filepath.Join(root, "cpuset")
	ct := filepath.Join(parent, "lxc.payload.101")
	cpuDir := filepath.Join(root, "cpu", "lxc.payload.101")
	for _, d := range []string{ct, cpuDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	write(filepath.Join(parent, "cpuset.cpus"), "0-3\n")
	write(filepath.Join(ct, "cpuset.cpus"), "0-3\n")
	write(filepath.Join(cpuDir, "cpu.cfs_quota_us"), "-1\n")
	write(filepath.Join(cpuDir, "cpu.cfs_period_us"), "100000\n")
	p := Paths{CPU: cpuDir, Cpuset: ct}
	one := []int{2}
	if err := ApplyCPUs(p, lxcdriver.Limits{CPULimitPc: ptr(100)}, &one); err != nil {
		t.Fatal(err)
	}
	if got := read(filepath.Join(ct, "cpuset.cpus")); got != "2" {
		t.Errorf("cpuset.cpus = %q, want 2", got)
	}
	if got := read(filepath.Join(cpuDir, "cpu.cfs_quota_us")); got != "100000" {
		t.Errorf("quota = %q", got)
	}
	all := []int{}
	if err := ApplyCPUs(p, lxcdriver.Limits{CPULimitPc: ptr(lxcdriver.Unlimited)}, &all); err != nil {
		t.Fatal(err)
	}
	if got := read(filepath.Join(ct, "cpuset.cpus")); got != "0-3" {
		t.Errorf("after the limit went: cpuset.cpus = %q, want the parent's 0-3", got)
	}
	// The cpuset write fails (the file is gone): the quota is put back.
	if err := os.Remove(filepath.Join(ct, "cpuset.cpus")); err != nil {
		t.Fatal(err)
	}
	if err := ApplyCPUs(p, lxcdriver.Limits{CPULimitPc: ptr(50)}, &one); err == nil {
		t.Fatal("a failed cpuset write passed")
	}
	if got := read(filepath.Join(cpuDir, "cpu.cfs_quota_us")); got != "-1" {
		t.Errorf("quota after the failed apply = %q, want it put back to -1", got)
	}
}
