package cgroups

import (
	"testing"
)

func TestParseProcCgroup(t *testing.T) {
	hybrid := Layout{V1Root: "/sys/fs/cgroup", V2Root: "/sys/fs/cgroup/unified"}
	pureV2 := Layout{V2Root: "/sys/fs/cgroup"}
	// What this project's CI host (hybrid, separate cpu and cpuacct
	// hierarchies) shows for a container's init.
	const v1Init = `9:name=systemd:/lxc.payload.101
8:pids:/lxc.payload.101
6:freezer:/lxc.payload.101
4:memory:/lxc.payload.101
2:cpuacct:/lxc.payload.101
1:cpu:/lxc.payload.101
0::/lxc.payload.101
`
	const c = "/sys/fs/cgroup/"
	cases := []struct {
		name       string
		procCgroup string
		layout     Layout
		want       Paths
		wantErr    bool
	}{
		{"v1 hybrid", v1Init, hybrid, Paths{
			Pids: c + "pids/lxc.payload.101", Memory: c + "memory/lxc.payload.101",
			CPU: c + "cpu/lxc.payload.101", CPUAcct: c + "cpuacct/lxc.payload.101",
			Freezer: c + "freezer/lxc.payload.101",
		}, false},
		{"v1 co-mounted controllers", "11:cpu,cpuacct:/lxc.payload.101\n4:memory:/lxc.payload.101\n", hybrid, Paths{
			Memory: c + "memory/lxc.payload.101",
			CPU:    c + "cpu,cpuacct/lxc.payload.101", CPUAcct: c + "cpu,cpuacct/lxc.payload.101",
		}, false},
		{"v1 renamed payload", "6:freezer:/lxc.payload.101-1\n0::/lxc.payload.101-1\n", hybrid,
			Paths{Freezer: c + "freezer/lxc.payload.101-1"}, false},
		{"v1 nested cgroup below payload", "6:freezer:/lxc.payload.101/sub/deeper\n", hybrid,
			Paths{Freezer: c + "freezer/lxc.payload.101"}, false},
		{"v1 custom cgroup dir", "6:freezer:/machines/101\n", hybrid,
			Paths{Freezer: c + "freezer/machines/101"}, false},
		// Hybrid: the cgroup2 line is never used, even for a controller
		// v1 lacks (liblxc would not freeze through cgroup2 there).
		{"hybrid without v1 freezer", "8:pids:/lxc.payload.101\n0::/lxc.payload.101\n", hybrid,
			Paths{Pids: c + "pids/lxc.payload.101"}, false},
		{"v2 systemd init.scope", "0::/lxc.payload.101/init.scope\n", pureV2,
			Paths{V2: c + "lxc.payload.101"}, false},
		{"v2 without a cgroup2 mount", "0::/lxc.payload.101\n", Layout{}, Paths{}, true},
		{"only named hierarchies", "1:name=systemd:/lxc.payload.101\n", hybrid, Paths{}, true},
		{"empty", "", hybrid, Paths{}, true},
		{"garbage", "not a cgroup line\n::\n", hybrid, Paths{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProcCgroup([]byte(tc.procCgroup), tc.layout)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error: %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestLayoutPureV2(t *testing.T) {
	for _, tc := range []struct {
		l    Layout
		want bool
	}{
		{Layout{V2Root: "/sys/fs/cgroup"}, true},
		{Layout{V1Root: "/sys/fs/cgroup", V2Root: "/sys/fs/cgroup/unified"}, false},
		{Layout{V1Root: "/sys/fs/cgroup"}, false},
		{Layout{}, false},
	} {
		if got := tc.l.PureV2(); got != tc.want {
			t.Errorf("%+v.PureV2() = %v, want %v", tc.l, got, tc.want)
		}
	}
}
