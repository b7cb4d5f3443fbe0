package cgroups

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// A cpulimit also narrows the container's cpuset to as many CPUs as the
// limit covers (150% of one CPU: two CPUs), so what counts CPUs through
// the scheduler (nproc, sched_getaffinity, runtimes sizing thread pools)
// sees the plan's CPUs, as vzctl's --cpus gave. Which CPUs is spread
// over the host by a hash of the container's name, so that one-CPU
// containers do not all sit on CPU 0; a limit of every CPU or more, or
// none, leaves the cpuset whole.

// CPUSetKey is the config key of the container's cpuset.
func CPUSetKey(v2 bool) string {
	if v2 {
		return "lxc.cgroup2.cpuset.cpus"
	}
	return "lxc.cgroup.cpuset.cpus"
}

// CPUCount is how many CPUs a cpulimit of pc percent of one CPU spans:
// pc/100 rounded up; 0 for no cap.
func CPUCount(pc uint64) int {
	if pc == 0 || pc >= unlimitedFrom {
		return 0
	}
	return int(min((pc+99)/100, 1<<16))
}

// PickCPUs chooses n of the online CPUs for the container named seed:
// n consecutive ones (in online's order, wrapping) from a place the name
// hashes to. nil when n is 0 or covers every online CPU.
func PickCPUs(online []int, n int, seed string) []int {
	if n <= 0 || n >= len(online) {
		return nil
	}
	sum := sha256.Sum256([]byte(seed))
	start := int(binary.BigEndian.Uint32(sum[:4]) % uint32(len(online)))
	out := make([]int, 0, n)
	for i := range n {
		out = append(out, online[(start+i)%len(online)])
	}
	slices.Sort(out)
	return out
}

// ParseCPUList parses the kernel's CPU list format ("0-3,8,10-11").
func ParseCPUList(s string) ([]int, error) {
	var out []int
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("cpu list %q: %q is not a CPU number", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 1<<16 {
				return nil, fmt.Errorf("cpu list %q: bad range %q", s, part)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// FormatCPUList writes cpus (sorted, no repeats) in the kernel's list
// format, runs as ranges.
func FormatCPUList(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}

// OnlineCPUs lists the host's online CPUs.
func OnlineCPUs() ([]int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	return ParseCPUList(string(b))
}

// CPUSetItem is the config item for the cpuset a cpulimit of l's gives
// the container named name on a host with the online CPUs; ok is false
// when the container keeps every CPU (no item: it inherits its parent's).
func CPUSetItem(v2 bool, l lxcdriver.Limits, online []int, name string) (lxcdriver.ConfigItem, bool) {
	if l.CPULimitPc == nil {
		return lxcdriver.ConfigItem{}, false
	}
	cpus := PickCPUs(online, CPUCount(*l.CPULimitPc), name)
	if cpus == nil {
		return lxcdriver.ConfigItem{}, false
	}
	return lxcdriver.ConfigItem{Key: CPUSetKey(v2), Value: FormatCPUList(cpus)}, true
}

// writeCPUSet sets a running container's cpuset to cpus, or back to all
// its parent has when cpus is empty.
func writeCPUSet(w *writer, p Paths, cpus []int) error {
	if p.V2 != "" {
		if !fileExists(filepath.Join(p.V2, "cpuset.cpus")) {
			return nil
		}
		if len(cpus) > 0 {
			return w.write(p.V2, "cpuset.cpus", FormatCPUList(cpus))
		}
		// Back to all the parent has. Not an empty write: the kernel
		// refuses to empty a populated cpuset that had CPUs (ENOSPC,
		// found on a real cgroup v2 host).
		parent, err := os.ReadFile(filepath.Join(filepath.Dir(p.V2), "cpuset.cpus.effective"))
		if err != nil {
			return fmt.Errorf("cgroups: %w", err)
		}
		return w.write(p.V2, "cpuset.cpus", strings.TrimSpace(string(parent)))
	}
	if p.Cpuset == "" {
		return nil
	}
	val := FormatCPUList(cpus)
	if len(cpus) == 0 {
		parent, err := os.ReadFile(filepath.Join(filepath.Dir(p.Cpuset), "cpuset.cpus"))
		if err != nil {
			return fmt.Errorf("cgroups: %w", err)
		}
		val = strings.TrimSpace(string(parent))
	}
	return w.write(p.Cpuset, "cpuset.cpus", val)
}
