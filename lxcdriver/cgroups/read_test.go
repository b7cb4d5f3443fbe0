package cgroups

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

const U = lxcdriver.Unlimited

// fixture copies testdata/name into a temp dir (so a test may delete or
// rewrite files) and locates the container in it through its
// proc_cgroup, the way Locate does on a host.
func fixture(t *testing.T, name string) Paths {
	t.Helper()
	root := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(root, os.DirFS(filepath.Join("testdata", name))); err != nil {
		t.Fatal(err)
	}
	proc, err := os.ReadFile(filepath.Join(root, "proc_cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	l := Layout{V1Root: root}
	if strings.HasPrefix(name, "v2") {
		l = Layout{V2Root: root}
	}
	p, err := ParseProcCgroup(proc, l)
	if err != nil {
		t.Fatalf("locate in %s: %v", name, err)
	}
	return p
}

func remove(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFixture(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func row(res string, held, maxheld, barrier, limit, failcnt uint64) lxcdriver.Counter {
	return lxcdriver.Counter{Resource: res, Held: held, MaxHeld: maxheld, Barrier: barrier, Limit: limit, FailCnt: failcnt}
}

func wantRows(t *testing.T, got, want []lxcdriver.Counter) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d rows, want %d:\n got  %v\n want %v", len(got), len(want), got, want)
		return
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d:\n got  %+v\n want %+v", i, got[i], want[i])
		}
	}
}

func TestReadV1(t *testing.T) {
	cases := []struct {
		fixture string
		edit    func(t *testing.T, p Paths)
		want    []lxcdriver.Counter
	}{
		{"v1-busybox", nil, []lxcdriver.Counter{
			row(lxcdriver.ResNumProc, 4, 4, U, U, 0),
			row(lxcdriver.ResPhysPages, 177, 329, U, U, 0),
			row(lxcdriver.ResSwapPages, 0, 0, U, U, 0),
			row(lxcdriver.ResKmemSize, 360448, 741376, U, U, 0),
			row(lxcdriver.ResTCPSndBuf, 0, 0, U, U, 0),
			row(lxcdriver.ResCPU, 7, 7, 1000, U, 0),
			row(lxcdriver.ResOOM, 0, 0, U, U, 0),
		}},
		{"v1-limited", nil, []lxcdriver.Counter{
			row(lxcdriver.ResNumProc, 4, 11, 10, 10, 6),
			row(lxcdriver.ResPhysPages, 352, 13427, 1024, 2048, 171),
			row(lxcdriver.ResSwapPages, 0, 0, 0, 0, 0),
			row(lxcdriver.ResKmemSize, 376832, 1241088, U, U, 0),
			row(lxcdriver.ResTCPSndBuf, 0, 0, 16777216, 16777216, 0),
			row(lxcdriver.ResCPU, 636, 636, 500, 50, 10),
			row(lxcdriver.ResOOM, 0, 0, U, U, 2),
		}},
		// Swap in use, with a 4M swap allowance on an 8M limit.
		{"v1-limited", func(t *testing.T, p Paths) {
			writeFixture(t, p.Memory, "memory.memsw.usage_in_bytes", "2490368\n")
			writeFixture(t, p.Memory, "memory.memsw.max_usage_in_bytes", "59191296\n")
			writeFixture(t, p.Memory, "memory.memsw.limit_in_bytes", "12582912\n")
		}, []lxcdriver.Counter{
			row(lxcdriver.ResNumProc, 4, 11, 10, 10, 6),
			row(lxcdriver.ResPhysPages, 352, 13427, 1024, 2048, 171),
			row(lxcdriver.ResSwapPages, 256, 1024, 1024, 1024, 0),
			row(lxcdriver.ResKmemSize, 376832, 1241088, U, U, 0),
			row(lxcdriver.ResTCPSndBuf, 0, 0, 16777216, 16777216, 0),
			row(lxcdriver.ResCPU, 636, 636, 500, 50, 10),
			row(lxcdriver.ResOOM, 0, 0, U, U, 2),
		}},
		// Swap accounting off, a kernel before pids.peak, no kmem
		// accounting, no oom_kill line (before 4.13).
		{"v1-busybox", func(t *testing.T, p Paths) {
			remove(t, p.Pids, "pids.peak")
			remove(t, p.Memory, "memory.memsw.usage_in_bytes", "memory.memsw.max_usage_in_bytes",
				"memory.memsw.limit_in_bytes", "memory.memsw.failcnt",
				"memory.kmem.usage_in_bytes", "memory.kmem.max_usage_in_bytes",
				"memory.kmem.limit_in_bytes", "memory.kmem.failcnt")
			writeFixture(t, p.Memory, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n")
		}, []lxcdriver.Counter{
			row(lxcdriver.ResNumProc, 4, 4, U, U, 0),
			row(lxcdriver.ResPhysPages, 177, 329, U, U, 0),
			row(lxcdriver.ResTCPSndBuf, 0, 0, U, U, 0),
			row(lxcdriver.ResCPU, 7, 7, 1000, U, 0),
		}},
		// Controllers not mounted at all.
		{"v1-busybox", func(t *testing.T, p Paths) {
			for _, d := range []string{p.Pids, p.CPUAcct} {
				if err := os.RemoveAll(d); err != nil {
					t.Fatal(err)
				}
			}
		}, []lxcdriver.Counter{
			row(lxcdriver.ResPhysPages, 177, 329, U, U, 0),
			row(lxcdriver.ResSwapPages, 0, 0, U, U, 0),
			row(lxcdriver.ResKmemSize, 360448, 741376, U, U, 0),
			row(lxcdriver.ResTCPSndBuf, 0, 0, U, U, 0),
			row(lxcdriver.ResOOM, 0, 0, U, U, 0),
		}},
		// Limits written the other ways the kernel prints them: a
		// pids.max number, LONG_MAX itself, cpu quota set.
		{"v1-busybox", func(t *testing.T, p Paths) {
			writeFixture(t, p.Pids, "pids.max", "4194304\n")
			writeFixture(t, p.Memory, "memory.limit_in_bytes", "9223372036854775807\n")
			writeFixture(t, p.CPU, "cpu.cfs_quota_us", "250000\n")
			writeFixture(t, p.CPU, "cpu.cfs_period_us", "50000\n")
			writeFixture(t, p.CPU, "cpu.shares", "2\n")
		}, []lxcdriver.Counter{
			row(lxcdriver.ResNumProc, 4, 4, 4194304, 4194304, 0),
			row(lxcdriver.ResPhysPages, 177, 329, U, U, 0),
			row(lxcdriver.ResSwapPages, 0, 0, U, U, 0),
			row(lxcdriver.ResKmemSize, 360448, 741376, U, U, 0),
			row(lxcdriver.ResTCPSndBuf, 0, 0, U, U, 0),
			row(lxcdriver.ResCPU, 7, 7, 2, 500, 0),
			row(lxcdriver.ResOOM, 0, 0, U, U, 0),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			p := fixture(t, tc.fixture)
			if tc.edit != nil {
				tc.edit(t, p)
			}
			wantRows(t, ReadV1(p), tc.want)
			wantRows(t, Read(p), tc.want)
		})
	}
}

func TestReadV2(t *testing.T) {
	cases := []struct {
		fixture string
		edit    func(t *testing.T, dir string)
		want    []lxcdriver.Counter
	}{
		{"v2-busybox", nil, []lxcdriver.Counter{
			row(lxcdriver.ResNumProc, 4, 6, U, U, 0),
			row(lxcdriver.ResPhysPages, 338, 524, U, U, 0),
			row(lxcdriver.ResSwapPages, 0, 0, U, U, 0),
			row(lxcdriver.ResKmemSize, 634880, 634880, U, U, 0),
			row(lxcdriver.ResTCPSndBuf, 12288, 12288, U, U, 0),
			row(lxcdriver.ResCPU, 8, 8, 1000, U, 0),
			row(lxcdriver.ResOOM, 0, 0, U, U, 0),
		}},
		{"v2-limited", nil, []lxcdriver.Counter{
			row(lxcdriver.ResNumProc, 10, 10, 10, 10, 6),
			row(lxcdriver.ResPhysPages, 2013, 2048, 1024, 2048, 171),
			row(lxcdriver.ResSwapPages, 256, 512, 512, 512, 3),
			row(lxcdriver.ResKmemSize, 589824, 589824, U, U, 0),
			row(lxcdriver.ResTCPSndBuf, 4096, 4096, U, U, 0),
			row(lxcdriver.ResCPU, 635, 635, 500, 50, 10),
			row(lxcdriver.ResOOM, 0, 0, U, U, 2),
		}},
		{"v2-old", nil, []lxcdriver.Counter{
			row(lxcdriver.ResNumProc, 4, 4, 512, 512, 0),
			row(lxcdriver.ResPhysPages, 338, 338, 65536, 65536, 0),
			row(lxcdriver.ResTCPSndBuf, 0, 0, U, U, 0),
			row(lxcdriver.ResOOM, 0, 0, U, U, 0),
		}},
		// No memory controller: no physpages, and no oom row either.
		{"v2-old", func(t *testing.T, dir string) {
			remove(t, dir, "memory.current", "memory.high", "memory.max", "memory.events", "memory.stat")
		}, []lxcdriver.Counter{
			row(lxcdriver.ResNumProc, 4, 4, 512, 512, 0),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			p := fixture(t, tc.fixture)
			if p.V2 == "" || p.Memory != "" {
				t.Fatalf("fixture %s located as %+v, want a v2 dir only", tc.fixture, p)
			}
			if tc.edit != nil {
				tc.edit(t, p.V2)
			}
			wantRows(t, ReadV2(p.V2), tc.want)
			wantRows(t, Read(p), tc.want)
		})
	}
}

// A container that stopped has no cgroup directories left: no rows, and
// nothing made up.
func TestReadGone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	if rows := Read(Paths{Pids: dir, Memory: dir, CPU: dir, CPUAcct: dir}); len(rows) != 0 {
		t.Errorf("v1 rows from missing dirs: %v", rows)
	}
	if rows := ReadV2(dir); len(rows) != 0 {
		t.Errorf("v2 rows from a missing dir: %v", rows)
	}
}

// A file bigger than the reader's first buffer is read whole.
func TestReadLargeFile(t *testing.T) {
	p := fixture(t, "v2-busybox")
	stat := strings.Repeat("filler_key_that_pads_the_file 12345\n", 600) + "kernel 777\nsock 5\n"
	writeFixture(t, p.V2, "memory.stat", stat)
	var r Reader
	rows := r.Read(p, nil)
	found := 0
	for _, c := range rows {
		switch c.Resource {
		case lxcdriver.ResKmemSize:
			found++
			if c.Held != 777 {
				t.Errorf("kmemsize held %d, want 777", c.Held)
			}
		case lxcdriver.ResTCPSndBuf:
			found++
			if c.Held != 5 {
				t.Errorf("tcpsndbuf held %d, want 5", c.Held)
			}
		}
	}
	if found != 2 {
		t.Errorf("rows %v lack kmemsize or tcpsndbuf", rows)
	}
}

func TestParseHelpers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0\n", 0, true},
		{" 42 \n", 42, true},
		{"18446744073709551615", 1<<64 - 1, true},
		{"18446744073709551616", 0, false},
		{"-1", 0, false},
		{"", 0, false},
		{"12a", 0, false},
	} {
		got, ok := parseUint([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseUint(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"max\n", U},
		{"9223372036854771712\n", U},
		{"9223372036854775807", U},
		{"4611686018427387904", U}, // 1<<62
		{"8388608\n", 8388608},
		{"garbage", U},
	} {
		if got := parseLimit([]byte(tc.in)); got != tc.want {
			t.Errorf("parseLimit(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	stat := []byte("nr_periods 16\nnr_throttled 10\nthrottled_time 456039121\n")
	if v, ok := keyed(stat, "nr_throttled"); !ok || v != 10 {
		t.Errorf("keyed nr_throttled = %d, %v", v, ok)
	}
	if _, ok := keyed(stat, "nr_thrott"); ok {
		t.Error("keyed matched a key prefix")
	}
	if _, ok := keyed(stat, "burst_time"); ok {
		t.Error("keyed found a missing key")
	}
	if v, ok := parseInt([]byte("-1\n")); !ok || v != -1 {
		t.Errorf("parseInt(-1) = %d, %v", v, ok)
	}
}

func TestCPUConversions(t *testing.T) {
	for units := uint64(1); units <= 300000; units++ {
		s := UnitsToShares(units)
		if s < 2 || s > 262144 {
			t.Fatalf("UnitsToShares(%d) = %d out of range", units, s)
		}
		if units >= 2 && units <= 256000 && SharesToUnits(s) != units {
			t.Fatalf("cpuunits %d -> shares %d -> %d", units, s, SharesToUnits(s))
		}
	}
	for _, tc := range []struct{ units, shares, weight uint64 }{
		{1000, 1024, 100},
		{500, 512, 50},
		{0, 2, 1},
		{1 << 63, 262144, 10000},
	} {
		if got := UnitsToShares(tc.units); got != tc.shares {
			t.Errorf("UnitsToShares(%d) = %d, want %d", tc.units, got, tc.shares)
		}
		if got := UnitsToWeight(tc.units); got != tc.weight {
			t.Errorf("UnitsToWeight(%d) = %d, want %d", tc.units, got, tc.weight)
		}
	}
}

// BenchmarkRead reads the captured v1 fixture: the cost of one container
// in the 10 s sampling loop, minus the cgroup files being kernfs.
func BenchmarkRead(b *testing.B) {
	proc, err := os.ReadFile("testdata/v1-busybox/proc_cgroup")
	if err != nil {
		b.Fatal(err)
	}
	root, _ := filepath.Abs("testdata/v1-busybox")
	p, err := ParseProcCgroup(proc, Layout{V1Root: root})
	if err != nil {
		b.Fatal(err)
	}
	var r Reader
	dst := make([]lxcdriver.Counter, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		dst = r.Read(p, dst[:0])
	}
}

// BenchmarkReadHost reads a live container's cgroups: set
// CTPANEL_BENCH_PID to its init pid (lxc-info -pH -n NAME).
func BenchmarkReadHost(b *testing.B) {
	pid, err := strconv.Atoi(os.Getenv("CTPANEL_BENCH_PID"))
	if err != nil {
		b.Skip("set CTPANEL_BENCH_PID to a running container's init pid")
	}
	p, err := Locate(pid)
	if err != nil {
		b.Fatal(err)
	}
	var r Reader
	dst := make([]lxcdriver.Counter, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		dst = r.Read(p, dst[:0])
	}
	b.Logf("%d rows", len(dst))
}

// BenchmarkLocateRead is one sample as the panel takes it: find the
// cgroups from the init pid, then read them.
func BenchmarkLocateRead(b *testing.B) {
	pid, err := strconv.Atoi(os.Getenv("CTPANEL_BENCH_PID"))
	if err != nil {
		b.Skip("set CTPANEL_BENCH_PID to a running container's init pid")
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := Locate(pid)
		if err != nil {
			b.Fatal(err)
		}
		Read(p)
	}
}
