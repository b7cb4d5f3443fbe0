package pages

import (
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/monitor"
)

// TestMetersOf: usage in plain words against the limits, levels at 80 and
// 95 %, "no limit" where none is set.
func TestMetersOf(t *testing.T) {
	rows := []monitor.Row{
		{Resource: lxcdriver.ResPhysPages, Held: 30720, Limit: 65536}, // 120 of 256 MiB
		{Resource: lxcdriver.ResNumProc, Held: 97, Limit: 100},
	}
	disk := &lxcdriver.DiskUsage{UsedBytes: 850 << 20, SizeBytes: 1 << 30, Loop: true}
	cpu, capPc := 12.4, uint64(50)
	in, out := uint64(3<<30), uint64(512<<20)
	got := metersOf(rows, disk, &cpu, &capPc, &in, &out)
	want := []struct{ name, text, level string }{
		{"Memory", "120.0 MiB of 256.0 MiB", "ok"},
		{"CPU (5-minute average, % of one CPU)", "12 % of 50 %", "ok"},
		{"Disk", "850.0 MiB of 1.0 GiB", "warn"},
		{"Processes", "97 of 100", "bad"},
		{"Traffic this month", "3.0 GiB in, 512.0 MiB out", "ok"},
	}
	if len(got) != len(want) {
		t.Fatalf("meters: %+v", got)
	}
	for i, w := range want {
		if got[i].Name != w.name || got[i].Text != w.text || got[i].Level != w.level {
			t.Errorf("meter %d: %+v, want %s %q %s", i, got[i], w.name, w.text, w.level)
		}
	}
	free := metersOf([]monitor.Row{{Resource: lxcdriver.ResPhysPages, Held: 256, Limit: uint64(lxcdriver.Unlimited)}}, nil, nil, nil, nil, nil)
	if len(free) != 1 || free[0].Text != "1.0 MiB, no limit" || free[0].Limited {
		t.Errorf("no limit: %+v", free)
	}
}
