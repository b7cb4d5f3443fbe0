package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

func u64(v uint64) *uint64 { return &v }

// kernel simulates what cgroup v1 and v2 do with writes, as seen on the
// CI host (kernel 6.18): memory limits rounded down to a page and kept
// memsw >= memory (EINVAL otherwise), a memory limit below usage refused
// with EBUSY, kmem.limit_in_bytes taken and ignored, pids.max only "max"
// or up to 4194304, CFS quota -1 or at least 1000 µs, shares clamped. It
// records the order of writes by file name.
type kernel struct {
	t      *testing.T
	writes []string
	// kmem: "ignore" (this kernel), "refuse" (EOPNOTSUPP), "honour".
	kmem string
}

func simulate(t *testing.T, kmem string) *kernel {
	k := &kernel{t: t, kmem: kmem}
	old := writeFile
	writeFile = k.write
	t.Cleanup(func() { writeFile = old })
	return k
}

const v1Max = "9223372036854771712"

func readNum(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return U
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s holds %q", path, s)
	}
	return v
}

func (k *kernel) write(path string, data []byte, perm os.FileMode) error {
	dir, name := filepath.Split(path)
	val := strings.TrimSpace(string(data))
	k.writes = append(k.writes, name)
	bytesVal := func() (uint64, error) {
		if val == "-1" || val == "max" {
			return 1<<63 - 1 - (PageSize - 1), nil
		}
		v, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			return 0, syscall.EINVAL
		}
		return min(v, 1<<63-1) &^ (PageSize - 1), nil
	}
	store := func(s string) error { return os.WriteFile(path, []byte(s+"\n"), perm) }
	switch name {
	case "memory.limit_in_bytes", "memory.memsw.limit_in_bytes":
		v, err := bytesVal()
		if err != nil {
			return err
		}
		memsw := filepath.Join(dir, "memory.memsw.limit_in_bytes")
		if name == "memory.limit_in_bytes" {
			if _, err := os.Stat(memsw); err == nil && v > readNum(k.t, memsw) {
				return syscall.EINVAL
			}
			if v < readNum(k.t, filepath.Join(dir, "memory.usage_in_bytes")) {
				return syscall.EBUSY
			}
		} else if v < readNum(k.t, filepath.Join(dir, "memory.limit_in_bytes")) {
			return syscall.EINVAL
		}
		return store(strconv.FormatUint(v, 10))
	case "memory.kmem.limit_in_bytes":
		v, err := bytesVal()
		if err != nil {
			return err
		}
		switch k.kmem {
		case "refuse":
			return syscall.EOPNOTSUPP
		case "ignore":
			return nil
		}
		return store(strconv.FormatUint(v, 10))
	case "memory.soft_limit_in_bytes", "memory.kmem.tcp.limit_in_bytes":
		v, err := bytesVal()
		if err != nil {
			return err
		}
		return store(strconv.FormatUint(v, 10))
	case "pids.max":
		if val != "max" {
			if v, err := strconv.ParseUint(val, 10, 64); err != nil || v > 4194304 {
				return syscall.EINVAL
			}
		}
		return store(val)
	case "cpu.cfs_quota_us":
		q, err := strconv.ParseInt(val, 10, 64)
		if err != nil || (q != -1 && q < 1000) {
			return syscall.EINVAL
		}
		return store(val)
	case "cpu.shares":
		v, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			return syscall.EINVAL
		}
		return store(strconv.FormatUint(min(max(v, 2), 262144), 10))
	}
	return store(val)
}

