package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// defaultCFSPeriod is the kernel's CFS period (100 ms), which a container
// starts with; config items express a cpulimit against it.
const defaultCFSPeriod = 100000

// minCFSQuota is the smallest quota the kernel takes (1 ms).
const minCFSQuota = 1000

// limited says p holds a real limit: set, and not Unlimited (anything
// from 1<<62 up counts as Unlimited, as when reading).
func limited(p *uint64) bool { return p != nil && *p < unlimitedFrom }

// norm folds every "no limit" spelling into Unlimited.
func norm(v uint64) uint64 {
	if v >= unlimitedFrom {
		return lxcdriver.Unlimited
	}
	return v
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("cgroups: %s: %w", fmt.Sprintf(format, args...), lxcdriver.ErrUnsupported)
}

// Check reports the first limit of req that a host with this cgroup
// version cannot apply, as an error wrapping lxcdriver.ErrUnsupported.
// inForce are the limits req leaves in place (the saved config, or the
// live values): cgroup v1 limits swap as memory+swap, so a swap limit
// needs a physpages limit in req or in inForce.
//
// Whether this kernel honours a v1 kernel memory limit is not a question
// of version: see KmemLimitSupported.
func Check(v2 bool, req, inForce lxcdriver.Limits) error {
	if v2 {
		if limited(req.KmemSize) {
			return unsupported("kmemsize: cgroup v2 has no kernel memory limit")
		}
		if limited(req.TCPBuf) {
			return unsupported("tcpsndbuf: cgroup v2 has no socket buffer limit")
		}
		return nil
	}
	if limited(req.Swap) {
		hard := req.MemHard
		if hard == nil {
			hard = inForce.MemHard
		}
		if !limited(hard) {
			return unsupported("swappages: cgroup v1 limits swap as memory+swap, so a swap limit needs a physpages limit")
		}
	}
	return nil
}

// Merge returns a copy of inForce with the fields req sets replaced. On
// cgroup v1 a swap limit is relative to the physpages limit, so removing
// the physpages limit without saying anything about swap removes the
// swap limit too.
func Merge(v2 bool, inForce, req lxcdriver.Limits) lxcdriver.Limits {
	var out lxcdriver.Limits
	for _, f := range []struct{ dst, old, req **uint64 }{
		{&out.NumProc, &inForce.NumProc, &req.NumProc},
		{&out.MemSoft, &inForce.MemSoft, &req.MemSoft},
		{&out.MemHard, &inForce.MemHard, &req.MemHard},
		{&out.Swap, &inForce.Swap, &req.Swap},
		{&out.KmemSize, &inForce.KmemSize, &req.KmemSize},
		{&out.TCPBuf, &inForce.TCPBuf, &req.TCPBuf},
		{&out.CPUUnits, &inForce.CPUUnits, &req.CPUUnits},
		{&out.CPULimitPc, &inForce.CPULimitPc, &req.CPULimitPc},
	} {
		src := *f.old
		if *f.req != nil {
			src = *f.req
		}
		if src != nil {
			v := *src
			*f.dst = &v
		}
	}
	if !v2 && req.Swap == nil && req.MemHard != nil && !limited(req.MemHard) && out.Swap != nil {
		u := lxcdriver.Unlimited
		out.Swap = &u
	}
	return out
}

// Config keys, in the order ConfigItems emits them. liblxc writes
// lxc.cgroup.* items to the cgroup in config order (5.0 also moves memsw
// after limit_in_bytes itself): memory.limit_in_bytes must come before
// memory.memsw.limit_in_bytes, which the kernel keeps at or above it.
var (
	v1Keys = []string{
		"lxc.cgroup.pids.max",
		"lxc.cgroup.memory.soft_limit_in_bytes",
		"lxc.cgroup.memory.limit_in_bytes",
		"lxc.cgroup.memory.memsw.limit_in_bytes",
		"lxc.cgroup.memory.kmem.limit_in_bytes",
		"lxc.cgroup.memory.kmem.tcp.limit_in_bytes",
		"lxc.cgroup.cpu.shares",
		"lxc.cgroup.cpu.cfs_quota_us",
		"lxc.cgroup.cpuset.cpus",
	}
	v2Keys = []string{
		"lxc.cgroup2.pids.max",
		"lxc.cgroup2.memory.high",
		"lxc.cgroup2.memory.max",
		"lxc.cgroup2.memory.swap.max",
		"lxc.cgroup2.cpu.weight",
		"lxc.cgroup2.cpu.max",
		"lxc.cgroup2.cpuset.cpus",
	}
)

