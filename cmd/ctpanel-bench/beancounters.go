package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
	"github.com/ctpanel/ctpanel/ubc"
)

// bcCTID starts the CTIDs of the beancounter benchmark's containers.
const bcCTID = 930000

// bcKeys are the cgroup v1 files one beancounter table needs: what a plain
// go-lxc program reads for the same rows.
var bcKeys = []string{
	"pids.current", "pids.max", "pids.events",
	"memory.usage_in_bytes", "memory.max_usage_in_bytes", "memory.soft_limit_in_bytes", "memory.limit_in_bytes", "memory.failcnt",
	"memory.memsw.usage_in_bytes", "memory.memsw.max_usage_in_bytes", "memory.memsw.limit_in_bytes", "memory.memsw.failcnt",
	"memory.kmem.usage_in_bytes", "memory.kmem.max_usage_in_bytes", "memory.kmem.limit_in_bytes", "memory.kmem.failcnt",
	"memory.kmem.tcp.usage_in_bytes", "memory.kmem.tcp.max_usage_in_bytes", "memory.kmem.tcp.limit_in_bytes", "memory.kmem.tcp.failcnt",
	"cpuacct.usage", "cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.stat", "memory.oom_control",
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// beancounters runs the sampling and push benchmarks: n running containers
// sampled by the panel's sampler and by plain go-lxc reads, and the stats
// websocket's push latency to subs watchers.
func (b *bench) beancounters(ctx context.Context, n, subs int, out io.Writer) error {
	fmt.Fprintf(out, "\nbeancounters: %d running containers (full clones: every container is unprivileged), %d websocket watchers\n", n, subs)
	ids := make([]int, n)
	for i := range ids {
		ids[i] = bcCTID + i
	}
	start := time.Now()
	if err := b.each(ctx, ids, func(id int) error {
		_, err := b.api.op(ctx, http.MethodPost, "/api/v1/containers/"+strconv.Itoa(baseCTID)+"/clone",
			map[string]any{"ctid": id, "start": true})
		return err
	}); err != nil {
		return fmt.Errorf("make containers: %w", err)
	}
	b.log.Info("containers running", "count", n, "took", time.Since(start).Round(time.Millisecond))
	defer func() {
		_ = b.each(context.WithoutCancel(ctx), ids, func(id int) error {
			_, err := b.api.op(context.WithoutCancel(ctx), http.MethodDelete, "/api/v1/containers/"+strconv.Itoa(id)+"?force=true", nil)
			return err
		})
	}()

	// The CPU figures are the whole process's: let the panel finish what
	// the 500 starts left it (state records, webhook events) first.
	if idle := settle(ctx); !idle {
		b.log.Warn("the panel did not go idle before the sampling rounds; their CPU figures include its other work")
	}
	const rounds = 5
	var panelCPU, panelWall, rawCPU, rawWall []time.Duration
	for range rounds {
		c0, t0 := cpuTime(), time.Now()
		got, err := b.app.Mon.SampleOnce(ctx)
		if err != nil {
			return fmt.Errorf("sample: %w", err)
		}
		panelCPU, panelWall = append(panelCPU, cpuTime()-c0), append(panelWall, time.Since(t0))
		if got != n {
			return fmt.Errorf("the sampler read %d containers, want %d", got, n)
		}
		c0, t0 = cpuTime(), time.Now()
		for _, id := range ids {
			if _, err := liblxc.RawCgroupRead(b.lxcpath, strconv.Itoa(id), bcKeys); err != nil {
				return err
			}
		}
		rawCPU, rawWall = append(rawCPU, cpuTime()-c0), append(rawWall, time.Since(t0))
	}
	med := func(d []time.Duration) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[len(s)/2]
	}
	fmt.Fprintf(out, "one full sample (median of %d)      CPU        wall\n", rounds)
	fmt.Fprintf(out, "  panel sampler (+ history write) %8.1fms  %8.1fms\n", ms(med(panelCPU)), ms(med(panelWall)))
	fmt.Fprintf(out, "  raw go-lxc CgroupItem reads     %8.1fms  %8.1fms   panel/raw CPU %.2fx\n", ms(med(rawCPU)), ms(med(rawWall)),
		float64(med(panelCPU))/float64(max(med(rawCPU), 1)))
	// The target is 50 ms of CPU per 500 containers.
	target := time.Duration(n) * 50 * time.Millisecond / 500
	verdict(out, med(panelCPU) < target, fmt.Sprintf("one sample of %d containers under %.0fms CPU (50ms per 500): %.1fms", n, ms(target), ms(med(panelCPU))))
	rss, files, limit := processFootprint()
	fmt.Fprintf(out, "panel process with %d running containers sampled: RSS %s, %d open files of a limit of %d\n",
		n, ubc.FormatBytes(rss), files, limit)

	lat, err := b.pushLatency(ctx, ids[0], subs, 10*time.Second)
	if err != nil {
		return fmt.Errorf("push latency: %w", err)
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	fmt.Fprintf(out, "stats websocket push latency, %d watchers, %d pushes: p50 %.1fms p99 %.1fms (kernel read to client)\n",
		subs, len(lat), ms(p(0.5)), ms(p(0.99)))
	verdict(out, p(0.99) < 100*time.Millisecond, fmt.Sprintf("p99 push latency under 100ms: %.1fms", ms(p(0.99))))
	return nil
}

// settle waits, for at most 30 seconds, until this process (the panel in
// it) uses under 2% of a CPU over a quarter of a second; false if it never
// did.
func settle(ctx context.Context) bool {
	const window = 250 * time.Millisecond
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		c0 := cpuTime()
		select {
		case <-ctx.Done():
			return false
		case <-time.After(window):
		}
		if cpuTime()-c0 < window/50 {
			return true
		}
	}
	return false
}