func TestApplyV1MemoryOrder(t *testing.T) {
	const M = 1 << 20
	cases := []struct {
		name            string
		hard, memsw     string // before
		l               lxcdriver.Limits
		wantWrites      []string
		wantHard, wantS uint64 // memory and memsw limits after
	}{
		{"raise with swap", "8388608", "8388608", lxcdriver.Limits{MemHard: u64(16 * M), Swap: u64(4 * M)},
			[]string{"memory.memsw.limit_in_bytes", "memory.limit_in_bytes"}, 16 * M, 20 * M},
		{"lower, no swap", "16777216", "20971520", lxcdriver.Limits{MemHard: u64(8 * M), Swap: u64(0)},
			[]string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"}, 8 * M, 8 * M},
		{"raise keeps the swap allowance", "8388608", "12582912", lxcdriver.Limits{MemHard: u64(16 * M)},
			[]string{"memory.memsw.limit_in_bytes", "memory.limit_in_bytes"}, 16 * M, 20 * M},
		{"lower keeps the swap allowance", "16777216", "20971520", lxcdriver.Limits{MemHard: u64(4 * M)},
			[]string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"}, 4 * M, 8 * M},
		{"lower below the old memsw", "16777216", "16777216", lxcdriver.Limits{MemHard: u64(12 * M), Swap: u64(2 * M)},
			[]string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"}, 12 * M, 14 * M},
		{"swap only", "8388608", "8388608", lxcdriver.Limits{Swap: u64(8 * M)},
			[]string{"memory.memsw.limit_in_bytes"}, 8 * M, 16 * M},
		{"remove the memory limit drops the swap limit", "8388608", "8388608", lxcdriver.Limits{MemHard: u64(U)},
			[]string{"memory.memsw.limit_in_bytes", "memory.limit_in_bytes"}, 1<<63 - PageSize, 1<<63 - PageSize},
		{"swap unlimited", "8388608", "8388608", lxcdriver.Limits{Swap: u64(U)},
			[]string{"memory.memsw.limit_in_bytes"}, 8 * M, 1<<63 - PageSize},
		{"first limit on an unlimited cgroup", v1Max, v1Max, lxcdriver.Limits{MemHard: u64(8 * M), Swap: u64(0)},
			[]string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"}, 8 * M, 8 * M},
		{"first limit, swap untouched", v1Max, v1Max, lxcdriver.Limits{MemHard: u64(8 * M)},
			[]string{"memory.limit_in_bytes"}, 8 * M, 1<<63 - PageSize},
		{"unaligned values round down alike", "8388608", "8388608", lxcdriver.Limits{MemHard: u64(100000000), Swap: u64(0)},
			[]string{"memory.memsw.limit_in_bytes", "memory.limit_in_bytes"}, 99999744, 99999744},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := fixture(t, "v1-busybox")
			writeFixture(t, p.Memory, "memory.limit_in_bytes", tc.hard+"\n")
			writeFixture(t, p.Memory, "memory.memsw.limit_in_bytes", tc.memsw+"\n")
			k := simulate(t, "ignore")
			if err := Apply(p, tc.l); err != nil {
				t.Fatalf("apply: %v (writes %v)", err, k.writes)
			}
			if !slices.Equal(k.writes, tc.wantWrites) {
				t.Errorf("writes %v, want %v", k.writes, tc.wantWrites)
			}
			if got := readNum(t, filepath.Join(p.Memory, "memory.limit_in_bytes")); got != tc.wantHard {
				t.Errorf("memory.limit_in_bytes = %d, want %d", got, tc.wantHard)
			}
			if got := readNum(t, filepath.Join(p.Memory, "memory.memsw.limit_in_bytes")); got != tc.wantS {
				t.Errorf("memory.memsw.limit_in_bytes = %d, want %d", got, tc.wantS)
			}
		})
	}
}

func TestApplyV1(t *testing.T) {
	p := fixture(t, "v1-busybox")
	k := simulate(t, "ignore")
	err := Apply(p, lxcdriver.Limits{
		NumProc:    u64(10),
		MemSoft:    u64(4 << 20),
		MemHard:    u64(8 << 20),
		Swap:       u64(0),
		TCPBuf:     u64(16 << 20),
		CPUUnits:   u64(500),
		CPULimitPc: u64(50),
	})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	want := []lxcdriver.Counter{
		row(lxcdriver.ResNumProc, 4, 4, 10, 10, 0),
		row(lxcdriver.ResPhysPages, 177, 329, 1024, 2048, 0),
		row(lxcdriver.ResSwapPages, 0, 0, 0, 0, 0),
		row(lxcdriver.ResKmemSize, 360448, 741376, U, U, 0),
		row(lxcdriver.ResTCPSndBuf, 0, 0, 16<<20, 16<<20, 0),
		row(lxcdriver.ResCPU, 7, 7, 500, 50, 0),
		row(lxcdriver.ResOOM, 0, 0, U, U, 0),
	}
	wantRows(t, Read(p), want)
	if got := readNum(t, filepath.Join(p.CPU, "cpu.shares")); got != 512 {
		t.Errorf("cpu.shares = %d, want 512", got)
	}
	if got := readNum(t, filepath.Join(p.CPU, "cpu.cfs_quota_us")); got != 50000 {
		t.Errorf("cpu.cfs_quota_us = %d, want 50000", got)
	}

	// And back to no limits at all.
	k.writes = nil
	err = Apply(p, lxcdriver.Limits{
		NumProc: u64(U), MemSoft: u64(U), MemHard: u64(U), Swap: u64(U),
		TCPBuf: u64(U), CPUUnits: u64(1000), CPULimitPc: u64(0),
	})
	if err != nil {
		t.Fatalf("apply unlimited: %v", err)
	}
	wantRows(t, Read(p), []lxcdriver.Counter{
		row(lxcdriver.ResNumProc, 4, 4, U, U, 0),
		row(lxcdriver.ResPhysPages, 177, 329, U, U, 0),
		row(lxcdriver.ResSwapPages, 0, 0, U, U, 0),
		row(lxcdriver.ResKmemSize, 360448, 741376, U, U, 0),
		row(lxcdriver.ResTCPSndBuf, 0, 0, U, U, 0),
		row(lxcdriver.ResCPU, 7, 7, 1000, U, 0),
		row(lxcdriver.ResOOM, 0, 0, U, U, 0),
	})
	if got := strings.TrimSpace(readString(t, filepath.Join(p.CPU, "cpu.cfs_quota_us"))); got != "-1" {
		t.Errorf("cpu.cfs_quota_us = %q, want -1", got)
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The quota follows the cgroup's own CFS period.
func TestApplyV1CPUPeriod(t *testing.T) {
	p := fixture(t, "v1-busybox")
	writeFixture(t, p.CPU, "cpu.cfs_period_us", "50000\n")
	simulate(t, "ignore")
	if err := Apply(p, lxcdriver.Limits{CPULimitPc: u64(250)}); err != nil {
		t.Fatal(err)
	}
	if got := readNum(t, filepath.Join(p.CPU, "cpu.cfs_quota_us")); got != 125000 {
		t.Errorf("cpu.cfs_quota_us = %d, want 125000", got)
	}
	// A tiny limit is raised to the kernel's 1 ms minimum rather than
	// refused.
	if err := Apply(p, lxcdriver.Limits{CPULimitPc: u64(1)}); err != nil {
		t.Fatal(err)
	}
	if got := readNum(t, filepath.Join(p.CPU, "cpu.cfs_quota_us")); got != 1000 {
		t.Errorf("cpu.cfs_quota_us = %d, want 1000", got)
	}
}

func TestApplyV1Unsupported(t *testing.T) {
	cases := []struct {
		name string
		kmem string
		edit func(t *testing.T, p *Paths)
		l    lxcdriver.Limits
	}{
		{"kmem ignored", "ignore", nil, lxcdriver.Limits{NumProc: u64(10), KmemSize: u64(64 << 20)}},
		{"kmem refused", "refuse", nil, lxcdriver.Limits{NumProc: u64(10), KmemSize: u64(64 << 20)}},
		{"swap without a physpages limit", "ignore", nil, lxcdriver.Limits{NumProc: u64(10), Swap: u64(0)}},
		{"swap with the physpages limit removed", "ignore", nil, lxcdriver.Limits{MemHard: u64(U), Swap: u64(1 << 20)}},
		{"swap accounting off", "ignore", func(t *testing.T, p *Paths) {
			writeFixture(t, p.Memory, "memory.limit_in_bytes", "8388608\n")
			remove(t, p.Memory, "memory.memsw.limit_in_bytes")
		}, lxcdriver.Limits{Swap: u64(0)}},
		{"no pids controller", "ignore", func(t *testing.T, p *Paths) { p.Pids = "" }, lxcdriver.Limits{NumProc: u64(10)}},
		{"no cpu controller", "ignore", func(t *testing.T, p *Paths) { p.CPU = "" }, lxcdriver.Limits{NumProc: u64(10), CPUUnits: u64(10)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := fixture(t, "v1-busybox")
			if tc.edit != nil {
				tc.edit(t, &p)
			}
			before := snapshot(t, p)
			simulate(t, tc.kmem)
			err := Apply(p, tc.l)
			if !errors.Is(err, lxcdriver.ErrUnsupported) {
				t.Fatalf("apply: error %v, want %v", err, lxcdriver.ErrUnsupported)
			}
			if after := snapshot(t, p); !equalMaps(before, after) {
				t.Errorf("an unsupported limit changed files:\n before %v\n after  %v", before, after)
			}
		})
	}
}

// A kernel that honours kmem limits gets them.
func TestApplyV1Kmem(t *testing.T) {
	p := fixture(t, "v1-busybox")
	simulate(t, "honour")
	if err := Apply(p, lxcdriver.Limits{KmemSize: u64(64 << 20)}); err != nil {
		t.Fatal(err)
	}
	if got := readNum(t, filepath.Join(p.Memory, "memory.kmem.limit_in_bytes")); got != 64<<20 {
		t.Errorf("memory.kmem.limit_in_bytes = %d", got)
	}
}

// A write the kernel refuses halfway undoes those before it.
func TestApplyRevert(t *testing.T) {
	p := fixture(t, "v1-limited") // 1441792 bytes in use
	before := snapshot(t, p)
	k := simulate(t, "ignore")
	err := Apply(p, lxcdriver.Limits{NumProc: u64(100), MemSoft: u64(512 << 10), MemHard: u64(1 << 20), Swap: u64(0), CPUUnits: u64(2000)})
	if !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("apply a limit below usage: error %v, want EBUSY", err)
	}
	if errors.Is(err, lxcdriver.ErrUnsupported) {
		t.Errorf("a refused value is not an unsupported limit: %v", err)
	}
	if after := snapshot(t, p); !equalMaps(before, after) {
		t.Errorf("files not restored (writes %v):\n before %v\n after  %v", k.writes, before, after)
	}
}

func TestApplyV2(t *testing.T) {
	p := fixture(t, "v2-busybox")
	simulate(t, "ignore")
	err := Apply(p, lxcdriver.Limits{
		NumProc:    u64(10),
		MemSoft:    u64(4 << 20),
		MemHard:    u64(8 << 20),
		Swap:       u64(2 << 20),
		CPUUnits:   u64(500),
		CPULimitPc: u64(50),
	})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	for name, want := range map[string]string{
		"pids.max":        "10",
		"memory.high":     "4194304",
		"memory.max":      "8388608",
		"memory.swap.max": "2097152",
		"cpu.weight":      "50",
		"cpu.max":         "50000 100000",
	} {
		if got := strings.TrimSpace(readString(t, filepath.Join(p.V2, name))); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	wantRows(t, Read(p), []lxcdriver.Counter{
		row(lxcdriver.ResNumProc, 4, 6, 10, 10, 0),
		row(lxcdriver.ResPhysPages, 338, 524, 1024, 2048, 0),
		row(lxcdriver.ResSwapPages, 0, 0, 512, 512, 0),
		row(lxcdriver.ResKmemSize, 634880, 634880, U, U, 0),
		row(lxcdriver.ResTCPSndBuf, 12288, 12288, U, U, 0),
		row(lxcdriver.ResCPU, 8, 8, 500, 50, 0),
		row(lxcdriver.ResOOM, 0, 0, U, U, 0),
	})

	err = Apply(p, lxcdriver.Limits{NumProc: u64(U), MemSoft: u64(U), MemHard: u64(U), Swap: u64(U), CPULimitPc: u64(U),
		KmemSize: u64(U), TCPBuf: u64(U)}) // "no limit" is fine where there is none
	if err != nil {
		t.Fatalf("apply unlimited: %v", err)
	}
	for name, want := range map[string]string{
		"pids.max": "max", "memory.high": "max", "memory.max": "max", "memory.swap.max": "max", "cpu.max": "max 100000",
	} {
		if got := strings.TrimSpace(readString(t, filepath.Join(p.V2, name))); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestApplyV2Unsupported(t *testing.T) {
	cases := []struct {
		fixture string
		l       lxcdriver.Limits
	}{
		{"v2-busybox", lxcdriver.Limits{NumProc: u64(10), KmemSize: u64(1 << 20)}},
		{"v2-busybox", lxcdriver.Limits{NumProc: u64(10), TCPBuf: u64(1 << 20)}},
		{"v2-old", lxcdriver.Limits{NumProc: u64(10), Swap: u64(0)}},        // no swap accounting
		{"v2-old", lxcdriver.Limits{NumProc: u64(10), CPULimitPc: u64(50)}}, // no cpu controller
	}
	for _, tc := range cases {
		p := fixture(t, tc.fixture)
		before := snapshot(t, p)
		simulate(t, "ignore")
		if err := Apply(p, tc.l); !errors.Is(err, lxcdriver.ErrUnsupported) {
			t.Errorf("%s %+v: error %v, want %v", tc.fixture, tc.l, err, lxcdriver.ErrUnsupported)
		}
		if after := snapshot(t, p); !equalMaps(before, after) {
			t.Errorf("%s: an unsupported limit changed files", tc.fixture)
		}
	}
	// Without swap accounting, "no swap limit" is what there is.
	p := fixture(t, "v2-old")
	if err := Apply(p, lxcdriver.Limits{Swap: u64(U), NumProc: u64(20)}); err != nil {
		t.Errorf("unlimited swap without swap accounting: %v", err)
	}
}

// snapshot reads every file under the container's cgroup directories.
func snapshot(t *testing.T, p Paths) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, dir := range []string{p.V2, p.Pids, p.Memory, p.CPU, p.CPUAcct} {
		if dir == "" {
			continue
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			m[filepath.Join(dir, e.Name())] = readString(t, filepath.Join(dir, e.Name()))
		}
	}
	return m
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
