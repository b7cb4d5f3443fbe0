// Package hoststat reads the host's figures the farm overview shows: CPUs,
// load, memory, and the disk holding the containers, from /proc and
// statfs.
package hoststat

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Stat is the host now.
type Stat struct {
	CPUs              int
	Load1, Load5      float64
	Load15            float64
	MemTotal, MemUsed uint64 // bytes; used is total less MemAvailable
	DiskSize          uint64 // bytes of the filesystem holding the containers
	DiskUsed          uint64
}

// Read reads the host's figures; dir is a folder on the containers'
// filesystem (the lxcpath). proc is /proc (a test's fixture otherwise).
func Read(proc, dir string) (Stat, error) {
	s := Stat{CPUs: runtime.NumCPU()}
	b, err := os.ReadFile(proc + "/loadavg")
	if err != nil {
		return s, err
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return s, fmt.Errorf("%s/loadavg: %q", proc, b)
	}
	for i, p := range []*float64{&s.Load1, &s.Load5, &s.Load15} {
		if *p, err = strconv.ParseFloat(f[i], 64); err != nil {
			return s, fmt.Errorf("%s/loadavg: %w", proc, err)
		}
	}
	mem, err := MemInfo(proc)
	if err != nil {
		return s, err
	}
	s.MemTotal = mem["MemTotal"]
	avail := mem["MemAvailable"]
	if s.MemTotal == 0 {
		return s, fmt.Errorf("%s/meminfo: no MemTotal", proc)
	}
	s.MemUsed = s.MemTotal - min(avail, s.MemTotal)
	if dir != "" {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			return s, fmt.Errorf("statfs %s: %w", dir, err)
		}
		bs := uint64(st.Bsize)
		s.DiskSize = st.Blocks * bs
		s.DiskUsed = (st.Blocks - min(st.Bfree, st.Blocks)) * bs
	}
	return s, nil
}

// MemInfo is proc/meminfo in bytes, by field name ("MemTotal",
// "SwapTotal", ...).
func MemInfo(proc string) (map[string]uint64, error) {
	f, err := os.Open(proc + "/meminfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		out[k] = n << 10
	}
	return out, sc.Err()
}

// CPUTimes is the host's CPU time so far from proc/stat, in clock ticks:
// busy (everything but idle and iowait) and total. Two readings apart
// give the share of the CPUs used between them.
func CPUTimes(proc string) (busy, total uint64, err error) {
	f, err := os.Open(proc + "/stat")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, fmt.Errorf("%s/stat: empty", proc)
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, fmt.Errorf("%s/stat: first line %q", proc, sc.Text())
	}
	for i, s := range fields[1:] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s/stat: %w", proc, err)
		}
		if i >= 8 { // guest and guest_nice are in user and nice already
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}
