package cgroups

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

func TestConfigItems(t *testing.T) {
	const M = 1 << 20
	ci := func(kv ...string) []lxcdriver.ConfigItem {
		var items []lxcdriver.ConfigItem
		for i := 0; i < len(kv); i += 2 {
			items = append(items, lxcdriver.ConfigItem{Key: kv[i], Value: kv[i+1]})
		}
		return items
	}
	full := lxcdriver.Limits{
		NumProc: u64(64), MemSoft: u64(48 * M), MemHard: u64(64 * M), Swap: u64(16 * M),
		KmemSize: u64(32 * M), TCPBuf: u64(8 * M), CPUUnits: u64(500), CPULimitPc: u64(150),
	}
	cases := []struct {
		name string
		v2   bool
		l    lxcdriver.Limits
		want []lxcdriver.ConfigItem
	}{
		{"v1 all, memsw after the memory limit", false, full, ci(
			"lxc.cgroup.pids.max", "64",
			"lxc.cgroup.memory.soft_limit_in_bytes", "50331648",
			"lxc.cgroup.memory.limit_in_bytes", "67108864",
			"lxc.cgroup.memory.memsw.limit_in_bytes", "83886080",
			"lxc.cgroup.memory.kmem.limit_in_bytes", "33554432",
			"lxc.cgroup.memory.kmem.tcp.limit_in_bytes", "8388608",
			"lxc.cgroup.cpu.shares", "512",
			"lxc.cgroup.cpu.cfs_quota_us", "150000",
		)},
		{"v1 unlimited", false, lxcdriver.Limits{NumProc: u64(U), MemHard: u64(U), Swap: u64(U), CPULimitPc: u64(0)}, ci(
			"lxc.cgroup.pids.max", "max",
			"lxc.cgroup.memory.limit_in_bytes", "-1",
			"lxc.cgroup.memory.memsw.limit_in_bytes", "-1",
			"lxc.cgroup.cpu.cfs_quota_us", "-1",
		)},
		// Check refuses it; ConfigItems must still not write a memsw
		// below an unlimited memory limit, which would fail the start.
		{"v1 swap without a memory limit", false, lxcdriver.Limits{Swap: u64(0)}, ci(
			"lxc.cgroup.memory.memsw.limit_in_bytes", "-1",
		)},
		{"v1 memory limit alone leaves memsw unset", false, lxcdriver.Limits{MemHard: u64(8 * M)}, ci(
			"lxc.cgroup.memory.limit_in_bytes", "8388608",
		)},
		{"v1 nothing", false, lxcdriver.Limits{}, nil},
		{"v2 all, kmem and tcp left out", true, full, ci(
			"lxc.cgroup2.pids.max", "64",
			"lxc.cgroup2.memory.high", "50331648",
			"lxc.cgroup2.memory.max", "67108864",
			"lxc.cgroup2.memory.swap.max", "16777216",
			"lxc.cgroup2.cpu.weight", "50",
			"lxc.cgroup2.cpu.max", "150000 100000",
		)},
		{"v2 unlimited", true, lxcdriver.Limits{NumProc: u64(U), MemSoft: u64(U), MemHard: u64(U), Swap: u64(U), CPULimitPc: u64(U)}, ci(
			"lxc.cgroup2.pids.max", "max",
			"lxc.cgroup2.memory.high", "max",
			"lxc.cgroup2.memory.max", "max",
			"lxc.cgroup2.memory.swap.max", "max",
			"lxc.cgroup2.cpu.max", "max 100000",
		)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ConfigItems(tc.v2, tc.l)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
			keys := ConfigKeys(tc.v2)
			last := -1
			for _, it := range got {
				i := slices.Index(keys, it.Key)
				if i <= last {
					t.Errorf("key %s not in ConfigKeys order %v", it.Key, keys)
				}
				last = i
			}
		})
	}
}

// What ConfigItems writes, LimitsFromConfig reads back.
func TestLimitsFromConfigRoundTrip(t *testing.T) {
	const M = 1 << 20
	cases := []struct {
		v2 bool
		l  lxcdriver.Limits
	}{
		{false, lxcdriver.Limits{
			NumProc: u64(64), MemSoft: u64(48 * M), MemHard: u64(64 * M), Swap: u64(16 * M),
			KmemSize: u64(32 * M), TCPBuf: u64(8 * M), CPUUnits: u64(500), CPULimitPc: u64(150),
		}},
		{false, lxcdriver.Limits{NumProc: u64(U), MemHard: u64(U), Swap: u64(U), CPULimitPc: u64(U), CPUUnits: u64(333)}},
		{false, lxcdriver.Limits{MemHard: u64(8 * M), Swap: u64(0)}},
		{false, lxcdriver.Limits{}},
		{true, lxcdriver.Limits{
			NumProc: u64(64), MemSoft: u64(48 * M), MemHard: u64(64 * M), Swap: u64(16 * M),
			CPUUnits: u64(500), CPULimitPc: u64(150),
		}},
		{true, lxcdriver.Limits{NumProc: u64(U), MemSoft: u64(U), MemHard: u64(U), Swap: u64(U), CPULimitPc: u64(U)}},
	}
	for _, tc := range cases {
		cfg := map[string]string{}
		for _, it := range ConfigItems(tc.v2, tc.l) {
			cfg[it.Key] = it.Value
		}
		got := LimitsFromConfig(tc.v2, func(k string) string { return cfg[k] })
		if !reflect.DeepEqual(got, tc.l) {
			t.Errorf("v2=%v: %s\n read back as %s\n from %v", tc.v2, show(tc.l), show(got), cfg)
		}
	}
}

