package cgroups

import (
	"bytes"
	"sync"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"golang.org/x/sys/unix"
)

// PageSize is the page /proc/user_beancounters counts physpages and
// swappages in; OpenVZ tools assume 4 KiB whatever the architecture.
const PageSize = 4096

// unlimitedFrom is where a cgroup value stops meaning a number: v1
// prints "no limit" as LONG_MAX rounded down to a page
// (9223372036854771712), v2 as "max".
const unlimitedFrom = 1 << 62

// Reader reads beancounters with buffers it reuses, so sampling many
// containers allocates next to nothing. A Reader is not safe for
// concurrent use; the package-level Read functions keep a pool of them.
type Reader struct {
	buf  []byte
	path []byte
	// keep, in a Handle's Reader, holds the descriptors of the files
	// read so far (-1 for one that does not exist), so reading again is
	// one pread per file.
	keep map[string]int
	// err is what made a Handle's read fail: ENODEV once the cgroup is
	// removed, EMFILE when out of descriptors.
	err error
}

var readers = sync.Pool{New: func() any { return new(Reader) }}

// Read reads the rows of the container whose cgroups are p, v1 or v2.
func Read(p Paths) []lxcdriver.Counter {
	r := readers.Get().(*Reader)
	defer readers.Put(r)
	return r.Read(p, nil)
}

// ReadV1 reads the rows from the v1 controller directories of p.
func ReadV1(p Paths) []lxcdriver.Counter {
	p.V2 = ""
	return Read(p)
}

// ReadV2 reads the rows from a cgroup2 directory.
func ReadV2(dir string) []lxcdriver.Counter { return Read(Paths{V2: dir}) }

// Read appends the rows of the container whose cgroups are p to dst, in
// the order of the lxcdriver.Res* constants. A resource whose files are
// missing (controller not mounted, swap accounting off, an older kernel,
// or the container stopped mid-read) is left out.
func (r *Reader) Read(p Paths, dst []lxcdriver.Counter) []lxcdriver.Counter {
	if p.V2 != "" {
		return r.readV2(p.V2, dst)
	}
	return r.readV1(p, dst)
}

