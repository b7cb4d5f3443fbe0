// Package cgroups finds a running container's cgroups, reads its
// beancounters from them and writes its resource limits, on cgroup v1
// (including the hybrid layout with an empty cgroup2 beside it) and on a
// pure cgroup2 host. It is plain Go over the cgroup filesystems, so the
// liblxc driver and tests on fixture files share it.
//
// Units follow /proc/user_beancounters: see lxcdriver.Counter. A row whose
// cgroup files do not exist on the host is left out, never reported as
// zeros. What the rows mean, beyond domain.md's table:
//
//   - Every "no limit" spelling (v2's "max", v1's 9223372036854771712,
//     anything from 1<<62 up) is lxcdriver.Unlimited.
//   - Rows with no separate barrier in the kernel (numproc, swappages,
//     kmemsize, tcpsndbuf) report barrier = limit; the physpages barrier
//     (v1 soft limit, v2 memory.high) is shown as at most the limit, since
//     a soft limit above the hard one never applies.
//   - The kernel charges TCP send and receive buffers to one counter: it
//     is the tcpsndbuf row, and there is never a tcprcvbuf row.
//   - cgroup v2 has no peak, limit or failure count for kernel and socket
//     memory: kmemsize and tcpsndbuf hold memory.stat's kernel and sock,
//     maxheld = held, Unlimited limits, failcnt 0.
//   - v1 swappages is memory+swap less memory; its maxheld is a lower
//     bound (the difference of the two peaks).
//   - failcnt on v1 (kernel 6.18 checked): memory.memsw.failcnt is never
//     counted, and with swap limited to 0 the kernel refuses charges on
//     memsw first, so physpages failcnt stays 0 and the oom row's kill
//     count is what shows the limit was hit. With swap unlimited, refusals
//     count on physpages.
package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Layout says where the host mounts its cgroup hierarchies.
type Layout struct {
	// V1Root holds one directory per v1 hierarchy, named after its
	// controllers as /proc/<pid>/cgroup lists them ("memory",
	// "cpu,cpuacct"). Empty when the host has no v1 hierarchy.
	V1Root string
	// V2Root is the cgroup2 mount. Empty when there is none.
	V2Root string
}

// PureV2 says the host runs cgroup2 only, so limits are cgroup2 files
// and lxc.cgroup2.* config keys.
func (l Layout) PureV2() bool { return l.V1Root == "" && l.V2Root != "" }

// DetectLayout looks at the conventional mount points; liblxc and systemd
// agree on them.
func DetectLayout() Layout {
	if fileExists("/sys/fs/cgroup/cgroup.controllers") {
		return Layout{V2Root: "/sys/fs/cgroup"}
	}
	l := Layout{V1Root: "/sys/fs/cgroup"}
	if fileExists("/sys/fs/cgroup/unified/cgroup.controllers") {
		l.V2Root = "/sys/fs/cgroup/unified"
	}
	return l
}

// HostLayout is DetectLayout, looked at once per process: mounts do not
// move under a running panel.
var HostLayout = sync.OnceValue(DetectLayout)

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Paths are the host directories of one container's cgroups.
type Paths struct {
	// V2 is the container's cgroup2 directory on a pure cgroup2 host.
	// When it is set the v1 fields are empty.
	V2 string
	// Directories of the v1 hierarchies carrying each controller; empty
	// when the controller has no v1 hierarchy. Co-mounted controllers
	// ("cpu,cpuacct") share a directory.
	Pids, Memory, CPU, CPUAcct, Freezer, Cpuset string
}

// IsZero says no cgroup was found at all.
func (p Paths) IsZero() bool { return p == Paths{} }

// Locate finds the cgroups of the container whose init (or any task) is
// pid, on the host's layout.
func Locate(pid int) (Paths, error) { return HostLayout().Locate(pid) }

// Locate finds the cgroups of the container whose init is pid.
func (l Layout) Locate(pid int) (Paths, error) {
	if pid <= 0 {
		return Paths{}, errors.New("cgroups: no init pid")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return Paths{}, fmt.Errorf("cgroups: %w", err)
	}
	p, err := ParseProcCgroup(data, l)
	if err != nil {
		return Paths{}, fmt.Errorf("cgroups: pid %d: %w", pid, err)
	}
	return p, nil
}

// ParseProcCgroup turns the text of /proc/<pid>/cgroup into the
// container's cgroup directories under layout l.
//
// The cgroup2 line is used only when the process has no v1 controller at
// all (a pure cgroup2 host): on a hybrid host the controllers are all on
// v1, and liblxc drives the v1 freezer, so the empty cgroup2 hierarchy is
// of no use.
//
// Each path is cut after its "lxc.payload.*" component, so a container
// whose init moved itself into a child cgroup (systemd's init.scope) is
// still read and limited as a whole.
func ParseProcCgroup(procCgroup []byte, l Layout) (Paths, error) {
	var p Paths
	var unified string
	hasUnified, hasV1 := false, false
	sc := bufio.NewScanner(bytes.NewReader(procCgroup))
	for sc.Scan() {
		id, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		controllers, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		if id == "0" && controllers == "" {
			unified, hasUnified = path, true
			continue
		}
		if controllers == "" || strings.HasPrefix(controllers, "name=") {
			continue
		}
		hasV1 = true
		if l.V1Root == "" {
			continue
		}
		dir := filepath.Join(l.V1Root, controllers, payloadRoot(path))
		for _, c := range strings.Split(controllers, ",") {
			switch c {
			case "pids":
				p.Pids = dir
			case "memory":
				p.Memory = dir
			case "cpu":
				p.CPU = dir
			case "cpuacct":
				p.CPUAcct = dir
			case "freezer":
				p.Freezer = dir
			case "cpuset":
				p.Cpuset = dir
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Paths{}, fmt.Errorf("read cgroup list: %w", err)
	}
	if !hasV1 && hasUnified && l.V2Root != "" {
		p.V2 = filepath.Join(l.V2Root, payloadRoot(unified))
	}
	if p.IsZero() {
		return Paths{}, errors.New("no cgroup found")
	}
	return p, nil
}

// payloadRoot cuts a cgroup path after liblxc's "lxc.payload.<name>"
// component (possibly "-1"-suffixed when the name was taken).
func payloadRoot(path string) string {
	parts := strings.Split(path, "/")
	if i := slices.IndexFunc(parts, func(p string) bool { return strings.HasPrefix(p, "lxc.payload.") }); i >= 0 {
		return strings.Join(parts[:i+1], "/")
	}
	return path
}
