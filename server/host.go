package server

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/lxcdriver/cgroups"
	"github.com/ctpanel/ctpanel/ubc"
)

// HostResources reads what the host has (memory, swap, pid_max, CPUs): no
// limit may go above it.
func HostResources() ubc.Host {
	h := ubc.Host{CPUs: uint64(runtime.NumCPU())}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			fields := strings.Fields(s.Text())
			if len(fields) < 2 {
				continue
			}
			kb, _ := strconv.ParseUint(fields[1], 10, 64)
			switch fields[0] {
			case "MemTotal:":
				h.MemBytes = kb << 10
			case "SwapTotal:":
				h.SwapBytes = kb << 10
			}
		}
		f.Close()
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
