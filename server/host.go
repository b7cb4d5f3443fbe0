package server

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/ctpanel/ctpanel/hoststat"
	"github.com/ctpanel/ctpanel/lxcdriver/cgroups"
	"github.com/ctpanel/ctpanel/ubc"
)

// HostResources reads what the host has (memory, swap, pid_max, CPUs): no
// limit may go above it.
func HostResources() ubc.Host {
	h := ubc.Host{CPUs: uint64(runtime.NumCPU())}
	if mem, err := hoststat.MemInfo("/proc"); err == nil {
		h.MemBytes, h.SwapBytes = mem["MemTotal"], mem["SwapTotal"]
	}
	h.Unsupported = map[string]string{}
	if layout := cgroups.HostLayout(); layout.PureV2() {
		h.Unsupported["kmemsize"] = "cgroup v2 cannot limit kernel memory separately; limit physpages"
		h.Unsupported["tcpsndbuf"] = "cgroup v2 cannot limit TCP buffers separately; limit physpages"
	} else {
		h.SwapNeedsMemLimit = true
		if !cgroups.KmemLimitSupported() {
			h.Unsupported["kmemsize"] = "this kernel no longer enforces memory.kmem.limit_in_bytes; limit physpages"
		}
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		h.PidMax, _ = strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
	}
	return h
}

// RaiseFileLimit lifts the limit on open files as far as the kernel
// allows (fs.nr_open) when the panel runs as root, or the soft limit to
// the hard one otherwise (which Go already does). The sampler keeps about
// 27 descriptors per running container's cgroup files, so the usual
// 1024/524288 and even 20000-odd limits would stop it short of a farm's
// thousands of containers. It returns the limit now in force, and an
// error when it could not go as far as it wanted (the limit is then the
// hard one).
func RaiseFileLimit() (limit uint64, raiseErr error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	want := l.Max
	if os.Geteuid() == 0 {
		if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
			if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n > want {
				want = n
			}
		}
	}
	if l.Max < want {
		next := syscall.Rlimit{Cur: want, Max: want}
		err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next)
		if err == nil {
			return want, nil
		}
		// Without CAP_SYS_RESOURCE the hard limit stands; the soft one
		// is raised to it below, and the caller says so.
		raiseErr = fmt.Errorf("raise the open-file limit above %d to %d: %w", l.Max, want, err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, err
		}
	}
	return l.Cur, raiseErr
}