func (r *Reader) readV1(p Paths, dst []lxcdriver.Counter) []lxcdriver.Counter {
	if p.Pids != "" {
		if held, ok := r.uint(p.Pids, "pids.current"); ok {
			c := lxcdriver.Counter{Resource: lxcdriver.ResNumProc, Held: held, MaxHeld: held}
			if peak, ok := r.uint(p.Pids, "pids.peak"); ok {
				c.MaxHeld = max(peak, held)
			}
			c.Limit = r.limit(p.Pids, "pids.max")
			c.Barrier = c.Limit
			c.FailCnt, _ = r.key(p.Pids, "pids.events", "max")
			dst = append(dst, c)
		}
	}
	var memUsage, memMax, memLimit uint64
	memOK := false
	if p.Memory != "" {
		if memUsage, memOK = r.uint(p.Memory, "memory.usage_in_bytes"); memOK {
			memMax, _ = r.uint(p.Memory, "memory.max_usage_in_bytes")
			memLimit = r.limit(p.Memory, "memory.limit_in_bytes")
			c := lxcdriver.Counter{
				Resource: lxcdriver.ResPhysPages,
				Held:     memUsage / PageSize,
				MaxHeld:  max(memMax, memUsage) / PageSize,
				Barrier:  pages(r.limit(p.Memory, "memory.soft_limit_in_bytes")),
				Limit:    pages(memLimit),
			}
			// A soft limit above the hard one never applies.
			c.Barrier = min(c.Barrier, c.Limit)
			c.FailCnt, _ = r.uint(p.Memory, "memory.failcnt")
			dst = append(dst, c)
		}
		// Swap is what memory+swap holds beyond memory. The peak of a
		// difference is not the difference of the peaks; this one is a
		// lower bound that is good enough to show swap was used.
		if swUsage, ok := r.uint(p.Memory, "memory.memsw.usage_in_bytes"); ok && memOK {
			swMax, _ := r.uint(p.Memory, "memory.memsw.max_usage_in_bytes")
			held := sub(swUsage, memUsage) / PageSize
			c := lxcdriver.Counter{
				Resource: lxcdriver.ResSwapPages,
				Held:     held,
				MaxHeld:  max(held, sub(swMax, memMax)/PageSize),
				Limit:    lxcdriver.Unlimited,
			}
			if sw := r.limit(p.Memory, "memory.memsw.limit_in_bytes"); sw != lxcdriver.Unlimited && memLimit != lxcdriver.Unlimited {
				c.Limit = sub(sw, memLimit) / PageSize
			}
			c.Barrier = c.Limit
			c.FailCnt, _ = r.uint(p.Memory, "memory.memsw.failcnt")
			dst = append(dst, c)
		}
		dst = r.v1Counter(dst, lxcdriver.ResKmemSize, p.Memory, "memory.kmem.")
		// The kernel charges send and receive buffers to one counter;
		// the whole of it is reported as tcpsndbuf and there is no
		// tcprcvbuf row.
		dst = r.v1Counter(dst, lxcdriver.ResTCPSndBuf, p.Memory, "memory.kmem.tcp.")
	}
	if p.CPU != "" && p.CPUAcct != "" {
		ns, ok1 := r.uint(p.CPUAcct, "cpuacct.usage")
		shares, ok2 := r.uint(p.CPU, "cpu.shares")
		if ok1 && ok2 {
			c := lxcdriver.Counter{
				Resource: lxcdriver.ResCPU,
				Held:     ns / 1e6,
				MaxHeld:  ns / 1e6,
				Barrier:  SharesToUnits(shares),
				Limit:    lxcdriver.Unlimited,
			}
			quota, okq := r.int(p.CPU, "cpu.cfs_quota_us")
			period, okp := r.uint(p.CPU, "cpu.cfs_period_us")
			if okq && okp && quota > 0 && period > 0 {
				c.Limit = quotaToPercent(uint64(quota), period)
			}
			c.FailCnt, _ = r.key(p.CPU, "cpu.stat", "nr_throttled")
			dst = append(dst, c)
		}
	}
	if p.Memory != "" {
		if kills, ok := r.key(p.Memory, "memory.oom_control", "oom_kill"); ok {
			dst = append(dst, oomCounter(kills))
		}
	}
	return dst
}

// v1Counter reads a memory.kmem-style page counter: usage_in_bytes,
// max_usage_in_bytes, limit_in_bytes and failcnt, in bytes.
func (r *Reader) v1Counter(dst []lxcdriver.Counter, res, dir, prefix string) []lxcdriver.Counter {
	held, ok := r.uint(dir, prefix+"usage_in_bytes")
	if !ok {
		return dst
	}
	peak, _ := r.uint(dir, prefix+"max_usage_in_bytes")
	c := lxcdriver.Counter{Resource: res, Held: held, MaxHeld: max(peak, held), Limit: r.limit(dir, prefix+"limit_in_bytes")}
	c.Barrier = c.Limit
	c.FailCnt, _ = r.uint(dir, prefix+"failcnt")
	return append(dst, c)
}

