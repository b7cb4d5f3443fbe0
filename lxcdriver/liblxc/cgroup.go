package liblxc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/ctpanel/ctpanel/lxcdriver/cgroups"
)

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// locate finds the cgroups of the container whose init is pid.
func (d *Driver) locate(pid int) (cgroups.Paths, error) {
	return d.layout.Locate(pid)
}

// freezerCgroup is the directory of the container's freezer: the v1
// freezer hierarchy, or its cgroup2 directory on a pure cgroup2 host
// (never cgroup2 on a hybrid one, where liblxc drives the v1 freezer and
// would not notice a cgroup2 freeze).
func (d *Driver) freezerCgroup(pid int) (dir string, v2 bool, err error) {
	p, err := d.locate(pid)
	if err != nil {
		return "", false, err
	}
	switch {
	case p.Freezer != "":
		return p.Freezer, false, nil
	case p.V2 != "":
		return p.V2, true, nil
	}
	return "", false, errors.New("no freezer cgroup")
}

// taskCount reports the tasks in the container of init pid: pids.current
// when the pids controller is there (it counts the whole subtree), else
// the tasks listed under the freezer cgroup.
func (d *Driver) taskCount(pid int) (int, error) {
	p, err := d.locate(pid)
	if err != nil {
		return 0, err
	}
	pidsDir := p.Pids
	if p.V2 != "" {
		pidsDir = p.V2
	}
	if pidsDir != "" {
		if b, err := os.ReadFile(filepath.Join(pidsDir, "pids.current")); err == nil {
			return strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	dir, list := p.Freezer, "tasks"
	if p.V2 != "" {
		dir, list = p.V2, "cgroup.threads"
	}
	if dir == "" {
		return 0, fmt.Errorf("no pids or freezer cgroup for pid %d", pid)
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

// instanceOf is when process pid started, in milliseconds since the epoch
// (its start time in clock ticks after boot, plus the boot time): it tells
// one run of a container from the next, and grows from run to run. 0 when
// it cannot be read.
func instanceOf(pid int) int64 {
	ticks, err := startTicks(pid)
	boot := bootTime()
	if err != nil || boot == 0 {
		return 0
	}
	// /proc counts in USER_HZ, which Linux fixes at 100.
	return boot*1000 + int64(ticks)*10
}

// bootTime is the host's boot time in seconds since the epoch (btime in
// /proc/stat), read once.
var bootTime = sync.OnceValue(func() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
})