// ConfigKeys lists every config key ConfigItems may set, in its order.
// liblxc appends a repeated lxc.cgroup.* key instead of replacing it, so
// a caller clears these before setting new items.
func ConfigKeys(v2 bool) []string {
	if v2 {
		return append([]string(nil), v2Keys...)
	}
	return append([]string(nil), v1Keys...)
}

// ConfigItems returns the lxc.cgroup.* (v1) or lxc.cgroup2.* (v2) config
// items that make a container start with the limits l sets, in the order
// liblxc must apply them. Unlimited is written out ("max", "-1") rather
// than left unset, so the config says what the panel asked for.
//
// l should have passed Check. What it would refuse is left out: kernel
// memory and socket limits on v2, and on v1 a swap limit without a
// physpages limit becomes memory+swap unlimited.
//
// A cpulimit is a CFS quota against the kernel's default 100 ms period,
// which is what a starting container has.
func ConfigItems(v2 bool, l lxcdriver.Limits) []lxcdriver.ConfigItem {
	var items []lxcdriver.ConfigItem
	add := func(key, val string) { items = append(items, lxcdriver.ConfigItem{Key: key, Value: val}) }
	if v2 {
		if l.NumProc != nil {
			add("lxc.cgroup2.pids.max", maxOr(*l.NumProc))
		}
		if l.MemSoft != nil {
			add("lxc.cgroup2.memory.high", maxOr(*l.MemSoft))
		}
		if l.MemHard != nil {
			add("lxc.cgroup2.memory.max", maxOr(*l.MemHard))
		}
		if l.Swap != nil {
			add("lxc.cgroup2.memory.swap.max", maxOr(*l.Swap))
		}
		if l.CPUUnits != nil {
			add("lxc.cgroup2.cpu.weight", strconv.FormatUint(UnitsToWeight(*l.CPUUnits), 10))
		}
		if l.CPULimitPc != nil {
			add("lxc.cgroup2.cpu.max", cpuMax(*l.CPULimitPc, defaultCFSPeriod))
		}
		return items
	}
	if l.NumProc != nil {
		add("lxc.cgroup.pids.max", maxOr(*l.NumProc))
	}
	if l.MemSoft != nil {
		add("lxc.cgroup.memory.soft_limit_in_bytes", minusOneOr(*l.MemSoft))
	}
	if l.MemHard != nil {
		add("lxc.cgroup.memory.limit_in_bytes", minusOneOr(*l.MemHard))
	}
	if l.Swap != nil {
		hard := lxcdriver.Unlimited
		if l.MemHard != nil {
			hard = norm(*l.MemHard)
		}
		add("lxc.cgroup.memory.memsw.limit_in_bytes", minusOneOr(memswLimit(hard, norm(*l.Swap))))
	}
	if l.KmemSize != nil {
		add("lxc.cgroup.memory.kmem.limit_in_bytes", minusOneOr(*l.KmemSize))
	}
	if l.TCPBuf != nil {
		add("lxc.cgroup.memory.kmem.tcp.limit_in_bytes", minusOneOr(*l.TCPBuf))
	}
	if l.CPUUnits != nil {
		add("lxc.cgroup.cpu.shares", strconv.FormatUint(UnitsToShares(*l.CPUUnits), 10))
	}
	if l.CPULimitPc != nil {
		add("lxc.cgroup.cpu.cfs_quota_us", strconv.FormatInt(cfsQuota(*l.CPULimitPc, defaultCFSPeriod), 10))
	}
	return items
}