func verdict(out io.Writer, ok bool, what string) {
	word := "MISS"
	if ok {
		word = "PASS"
	}
	fmt.Fprintf(out, "  %s target: %s\n", word, what)
}

// each runs f for every id, b.o.parallel at a time, and returns the first
// error.
func (b *bench) each(ctx context.Context, ids []int, f func(int) error) error {
	sem := make(chan struct{}, b.o.parallel)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(id); err != nil {
				mu.Lock()
				first = cmpOr(first, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// pushLatency opens subs stats websockets on one container and measures,
// for every push, the time from the kernel read ("at") to its arrival.
func (b *bench) pushLatency(ctx context.Context, ctid, subs int, d time.Duration) ([]time.Duration, error) {
	url := "ws" + strings.TrimPrefix(b.api.base, "http") + "/api/v1/containers/" + strconv.Itoa(ctid) + "/stats/ws?interval=1000"
	hdr := http.Header{"Authorization": {"Bearer " + b.api.token}}
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	errs := make(chan error, subs)
	deadline := time.Now().Add(d)
	for range subs {
		conn, _, err := websocket.DefaultDialer.DialContext(ctx, url, hdr)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			for time.Now().Before(deadline) {
				var m struct {
					Type string    `json:"type"`
					At   time.Time `json:"at"`
				}
				_ = conn.SetReadDeadline(deadline.Add(2 * time.Second))
				if err := conn.ReadJSON(&m); err != nil {
					if time.Now().Before(deadline) {
						errs <- err
					}
					return
				}
				got := time.Now()
				if m.Type == "beancounters" {
					mu.Lock()
					lat = append(lat, got.Sub(m.At))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if len(lat) == 0 {
		return nil, fmt.Errorf("no pushes arrived")
	}
	return lat, nil
}

// processFootprint is this process's (the panel's) resident memory, open
// file descriptors and open-file limit.
func processFootprint() (rss uint64, files int, limit uint64) {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				rss = kb << 10
			}
		}
	}
	if entries, err := os.ReadDir("/proc/self/fd"); err == nil {
		files = len(entries)
	}
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil {
		limit = l.Cur
	}
	return rss, files, limit
}
