package liblxc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// cgroupLayout says where the host mounts its cgroup hierarchies.
type cgroupLayout struct {
	// v1Root holds one directory per v1 hierarchy, named after its
	// controllers as /proc/<pid>/cgroup lists them ("freezer",
	// "cpu,cpuacct"). Empty when there is no v1 hierarchy.
	v1Root string
	// v2Root is the cgroup2 mount. Empty when there is none.
	v2Root string
}

// detectCgroupLayout looks at the conventional mount points; liblxc and
// systemd agree on them.
func detectCgroupLayout() cgroupLayout {
	if fileExists("/sys/fs/cgroup/cgroup.controllers") {
		return cgroupLayout{v2Root: "/sys/fs/cgroup"}
	}
	l := cgroupLayout{v1Root: "/sys/fs/cgroup"}
	if fileExists("/sys/fs/cgroup/unified/cgroup.controllers") {
		l.v2Root = "/sys/fs/cgroup/unified"
	}
	return l
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// containerCgroup finds, in the text of /proc/<init pid>/cgroup, the host
// directory of the container's cgroup that carries controller.
//
// A v1 hierarchy carrying the controller wins. The cgroup2 line is used only
// when the process has no v1 controller at all (a pure cgroup2 host): on a
// hybrid host liblxc drives the v1 freezer and reads its state, so freezing
// through cgroup2 would go unnoticed by it.
//
// The path is cut after its "lxc.payload.*" component, so a container whose
// init moved itself into a child cgroup (systemd's init.scope) is still
// handled as a whole.
func containerCgroup(procCgroup []byte, controller string, l cgroupLayout) (dir string, v2 bool, err error) {
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
		if l.v1Root != "" && slices.Contains(strings.Split(controllers, ","), controller) {
			return filepath.Join(l.v1Root, controllers, payloadRoot(path)), false, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", false, fmt.Errorf("read cgroup list: %w", err)
	}
	if hasV1 || !hasUnified || l.v2Root == "" {
		return "", false, fmt.Errorf("no %s cgroup", controller)
	}
	return filepath.Join(l.v2Root, payloadRoot(unified)), true, nil
}

// payloadRoot cuts a cgroup path after liblxc's "lxc.payload.<name>"
// component (possibly "-1"-suffixed when the name was taken).
func payloadRoot(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, "lxc.payload.") {
			return strings.Join(parts[:i+1], "/")
		}
	}
	return path
}

// cgroupOf finds the container cgroup of a running init for controller.
func (d *Driver) cgroupOf(pid int, controller string) (dir string, v2 bool, err error) {
	if pid <= 0 {
		return "", false, errors.New("no init pid")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", false, err
	}
	return containerCgroup(data, controller, d.cgroups)
}

// taskCount reports the tasks in the container of init pid: pids.current
// when the pids controller is there (it counts the whole subtree), else
// the tasks listed under the freezer cgroup.
func (d *Driver) taskCount(pid int) (int, error) {
	if dir, _, err := d.cgroupOf(pid, "pids"); err == nil {
		if b, err := os.ReadFile(filepath.Join(dir, "pids.current")); err == nil {
			return strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	dir, v2, err := d.cgroupOf(pid, "freezer")
	if err != nil {
		return 0, err
	}
	list := "tasks"
	if v2 {
		list = "cgroup.threads"
	}
	n := 0
	err = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Name() != list {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n += bytes.Count(b, []byte("\n"))
		return nil
	})
	return n, err
}