// LimitsFromConfig reads back what ConfigItems wrote (or what someone
// wrote by hand in the same keys): get returns a key's value, the last
// one if the key repeats, "" when unset. Values that do not parse are
// left out.
func LimitsFromConfig(v2 bool, get func(key string) string) lxcdriver.Limits {
	var l lxcdriver.Limits
	val := func(key string) *uint64 {
		s := strings.TrimSpace(get(key))
		if s == "" {
			return nil
		}
		v, ok := parseConfigValue(s)
		if !ok {
			return nil
		}
		return &v
	}
	ptr := func(v uint64) *uint64 { return &v }
	if v2 {
		l.NumProc = val("lxc.cgroup2.pids.max")
		l.MemSoft = val("lxc.cgroup2.memory.high")
		l.MemHard = val("lxc.cgroup2.memory.max")
		l.Swap = val("lxc.cgroup2.memory.swap.max")
		if w := val("lxc.cgroup2.cpu.weight"); w != nil {
			l.CPUUnits = ptr(WeightToUnits(*w))
		}
		if s := strings.TrimSpace(get("lxc.cgroup2.cpu.max")); s != "" {
			q, p := splitField([]byte(s))
			period, ok := parseUint(p)
			if len(p) == 0 {
				period, ok = defaultCFSPeriod, true
			}
			switch quota, okq := parseUint(q); {
			case string(q) == "max":
				l.CPULimitPc = ptr(lxcdriver.Unlimited)
			case okq && ok && period > 0:
				l.CPULimitPc = ptr(quotaToPercent(quota, period))
			}
		}
		return l
	}
	l.NumProc = val("lxc.cgroup.pids.max")
	l.MemSoft = val("lxc.cgroup.memory.soft_limit_in_bytes")
	l.MemHard = val("lxc.cgroup.memory.limit_in_bytes")
	if memsw := val("lxc.cgroup.memory.memsw.limit_in_bytes"); memsw != nil {
		switch {
		case *memsw == lxcdriver.Unlimited:
			l.Swap = ptr(lxcdriver.Unlimited)
		case limited(l.MemHard):
			l.Swap = ptr(sub(*memsw, *l.MemHard))
		}
	}
	l.KmemSize = val("lxc.cgroup.memory.kmem.limit_in_bytes")
	l.TCPBuf = val("lxc.cgroup.memory.kmem.tcp.limit_in_bytes")
	if s := val("lxc.cgroup.cpu.shares"); s != nil {
		l.CPUUnits = ptr(SharesToUnits(*s))
	}
	if s := strings.TrimSpace(get("lxc.cgroup.cpu.cfs_quota_us")); s != "" {
		if q, ok := parseInt([]byte(s)); ok {
			period := uint64(defaultCFSPeriod)
			if p := val("lxc.cgroup.cpu.cfs_period_us"); p != nil && *p > 0 {
				period = *p
			}
			if q <= 0 {
				l.CPULimitPc = ptr(lxcdriver.Unlimited)
			} else {
				l.CPULimitPc = ptr(quotaToPercent(uint64(q), period))
			}
		}
	}
	return l
}

// parseConfigValue parses a limit as the kernel takes it: "max", "-1",
// or a number with an optional K, M, G or T (powers of 1024) suffix.
func parseConfigValue(s string) (uint64, bool) {
	if s == "max" || s == "-1" {
		return lxcdriver.Unlimited, true
	}
	shift := 0
	switch s[len(s)-1] {
	case 'k', 'K':
		shift = 10
	case 'm', 'M':
		shift = 20
	case 'g', 'G':
		shift = 30
	case 't', 'T':
		shift = 40
	}
	if shift > 0 {
		s = s[:len(s)-1]
	}
	v, ok := parseUint([]byte(s))
	if !ok || v > (1<<63)>>shift {
		return 0, false
	}
	return norm(v << shift), true
}