func (r *Reader) readV2(dir string, dst []lxcdriver.Counter) []lxcdriver.Counter {
	if held, ok := r.uint(dir, "pids.current"); ok {
		c := lxcdriver.Counter{Resource: lxcdriver.ResNumProc, Held: held, MaxHeld: held}
		if peak, ok := r.uint(dir, "pids.peak"); ok {
			c.MaxHeld = max(peak, held)
		}
		c.Limit = r.limit(dir, "pids.max")
		c.Barrier = c.Limit
		c.FailCnt, _ = r.key(dir, "pids.events", "max")
		dst = append(dst, c)
	}
	var ooms uint64
	memOK := false
	if cur, ok := r.uint(dir, "memory.current"); ok {
		memOK = true
		peak, _ := r.uint(dir, "memory.peak")
		c := lxcdriver.Counter{
			Resource: lxcdriver.ResPhysPages,
			Held:     cur / PageSize,
			MaxHeld:  max(peak, cur) / PageSize,
			Barrier:  pages(r.limit(dir, "memory.high")),
			Limit:    pages(r.limit(dir, "memory.max")),
		}
		// memory.high above memory.max never applies.
		c.Barrier = min(c.Barrier, c.Limit)
		// One read of memory.events serves physpages and oom.
		if ev, ok := r.file(dir, "memory.events"); ok {
			c.FailCnt, _ = keyed(ev, "max")
			ooms, _ = keyed(ev, "oom_kill")
		}
		dst = append(dst, c)
	}
	if cur, ok := r.uint(dir, "memory.swap.current"); ok {
		peak, _ := r.uint(dir, "memory.swap.peak")
		c := lxcdriver.Counter{
			Resource: lxcdriver.ResSwapPages,
			Held:     cur / PageSize,
			MaxHeld:  max(peak, cur) / PageSize,
			Limit:    pages(r.limit(dir, "memory.swap.max")),
		}
		c.Barrier = c.Limit
		c.FailCnt, _ = r.key(dir, "memory.swap.events", "fail")
		dst = append(dst, c)
	}
	if stat, ok := r.file(dir, "memory.stat"); ok {
		// cgroup2 has neither limits nor failure counts for these, and
		// no peak either: maxheld is what is held now.
		if v, ok := keyed(stat, "kernel"); ok {
			dst = append(dst, lxcdriver.Counter{Resource: lxcdriver.ResKmemSize, Held: v, MaxHeld: v, Barrier: lxcdriver.Unlimited, Limit: lxcdriver.Unlimited})
		}
		// As on v1, one socket-memory counter reported as tcpsndbuf.
		if v, ok := keyed(stat, "sock"); ok {
			dst = append(dst, lxcdriver.Counter{Resource: lxcdriver.ResTCPSndBuf, Held: v, MaxHeld: v, Barrier: lxcdriver.Unlimited, Limit: lxcdriver.Unlimited})
		}
	}
	if stat, ok := r.file(dir, "cpu.stat"); ok {
		usec, ok1 := keyed(stat, "usage_usec")
		throttled, _ := keyed(stat, "nr_throttled")
		// cpu.weight and cpu.max exist only where the cpu controller
		// is enabled; without it there is nothing to report limits of.
		weight, ok2 := r.uint(dir, "cpu.weight")
		if ok1 && ok2 {
			c := lxcdriver.Counter{
				Resource: lxcdriver.ResCPU,
				Held:     usec / 1000,
				MaxHeld:  usec / 1000,
				Barrier:  WeightToUnits(weight),
				Limit:    lxcdriver.Unlimited,
				FailCnt:  throttled,
			}
			if b, ok := r.file(dir, "cpu.max"); ok {
				quota, period := splitField(b)
				q, okq := parseUint(quota)
				p, okp := parseUint(period)
				if okq && okp && q > 0 && p > 0 {
					c.Limit = quotaToPercent(q, p)
				}
			}
			dst = append(dst, c)
		}
	}
	if memOK {
		dst = append(dst, oomCounter(ooms))
	}
	return dst
}

func oomCounter(kills uint64) lxcdriver.Counter {
	return lxcdriver.Counter{Resource: lxcdriver.ResOOM, Barrier: lxcdriver.Unlimited, Limit: lxcdriver.Unlimited, FailCnt: kills}
}

// pages turns bytes into pages, keeping Unlimited.
func pages(b uint64) uint64 {
	if b == lxcdriver.Unlimited {
		return b
	}
	return b / PageSize
}

// sub is a - b, or 0 when b is larger: two counters read one after the
// other need not agree.
func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// SharesToUnits turns v1 cpu.shares into vzctl cpuunits (1024 shares =
// 1000 units, the default), rounding to the nearest unit so that
// UnitsToShares(SharesToUnits(s)) round-trips.
func SharesToUnits(shares uint64) uint64 { return (shares*1000 + 512) / 1024 }

// UnitsToShares turns cpuunits into cpu.shares, clamped to what the
// kernel accepts (2..262144).
func UnitsToShares(units uint64) uint64 {
	units = min(units, 1<<40)
	return min(max((units*1024+500)/1000, 2), 262144)
}

// WeightToUnits turns cgroup2 cpu.weight (100 = default) into cpuunits
// (1000 = default).
func WeightToUnits(weight uint64) uint64 { return weight * 10 }

// UnitsToWeight turns cpuunits into cpu.weight, clamped to 1..10000.
func UnitsToWeight(units uint64) uint64 {
	units = min(units, 1<<40)
	return min(max((units+5)/10, 1), 10000)
}

