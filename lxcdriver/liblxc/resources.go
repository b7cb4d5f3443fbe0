package liblxc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	lxc "github.com/lxc/go-lxc"
	"golang.org/x/sys/unix"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/cgroups"
)

var _ lxcdriver.ResourceDriver = (*Driver)(nil)

// Beancounters implements lxcdriver.ResourceDriver, reading the cgroups
// of the container's init directly (see package cgroups for the rows and
// their units).
//
// The monitor samples every running container every few seconds, so the
// driver keeps a cgroups.Handle per container it has read: while the
// container runs, a sample is a pread per cgroup file and nothing else
// (about 25 µs on the CI host against 320 µs through liblxc and fresh
// opens). The handle dies with the container's cgroups, which liblxc
// removes when it stops; the next call then asks liblxc again.
func (d *Driver) Beancounters(ctx context.Context, name string) ([]lxcdriver.Counter, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("liblxc: beancounters %s: %w", name, err)
	}
	if rows, ok := d.handles.read(name); ok {
		return rows, nil
	}
	c, err := d.container("beancounters", name)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	notRunning := fmt.Errorf("liblxc: beancounters %s: %w", name, lxcdriver.ErrNotRunning)
	// InitPid is one question to the container's monitor and says
	// "not running" (-1) as well as State would; a frozen container has
	// an init and rows like a running one.
	pid := c.InitPid()
	if pid <= 0 {
		return nil, notRunning
	}
	p, err := d.locate(pid)
	if err != nil {
		if d.state(c) == lxcdriver.StateStopped {
			return nil, notRunning
		}
		return nil, fmt.Errorf("liblxc: beancounters %s: %w", name, err)
	}
	rows, err := d.handles.open(name, p, instanceOf(pid))
	if errors.Is(err, cgroups.ErrGone) {
		if d.state(c) == lxcdriver.StateStopped {
			return nil, notRunning
		}
		return nil, fmt.Errorf("liblxc: beancounters %s: no beancounter files in its cgroups %+v", name, p)
	}
	if err != nil {
		return nil, fmt.Errorf("liblxc: beancounters %s: %w", name, err)
	}
	return rows, nil
}

// handleCache holds a cgroups.Handle per container name. The handles of
// all drivers in the process share a budget of file descriptors (all of
// RLIMIT_NOFILE but 4096); past it, containers are read with fresh opens
// instead.
type handleCache struct {
	mu      sync.Mutex
	handles map[string]cachedHandle
}

type cachedHandle struct {
	h     *cgroups.Handle
	files int
	// instance is the run of the container the handle reads (its
	// descriptors fail once that run's cgroups are gone).
	instance int64
}

var (
	// handleFiles counts the descriptors held by every handleCache.
	handleFiles  atomic.Int64
	handleBudget = sync.OnceValue(func() int64 {
		var rl unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			return 0
		}
		// Keep 4096 descriptors (or half, on a small limit) for sockets,
		// database connections and consoles; the rest may hold cgroups.
		return int64(min(max(rl.Cur/2, rl.Cur-min(rl.Cur, 4096)), 1<<20))
	})
)

func newHandleCache() *handleCache {
	return &handleCache{handles: make(map[string]cachedHandle)}
}

// read samples name through its handle; false when there is none or it
// no longer reads a running container (which drops it).
func (hc *handleCache) read(name string) ([]lxcdriver.Counter, bool) {
	hc.mu.Lock()
	ch, ok := hc.handles[name]
	hc.mu.Unlock()
	if !ok {
		return nil, false
	}
	rows, err := ch.h.Read(make([]lxcdriver.Counter, 0, 8))
	if err != nil || stale(rows) {
		hc.drop(name, ch.h)
		return nil, false
	}
	return stamp(rows, ch.instance), true
}

// stamp marks rows as read from one run of the container.
func stamp(rows []lxcdriver.Counter, instance int64) []lxcdriver.Counter {
	for i := range rows {
		rows[i].Instance = instance
	}
	return rows
}

// stale says rows come from a cgroup with no task left: liblxc failed to
// remove it at stop, so it outlived its container.
func stale(rows []lxcdriver.Counter) bool {
	for _, r := range rows {
		if r.Resource == lxcdriver.ResNumProc {
			return r.Held == 0
		}
	}
	return false
}

// open reads the cgroups p of name for the first time, keeping a handle
// when the budget allows.
func (hc *handleCache) open(name string, p cgroups.Paths, instance int64) ([]lxcdriver.Counter, error) {
	rows, err := hc.openRead(name, p, instance)
	return stamp(rows, instance), err
}

func (hc *handleCache) openRead(name string, p cgroups.Paths, instance int64) ([]lxcdriver.Counter, error) {
	if handleFiles.Load()+32 > handleBudget() {
		return readOnce(p)
	}
	h := cgroups.Open(p)
	rows, err := h.Read(make([]lxcdriver.Counter, 0, 8))
	if err != nil {
		_ = h.Close()
		if errors.Is(err, cgroups.ErrGone) {
			return nil, err
		}
		// Out of descriptors, most likely: read without keeping.
		return readOnce(p)
	}
	n := h.Files()
	handleFiles.Add(int64(n))
	hc.mu.Lock()
	old, had := hc.handles[name]
	hc.handles[name] = cachedHandle{h: h, files: n, instance: instance}
	hc.mu.Unlock()
	if had {
		handleFiles.Add(-int64(old.files))
		_ = old.h.Close()
	}
	return rows, nil
}