// memswLimit is memory.memsw.limit_in_bytes for a physpages limit and a
// swap allowance, both in bytes, Unlimited when either is.
func memswLimit(hard, swap uint64) uint64 {
	if hard == lxcdriver.Unlimited || swap == lxcdriver.Unlimited {
		return lxcdriver.Unlimited
	}
	return norm(hard + swap)
}

func maxOr(v uint64) string {
	if v >= unlimitedFrom {
		return "max"
	}
	return strconv.FormatUint(v, 10)
}

func minusOneOr(v uint64) string {
	if v >= unlimitedFrom {
		return "-1"
	}
	return strconv.FormatUint(v, 10)
}

// cfsQuota is the CFS quota for pc percent of one CPU, -1 for no cap.
func cfsQuota(pc, period uint64) int64 {
	if pc == 0 || pc >= unlimitedFrom {
		return -1
	}
	pc = min(pc, 1<<20)
	return int64(max(pc*period/100, minCFSQuota))
}

// cpuMax is cgroup2's cpu.max for pc percent of one CPU.
func cpuMax(pc, period uint64) string {
	q := cfsQuota(pc, period)
	if q < 0 {
		return "max " + strconv.FormatUint(period, 10)
	}
	return strconv.FormatInt(q, 10) + " " + strconv.FormatUint(period, 10)
}

// KmemLimitSupported says whether this kernel honours a cgroup v1 kernel
// memory limit. Recent kernels (6.18 here) keep
// memory.kmem.limit_in_bytes but take any number written to it and leave
// it unlimited, others refuse the write; only trying tells. The probe
// runs once, in a throw-away memory cgroup, and needs root.
var KmemLimitSupported = sync.OnceValue(func() bool { return probeKmemLimit(HostLayout()) })

