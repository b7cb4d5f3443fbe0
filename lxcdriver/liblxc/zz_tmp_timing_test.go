package liblxc_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
)

func stats(name string, ds []time.Duration) string {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return fmt.Sprintf("%-14s n=%3d mean=%8.2fms p50=%8.2fms p90=%8.2fms max=%8.2fms", name, len(ds),
		float64(sum.Microseconds())/1000/float64(len(ds)), float64(ds[len(ds)/2].Microseconds())/1000,
		float64(ds[len(ds)*9/10].Microseconds())/1000, float64(ds[len(ds)-1].Microseconds())/1000)
}

func TestTmpTiming(t *testing.T) {
	if os.Getenv("CTP_TIMING") == "" {
		t.Skip()
	}
	d := newDriver(t)
	ctx := context.Background()
	cfg := func(n string) []lxcdriver.ConfigItem {
		return []lxcdriver.ConfigItem{{Key: "lxc.net.0.type", Value: "empty"}, {Key: "lxc.uts.name", Value: "ct" + n}}
	}
	var created []string
	defer func() {
		for _, n := range created {
			_ = d.Stop(ctx, n)
		}
		for i := len(created) - 1; i >= 0; i-- {
			if err := d.Destroy(ctx, created[i]); err != nil {
				t.Errorf("destroy %s: %v", created[i], err)
			}
		}
	}()
	measure := func(n int, f func(i int) error) []time.Duration {
		var ds []time.Duration
		for i := 0; i < n; i++ {
			s := time.Now()
			if err := f(i); err != nil {
				t.Fatal(err)
			}
			ds = append(ds, time.Since(s))
		}
		return ds
	}
	const N = 10
	t.Log(stats("create", measure(N, func(i int) error {
		n := "c" + strconv.Itoa(i)
		created = append(created, n)
		return d.Create(ctx, n, lxcdriver.CreateOptions{Template: "busybox", Config: cfg(n)})
	})))
	t.Log(stats("clone full", measure(N, func(i int) error {
		n := "f" + strconv.Itoa(i)
		created = append(created, n)
		return d.Clone(ctx, "c0", n, lxcdriver.CloneOptions{Config: cfg(n)})
	})))
	t.Log(stats("clone snap", measure(N, func(i int) error {
		n := "s" + strconv.Itoa(i)
		created = append(created, n)
		return d.Clone(ctx, "c1", n, lxcdriver.CloneOptions{Snapshot: true, Config: cfg(n)})
	})))
	if err := d.Start(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	t.Log(stats("exec echo", measure(50, func(i int) error {
		res, err := d.Exec(ctx, "c2", []string{"echo", "hi"}, lxcdriver.ExecOptions{})
		if err == nil && string(res.Stdout) != "hi\n" {
			err = fmt.Errorf("got %q", res.Stdout)
		}
		return err
	})))
	t.Log(stats("exec cwd+stdin", measure(50, func(i int) error {
		res, err := d.Exec(ctx, "c2", []string{"cat"}, lxcdriver.ExecOptions{Cwd: "/tmp", Stdin: []byte("x")})
		if err == nil && string(res.Stdout) != "x" {
			err = fmt.Errorf("got %q", res.Stdout)
		}
		return err
	})))
	t.Log(stats("info", measure(50, func(i int) error {
		_, err := d.Info(ctx, "c2")
		return err
	})))
	t.Log(stats("destroy", measure(N, func(i int) error {
		n := "f" + strconv.Itoa(i)
		err := d.Destroy(ctx, n)
		return err
	})))
	created = created[:N]
	created = append(created[:0:0], created...)
	var snaps []string
	for i := 0; i < N; i++ {
		snaps = append(snaps, "s"+strconv.Itoa(i))
	}
	t.Log(stats("destroy snap", measure(N, func(i int) error { return d.Destroy(ctx, snaps[i]) })))
}

// TestTmpStress: many clones, a few at a time, none may hang.
func TestTmpStress(t *testing.T) {
	total, _ := strconv.Atoi(os.Getenv("CTP_STRESS"))
	if total == 0 {
		t.Skip()
	}
	d := newDriver(t)
	ctx := context.Background()
	if err := d.Create(ctx, "src", lxcdriver.CreateOptions{Template: "busybox", Config: []lxcdriver.ConfigItem{{Key: "lxc.net.0.type", Value: "empty"}}}); err != nil {
		t.Fatal(err)
	}
	defer d.Destroy(ctx, "src")
	srcs := []string{"src"}
	_ = liblxc.LoopDevicesUnder
	var mu sync.Mutex
	var ds []time.Duration
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < total; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			n := "k" + strconv.Itoa(i)
			cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			s := time.Now()
			err := d.Clone(cctx, srcs[0], n, lxcdriver.CloneOptions{Snapshot: i%2 == 1, Config: []lxcdriver.ConfigItem{{Key: "lxc.uts.name", Value: n}}})
			el := time.Since(s)
			if err != nil {
				t.Errorf("clone %d: %v", i, err)
				return
			}
			mu.Lock()
			ds = append(ds, el)
			mu.Unlock()
			if err := d.Destroy(cctx, n); err != nil {
				t.Errorf("destroy %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	t.Logf("%d clones in %v", total, time.Since(start))
	if len(ds) > 0 {
		t.Log(stats("clone (4 par)", ds))
	}
}
