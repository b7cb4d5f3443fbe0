package liblxc

import "testing"

func TestContainerCgroup(t *testing.T) {
	hybrid := cgroupLayout{v1Root: "/sys/fs/cgroup", v2Root: "/sys/fs/cgroup/unified"}
	pureV2 := cgroupLayout{v2Root: "/sys/fs/cgroup"}
	// What a hybrid host (this project's CI) shows for a container's init.
	const v1Init = `12:pids:/lxc.payload.101
11:cpu,cpuacct:/lxc.payload.101
6:freezer:/lxc.payload.101
1:name=systemd:/lxc.payload.101/init.scope
0::/lxc.payload.101
`
	cases := []struct {
		name       string
		procCgroup string
		controller string
		layout     cgroupLayout
		wantDir    string
		wantV2     bool
		wantErr    bool
	}{
		{"v1 freezer", v1Init, "freezer", hybrid, "/sys/fs/cgroup/freezer/lxc.payload.101", false, false},
		{"v1 pids", v1Init, "pids", hybrid, "/sys/fs/cgroup/pids/lxc.payload.101", false, false},
		{"v1 co-mounted controllers", v1Init, "cpuacct", hybrid, "/sys/fs/cgroup/cpu,cpuacct/lxc.payload.101", false, false},
		{"v1 renamed payload", "6:freezer:/lxc.payload.101-1\n0::/lxc.payload.101-1\n", "freezer", hybrid,
			"/sys/fs/cgroup/freezer/lxc.payload.101-1", false, false},
		{"v1 nested cgroup below payload", "6:freezer:/lxc.payload.101/sub/deeper\n", "freezer", hybrid,
			"/sys/fs/cgroup/freezer/lxc.payload.101", false, false},
		{"v1 custom cgroup dir", "6:freezer:/machines/101\n", "freezer", hybrid,
			"/sys/fs/cgroup/freezer/machines/101", false, false},
		// Hybrid without a v1 freezer: liblxc would not use cgroup2's
		// freezer there, so neither may we.
		{"hybrid without v1 freezer", "8:pids:/lxc.payload.101\n0::/lxc.payload.101\n", "freezer", hybrid, "", false, true},
		{"v2 systemd init.scope", "0::/lxc.payload.101/init.scope\n", "freezer", pureV2,
			"/sys/fs/cgroup/lxc.payload.101", true, false},
		{"v2 pids", "0::/lxc.payload.101\n", "pids", pureV2, "/sys/fs/cgroup/lxc.payload.101", true, false},
		{"v2 without a cgroup2 mount", "0::/lxc.payload.101\n", "freezer", cgroupLayout{}, "", false, true},
		{"empty", "", "freezer", hybrid, "", false, true},
		{"garbage", "not a cgroup line\n::\n", "freezer", hybrid, "", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, v2, err := containerCgroup([]byte(tc.procCgroup), tc.controller, tc.layout)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error: %v", err, tc.wantErr)
			}
			if dir != tc.wantDir || v2 != tc.wantV2 {
				t.Errorf("got %q v2=%v, want %q v2=%v", dir, v2, tc.wantDir, tc.wantV2)
			}
		})
	}
}