func probeKmemLimit(l Layout) bool {
	if l.V1Root == "" {
		return false
	}
	dir := filepath.Join(l.V1Root, "memory", fmt.Sprintf("ctpanel-kmem-probe-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return false
	}
	defer os.Remove(dir)
	const want = 64 << 20
	if err := os.WriteFile(filepath.Join(dir, "memory.kmem.limit_in_bytes"), []byte(strconv.Itoa(want)), 0); err != nil {
		return false
	}
	var r Reader
	return r.limit(dir, "memory.kmem.limit_in_bytes") == want
}

// Apply writes the limits l sets to a running container's cgroups. It
// checks first and writes nothing when a limit cannot be applied (an
// error wrapping lxcdriver.ErrUnsupported); when a write fails midway the
// ones before it are undone.
//
// On cgroup v1 a swap limit is memory.memsw.limit_in_bytes = physpages
// limit + swap, which the kernel keeps at or above the physpages limit:
// memsw is raised before the memory limit and lowered after it. Without
// a Swap in l the container keeps its current swap allowance on top of a
// new physpages limit (or none, when the physpages limit is removed).
func Apply(p Paths, l lxcdriver.Limits) error { return ApplyCPUs(p, l, nil) }

// ApplyCPUs is Apply that also sets the container's cpuset when cpus is
// not nil: the CPUs *cpus lists, or every CPU its parent has when *cpus
// is empty. A container without a cpuset cgroup (a v2 host that does not
// delegate the controller) keeps every CPU.
func ApplyCPUs(p Paths, l lxcdriver.Limits, cpus *[]int) (err error) {
	var w writer
	defer func() {
		if err != nil {
			if rerr := w.revert(); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	if p.V2 != "" {
		err = applyV2(&w, p.V2, l)
	} else {
		err = applyV1(&w, p, l)
	}
	if err != nil || cpus == nil {
		return err
	}
	return writeCPUSet(&w, p, *cpus)
}

func applyV1(w *writer, p Paths, l lxcdriver.Limits) error {
	var r Reader
	needs := func(dir, what string, fields ...*uint64) error {
		for _, f := range fields {
			if f != nil && dir == "" {
				return unsupported("%s: the container has no %s cgroup", what, what)
			}
		}
		return nil
	}
	if err := errors.Join(
		needs(p.Pids, "pids", l.NumProc),
		needs(p.Memory, "memory", l.MemSoft, l.MemHard, l.Swap, l.KmemSize, l.TCPBuf),
		needs(p.CPU, "cpu", l.CPUUnits, l.CPULimitPc),
	); err != nil {
		return err
	}
	curHard := lxcdriver.Unlimited
	if p.Memory != "" {
		curHard = r.limit(p.Memory, "memory.limit_in_bytes")
	}
	if err := Check(false, l, lxcdriver.Limits{MemHard: &curHard}); err != nil {
		return err
	}
	hasMemsw := p.Memory != "" && fileExists(filepath.Join(p.Memory, "memory.memsw.limit_in_bytes"))
	if limited(l.Swap) && !hasMemsw {
		return unsupported("swappages: swap accounting is off (memory.memsw.* missing; boot with swapaccount=1)")
	}

	// Kernel memory first: a kernel that ignores the limit is found out
	// by reading it back, before anything else has changed.
	if l.KmemSize != nil {
		if err := w.write(p.Memory, "memory.kmem.limit_in_bytes", minusOneOr(*l.KmemSize)); err != nil {
			if isUnsupportedErrno(err) {
				return unsupported("kmemsize: the kernel refuses memory.kmem.limit_in_bytes (%v)", err)
			}
			return err
		}
		if want := norm(*l.KmemSize); want != lxcdriver.Unlimited && r.limit(p.Memory, "memory.kmem.limit_in_bytes") != want&^(PageSize-1) {
			return unsupported("kmemsize: the kernel ignores memory.kmem.limit_in_bytes")
		}
	}
	if l.NumProc != nil {
		if err := w.write(p.Pids, "pids.max", maxOr(*l.NumProc)); err != nil {
			return err
		}
	}
	if l.MemSoft != nil {
		if err := w.write(p.Memory, "memory.soft_limit_in_bytes", minusOneOr(*l.MemSoft)); err != nil {
			return err
		}
	}
	if l.MemHard != nil || l.Swap != nil {
		if err := applyV1Memory(w, &r, p.Memory, l, curHard, hasMemsw); err != nil {
			return err
		}
	}
	if l.TCPBuf != nil {
		if err := w.write(p.Memory, "memory.kmem.tcp.limit_in_bytes", minusOneOr(*l.TCPBuf)); err != nil {
			return err
		}
	}
	if l.CPUUnits != nil {
		if err := w.write(p.CPU, "cpu.shares", strconv.FormatUint(UnitsToShares(*l.CPUUnits), 10)); err != nil {
			return err
		}
	}
	if l.CPULimitPc != nil {
		period, ok := r.uint(p.CPU, "cpu.cfs_period_us")
		if !ok || period == 0 {
			period = defaultCFSPeriod
		}
		if err := w.write(p.CPU, "cpu.cfs_quota_us", strconv.FormatInt(cfsQuota(*l.CPULimitPc, period), 10)); err != nil {
			return err
		}
	}
	return nil
}

// applyV1Memory writes memory.limit_in_bytes and
// memory.memsw.limit_in_bytes in the order that keeps memsw >= memory
// after each write.
func applyV1Memory(w *writer, r *Reader, dir string, l lxcdriver.Limits, curHard uint64, hasMemsw bool) error {
	hard := curHard
	if l.MemHard != nil {
		hard = norm(*l.MemHard)
	}
	writeHard := func() error {
		if l.MemHard == nil {
			return nil
		}
		return w.write(dir, "memory.limit_in_bytes", minusOneOr(hard))
	}
	if !hasMemsw {
		return writeHard()
	}
	curMemsw := r.limit(dir, "memory.memsw.limit_in_bytes")
	var swap uint64
	switch {
	case l.Swap != nil:
		swap = norm(*l.Swap)
	case curMemsw == lxcdriver.Unlimited || curHard == lxcdriver.Unlimited:
		swap = lxcdriver.Unlimited
	default:
		swap = curMemsw - min(curHard, curMemsw)
	}
	memsw := memswLimit(hard, swap)
	writeMemsw := func() error {
		if memsw == curMemsw {
			return nil
		}
		return w.write(dir, "memory.memsw.limit_in_bytes", minusOneOr(memsw))
	}
	// memsw first keeps memsw >= memory when memsw stays at or above
	// the current memory limit; otherwise the memory limit comes down
	// first (below the current memsw, since it is below the new one).
	if memsw >= curHard {
		if err := writeMemsw(); err != nil {
			return err
		}
		return writeHard()
	}
	if err := writeHard(); err != nil {
		return err
	}
	return writeMemsw()
}

func applyV2(w *writer, dir string, l lxcdriver.Limits) error {
	if err := Check(true, l, lxcdriver.Limits{}); err != nil {
		return err
	}
	files := []struct {
		field *uint64
		name  string
		what  string
	}{
		{l.NumProc, "pids.max", "numproc: the pids controller"},
		{l.MemSoft, "memory.high", "physpages: the memory controller"},
		{l.MemHard, "memory.max", "physpages: the memory controller"},
		{l.Swap, "memory.swap.max", "swappages: swap accounting"},
		{l.CPUUnits, "cpu.weight", "cpu: the cpu controller"},
		{l.CPULimitPc, "cpu.max", "cpu: the cpu controller"},
	}
	for _, f := range files {
		if f.field != nil && !fileExists(filepath.Join(dir, f.name)) {
			if f.name == "memory.swap.max" && !limited(f.field) {
				continue // no swap accounting, no swap limit: as asked
			}
			return unsupported("%s is not enabled for the container (%s missing)", f.what, f.name)
		}
	}
	var r Reader
	for _, f := range files {
		if f.field == nil || !fileExists(filepath.Join(dir, f.name)) {
			continue
		}
		var val string
		switch f.name {
		case "cpu.weight":
			val = strconv.FormatUint(UnitsToWeight(*f.field), 10)
		case "cpu.max":
			period := uint64(defaultCFSPeriod)
			if b, ok := r.file(dir, "cpu.max"); ok {
				if _, p := splitField(b); len(p) > 0 {
					if v, ok := parseUint(p); ok && v > 0 {
						period = v
					}
				}
			}
			val = cpuMax(*f.field, period)
		default:
			val = maxOr(*f.field)
		}
		if err := w.write(dir, f.name, val); err != nil {
			return err
		}
	}
	return nil
}

func isUnsupportedErrno(err error) bool {
	const enotsupp = syscall.Errno(524) // the kernel-internal ENOTSUPP leaks out of some cgroup files
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, enotsupp)
}

// writeFile is os.WriteFile; tests put a simulated kernel in its place.
var writeFile = os.WriteFile

// writer writes cgroup files and remembers what they held, so a failed
// Apply can put them back.
type writer struct {
	done []undo
}

type undo struct{ path, old string }

func (w *writer) write(dir, name, val string) error {
	path := filepath.Join(dir, name)
	old, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return unsupported("%s does not exist", path)
		}
		return fmt.Errorf("cgroups: %w", err)
	}
	if err := writeFile(path, []byte(val), 0); err != nil {
		return fmt.Errorf("cgroups: write %s to %s: %w", val, path, err)
	}
	w.done = append(w.done, undo{path: path, old: strings.TrimSpace(string(old))})
	return nil
}

// revert undoes the writes, last first, which keeps v1's memsw >= memory
// ordering valid on the way back too.
func (w *writer) revert() error {
	var errs []error
	for i := len(w.done) - 1; i >= 0; i-- {
		u := w.done[i]
		old := u.old
		if old == "" {
			old = "\n" // an empty write never reaches the kernel
		}
		if err := writeFile(u.path, []byte(old), 0); err != nil {
			errs = append(errs, fmt.Errorf("cgroups: undo %s: %w", u.path, err))
		}
	}
	w.done = nil
	return errors.Join(errs...)
}