func show(l lxcdriver.Limits) string {
	s := ""
	for _, f := range []struct {
		n string
		p *uint64
	}{{"numproc", l.NumProc}, {"soft", l.MemSoft}, {"hard", l.MemHard}, {"swap", l.Swap}, {"kmem", l.KmemSize},
		{"tcp", l.TCPBuf}, {"units", l.CPUUnits}, {"pc", l.CPULimitPc}} {
		if f.p != nil {
			s += f.n + "=" + formatU(*f.p) + " "
		}
	}
	return "{" + s + "}"
}

func formatU(v uint64) string {
	if v == U {
		return "U"
	}
	return maxOr(v)
}

// Config written by hand: suffixes, repeated keys (the caller passes the
// last), garbage left out.
func TestLimitsFromConfigByHand(t *testing.T) {
	cfg := map[string]string{
		"lxc.cgroup.pids.max":                    " 100 ",
		"lxc.cgroup.memory.limit_in_bytes":       "512M",
		"lxc.cgroup.memory.memsw.limit_in_bytes": "1G",
		"lxc.cgroup.memory.soft_limit_in_bytes":  "lots",
		"lxc.cgroup.cpu.cfs_quota_us":            "50000",
		"lxc.cgroup.cpu.cfs_period_us":           "200000",
	}
	got := LimitsFromConfig(false, func(k string) string { return cfg[k] })
	want := lxcdriver.Limits{NumProc: u64(100), MemHard: u64(512 << 20), Swap: u64(512 << 20), CPULimitPc: u64(25)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %s, want %s", show(got), show(want))
	}
	got = LimitsFromConfig(true, func(k string) string {
		return map[string]string{"lxc.cgroup2.cpu.max": "max", "lxc.cgroup2.memory.max": "2G"}[k]
	})
	want = lxcdriver.Limits{MemHard: u64(2 << 30), CPULimitPc: u64(U)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("v2: got %s, want %s", show(got), show(want))
	}
}

func TestMerge(t *testing.T) {
	const M = 1 << 20
	saved := lxcdriver.Limits{NumProc: u64(64), MemHard: u64(8 * M), Swap: u64(0), CPUUnits: u64(500)}
	cases := []struct {
		name string
		v2   bool
		req  lxcdriver.Limits
		want lxcdriver.Limits
	}{
		{"fields replace", false, lxcdriver.Limits{NumProc: u64(32), CPULimitPc: u64(50)},
			lxcdriver.Limits{NumProc: u64(32), MemHard: u64(8 * M), Swap: u64(0), CPUUnits: u64(500), CPULimitPc: u64(50)}},
		{"v1: no memory limit, no swap limit", false, lxcdriver.Limits{MemHard: u64(U)},
			lxcdriver.Limits{NumProc: u64(64), MemHard: u64(U), Swap: u64(U), CPUUnits: u64(500)}},
		{"v2: swap is its own limit", true, lxcdriver.Limits{MemHard: u64(U)},
			lxcdriver.Limits{NumProc: u64(64), MemHard: u64(U), Swap: u64(0), CPUUnits: u64(500)}},
		{"nothing", false, lxcdriver.Limits{}, saved},
	}
	for _, tc := range cases {
		got := Merge(tc.v2, saved, tc.req)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %s, want %s", tc.name, show(got), show(tc.want))
		}
	}
	// Merge copies: changing the result leaves saved alone.
	got := Merge(false, saved, lxcdriver.Limits{})
	*got.NumProc = 1
	if *saved.NumProc != 64 {
		t.Error("Merge shares pointers with its input")
	}
}

func TestCheck(t *testing.T) {
	hard := lxcdriver.Limits{MemHard: u64(8 << 20)}
	cases := []struct {
		name    string
		v2      bool
		req     lxcdriver.Limits
		inForce lxcdriver.Limits
		ok      bool
	}{
		{"v1 swap with a memory limit in the request", false, lxcdriver.Limits{MemHard: u64(8 << 20), Swap: u64(0)}, lxcdriver.Limits{}, true},
		{"v1 swap with a memory limit in force", false, lxcdriver.Limits{Swap: u64(0)}, hard, true},
		{"v1 swap without a memory limit", false, lxcdriver.Limits{Swap: u64(0)}, lxcdriver.Limits{}, false},
		{"v1 swap while removing the memory limit", false, lxcdriver.Limits{Swap: u64(0), MemHard: u64(U)}, hard, false},
		{"v1 unlimited swap needs nothing", false, lxcdriver.Limits{Swap: u64(U)}, lxcdriver.Limits{}, true},
		{"v1 kmem is a question for the kernel", false, lxcdriver.Limits{KmemSize: u64(1 << 20)}, lxcdriver.Limits{}, true},
		{"v2 kmem", true, lxcdriver.Limits{KmemSize: u64(1 << 20)}, lxcdriver.Limits{}, false},
		{"v2 tcp", true, lxcdriver.Limits{TCPBuf: u64(1 << 20)}, lxcdriver.Limits{}, false},
		{"v2 unlimited kmem and tcp", true, lxcdriver.Limits{KmemSize: u64(U), TCPBuf: u64(U)}, lxcdriver.Limits{}, true},
		{"v2 swap alone", true, lxcdriver.Limits{Swap: u64(0)}, lxcdriver.Limits{}, true},
	}
	for _, tc := range cases {
		err := Check(tc.v2, tc.req, tc.inForce)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, lxcdriver.ErrUnsupported) {
			t.Errorf("%s: error %v, want %v", tc.name, err, lxcdriver.ErrUnsupported)
		}
	}
}