// quotaToPercent turns a CFS quota and period into percent of one CPU,
// rounded to the nearest.
func quotaToPercent(quota, period uint64) uint64 {
	quota = min(quota, 1<<40)
	return (quota*100 + period/2) / period
}

// file reads dir/name into r's buffer, valid until the next read. Cgroup
// files are kernfs seq files whose whole text comes back from the first
// read when the buffer is big enough, so a short read is the end of it.
// Plain open/read/close without os.File: no fstat, no finalizer.
func (r *Reader) file(dir, name string) ([]byte, bool) {
	r.path = append(append(append(r.path[:0], dir...), '/'), name...)
	if r.keep != nil {
		return r.kept()
	}
	fd, err := unix.Open(string(r.path), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer unix.Close(fd)
	return r.readFd(fd)
}

// kept reads r.path through the descriptor kept open for it, opening it
// the first time.
func (r *Reader) kept() ([]byte, bool) {
	fd, ok := r.keep[string(r.path)]
	if !ok {
		var err error
		fd, err = unix.Open(string(r.path), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		switch {
		case err == unix.ENOENT:
			fd = -1 // not offered by this kernel or controller
		case err != nil:
			r.err = err
			return nil, false
		}
		r.keep[string(r.path)] = fd
	}
	if fd < 0 {
		return nil, false
	}
	return r.readFd(fd)
}

// readFd reads a whole file from offset 0; pread makes a kept seq file
// produce its text afresh.
func (r *Reader) readFd(fd int) ([]byte, bool) {
	if r.buf == nil {
		r.buf = make([]byte, 8192)
	}
	n := 0
	for {
		m, err := unix.Pread(fd, r.buf[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if r.keep != nil {
				r.err = err // ENODEV: the cgroup was removed
			}
			return nil, false
		}
		n += m
		if m == 0 || n < len(r.buf) {
			return r.buf[:n], true
		}
		r.buf = append(r.buf, make([]byte, len(r.buf))...)
	}
}

// uint reads a file holding one unsigned number.
func (r *Reader) uint(dir, name string) (uint64, bool) {
	b, ok := r.file(dir, name)
	if !ok {
		return 0, false
	}
	return parseUint(b)
}

// int reads a file holding one signed number (cpu.cfs_quota_us).
func (r *Reader) int(dir, name string) (int64, bool) {
	b, ok := r.file(dir, name)
	if !ok {
		return 0, false
	}
	return parseInt(b)
}

// limit reads a limit file: a number, "max" or v1's near-LONG_MAX all
// mean Unlimited, and so does a missing or unreadable file (nothing
// limits what the kernel does not offer to limit).
func (r *Reader) limit(dir, name string) uint64 {
	b, ok := r.file(dir, name)
	if !ok {
		return lxcdriver.Unlimited
	}
	return parseLimit(b)
}

// key reads the value of "key value" in a flat-keyed file.
func (r *Reader) key(dir, name, key string) (uint64, bool) {
	b, ok := r.file(dir, name)
	if !ok {
		return 0, false
	}
	return keyed(b, key)
}

func parseLimit(b []byte) uint64 {
	b = trimSpace(b)
	if string(b) == "max" {
		return lxcdriver.Unlimited
	}
	v, ok := parseUint(b)
	if !ok || v >= unlimitedFrom {
		return lxcdriver.Unlimited
	}
	return v
}

// keyed finds "key value" lines in b (memory.stat, cpu.stat, *.events,
// memory.oom_control).
func keyed(b []byte, key string) (uint64, bool) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(line) > len(key) && string(line[:len(key)]) == key && line[len(key)] == ' ' {
			return parseUint(line[len(key)+1:])
		}
	}
	return 0, false
}

// splitField splits "a b\n" into "a" and "b".
func splitField(b []byte) (first, second []byte) {
	b = trimSpace(b)
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i], trimSpace(b[i+1:])
	}
	return b, nil
}

func parseUint(b []byte) (uint64, bool) {
	b = trimSpace(b)
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

func parseInt(b []byte) (int64, bool) {
	b = trimSpace(b)
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	v, ok := parseUint(b)
	if !ok || v > 1<<63-1 {
		return 0, false
	}
	if neg {
		return -int64(v), true
	}
	return int64(v), true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