func readOnce(p cgroups.Paths) ([]lxcdriver.Counter, error) {
	rows := cgroups.Read(p)
	if len(rows) == 0 {
		return nil, cgroups.ErrGone
	}
	return rows, nil
}

// drop closes the handle of name: h only, or whichever when h is nil.
func (hc *handleCache) drop(name string, h *cgroups.Handle) {
	hc.mu.Lock()
	ch, ok := hc.handles[name]
	if !ok || (h != nil && ch.h != h) {
		hc.mu.Unlock()
		return
	}
	delete(hc.handles, name)
	hc.mu.Unlock()
	handleFiles.Add(-int64(ch.files))
	_ = ch.h.Close()
}

// SetLimits implements lxcdriver.ResourceDriver. The limits are merged
// into those already saved in the container's config and the whole set is
// written back as lxc.cgroup.* (lxc.cgroup2.* on a pure cgroup2 host)
// items, in the order liblxc must apply them at start. A running
// container gets them live as well; if the kernel refuses them there, the
// config is put back as it was and the cgroups are left unchanged.
func (d *Driver) SetLimits(ctx context.Context, name string, l lxcdriver.Limits) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("liblxc: set limits %s: %w", name, err)
	}
	c, err := d.container("set limits", name)
	if err != nil {
		return err
	}
	defer c.Release()
	v2 := d.layout.PureV2()
	keys := cgroups.ConfigKeys(v2)
	old := make(map[string][]string, len(keys))
	for _, k := range keys {
		if vals := c.ConfigItem(k); len(vals) > 0 && !(len(vals) == 1 && vals[0] == "") {
			old[k] = vals
		}
	}
	saved := cgroups.LimitsFromConfig(v2, func(k string) string {
		if vals := old[k]; len(vals) > 0 {
			return vals[len(vals)-1]
		}
		return ""
	})
	if err := cgroups.Check(v2, l, saved); err != nil {
		return fmt.Errorf("liblxc: set limits %s: %w", name, err)
	}
	// Refused up front, running or not: a kernel that ignores the
	// limit would otherwise only be found out at the live write.
	if !v2 && l.KmemSize != nil && *l.KmemSize < 1<<62 && !cgroups.KmemLimitSupported() {
		return fmt.Errorf("liblxc: set limits %s: kmemsize: this kernel ignores or refuses memory.kmem.limit_in_bytes: %w", name, lxcdriver.ErrUnsupported)
	}
	merged := cgroups.Merge(v2, saved, l)
	items := cgroups.ConfigItems(v2, merged)
	online, err := cgroups.OnlineCPUs()
	if err != nil {
		return fmt.Errorf("liblxc: set limits %s: %w", name, err)
	}
	if it, ok := cgroups.CPUSetItem(v2, merged, online, name); ok {
		items = append(items, it)
	}
	// A new cpulimit moves the running container's cpuset with it.
	var cpus *[]int
	if l.CPULimitPc != nil {
		list := []int{}
		if merged.CPULimitPc != nil {
			list = append(list, cgroups.PickCPUs(online, cgroups.CPUCount(*merged.CPULimitPc), name)...)
		}
		cpus = &list
	}
	if err := saveLimits(c, keys, items); err != nil {
		return fmt.Errorf("liblxc: set limits %s: %w", name, err)
	}

	pid := c.InitPid()
	if pid <= 0 {
		return nil
	}
	p, err := d.locate(pid)
	if err == nil {
		err = cgroups.ApplyCPUs(p, l, cpus)
	}
	if err != nil && d.state(c) == lxcdriver.StateStopped {
		// Stopped while we looked: the saved config is what counts.
		return nil
	}
	if err != nil {
		if rerr := restoreConfig(c, keys, old); rerr != nil {
			return fmt.Errorf("liblxc: set limits %s: %w (and the config could not be put back: %v)", name, err, rerr)
		}
		return fmt.Errorf("liblxc: set limits %s: %w", name, err)
	}
	return nil
}

// saveLimits replaces every limit key with items and saves the config.
// liblxc appends a repeated lxc.cgroup.* key rather than replacing it,
// hence the clearing.
func saveLimits(c *lxc.Container, keys []string, items []lxcdriver.ConfigItem) error {
	for _, k := range keys {
		if err := c.ClearConfigItem(k); err != nil {
			return fmt.Errorf("clear %s: %w", k, err)
		}
	}
	return setConfig(c, items)
}

// restoreConfig puts the limit keys back to the values they had.
func restoreConfig(c *lxc.Container, keys []string, old map[string][]string) error {
	var items []lxcdriver.ConfigItem
	for _, k := range keys {
		for _, v := range old[k] {
			items = append(items, lxcdriver.ConfigItem{Key: k, Value: strings.TrimSpace(v)})
		}
	}
	return saveLimits(c, keys, items)
}
