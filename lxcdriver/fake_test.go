package lxcdriver_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/drivertest"
)

func TestFake(t *testing.T) {
	// The Fake only checks that the tarball is gzip; an empty one will do.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	if err := os.WriteFile(tarball, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	drivertest.Exercise(t, func(t *testing.T) lxcdriver.Driver {
		return lxcdriver.NewFake()
	}, drivertest.WithRootfsTarball(tarball))
}

func TestFakeContextCanceled(t *testing.T) {
	f := lxcdriver.NewFake()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Create(ctx, "101", lxcdriver.CreateOptions{Template: "busybox"}); err == nil {
		t.Fatal("create with a canceled context succeeded")
	}
	if _, err := f.State(context.Background(), "101"); err == nil {
		t.Fatal("canceled create left a container behind")
	}
}

func TestFakeBeancounters(t *testing.T) {
	ctx := context.Background()
	f := lxcdriver.NewFake()
	if err := f.Create(ctx, "101", lxcdriver.CreateOptions{Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	if err := f.SetHeld("101", lxcdriver.ResNumProc, 5, 1); !errors.Is(err, lxcdriver.ErrNotRunning) {
		t.Errorf("set held on a stopped container: error %v, want %v", err, lxcdriver.ErrNotRunning)
	}
	if err := f.SetHeld("404", lxcdriver.ResNumProc, 5, 1); !errors.Is(err, lxcdriver.ErrNotFound) {
		t.Errorf("set held on a missing container: error %v, want %v", err, lxcdriver.ErrNotFound)
	}
	n := uint64(10)
	if err := f.SetLimits(ctx, "101", lxcdriver.Limits{NumProc: &n}); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(ctx, "101"); err != nil {
		t.Fatal(err)
	}
	if err := f.SetHeld("101", lxcdriver.ResNumProc, 10, 7); err != nil {
		t.Fatal(err)
	}
	if err := f.SetHeld("101", lxcdriver.ResNumProc, 3, 9); err != nil {
		t.Fatal(err)
	}
	if err := f.SetHeld("101", lxcdriver.ResOOM, 0, 2); err != nil {
		t.Fatal(err)
	}
	rows := fakeRows(t, f, "101")
	run := rows[lxcdriver.ResNumProc].Instance
	if run == 0 || rows[lxcdriver.ResOOM].Instance != run {
		t.Errorf("rows of one reading carry runs %d and %d", run, rows[lxcdriver.ResOOM].Instance)
	}
	want := lxcdriver.Counter{Resource: lxcdriver.ResNumProc, Held: 3, MaxHeld: 10, Barrier: 10, Limit: 10, FailCnt: 9, Instance: run}
	if rows[lxcdriver.ResNumProc] != want {
		t.Errorf("numproc = %+v, want %+v", rows[lxcdriver.ResNumProc], want)
	}
	if rows[lxcdriver.ResOOM].FailCnt != 2 {
		t.Errorf("oom = %+v, want failcnt 2", rows[lxcdriver.ResOOM])
	}
	// A restart begins every count again, as the kernel does.
	if err := f.Restart(ctx, "101", 0); err != nil {
		t.Fatal(err)
	}
	rows = fakeRows(t, f, "101")
	if rows[lxcdriver.ResNumProc].Instance <= run {
		t.Errorf("after restart the run went from %d to %d", run, rows[lxcdriver.ResNumProc].Instance)
	}
	want = lxcdriver.Counter{Resource: lxcdriver.ResNumProc, Held: 1, MaxHeld: 1, Barrier: 10, Limit: 10, Instance: rows[lxcdriver.ResNumProc].Instance}
	if rows[lxcdriver.ResNumProc] != want || rows[lxcdriver.ResOOM].FailCnt != 0 {
		t.Errorf("after restart numproc = %+v, oom = %+v", rows[lxcdriver.ResNumProc], rows[lxcdriver.ResOOM])
	}
}

// The Fake refuses what the CI host's kernel cannot do, as liblxc does.
func TestFakeLimitsUnsupported(t *testing.T) {
	ctx := context.Background()
	f := lxcdriver.NewFake()
	if err := f.Create(ctx, "101", lxcdriver.CreateOptions{Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	mb := func(v uint64) *uint64 { v <<= 20; return &v }
	unlimited := lxcdriver.Unlimited
	for what, l := range map[string]lxcdriver.Limits{
		"kmem limit":                 {KmemSize: mb(64)},
		"swap without memory limit":  {Swap: mb(0)},
		"swap removing memory limit": {Swap: mb(0), MemHard: &unlimited},
	} {
		if err := f.SetLimits(ctx, "101", l); !errors.Is(err, lxcdriver.ErrUnsupported) {
			t.Errorf("%s: error %v, want %v", what, err, lxcdriver.ErrUnsupported)
		}
	}
	// With a memory limit saved, swap may follow on its own.
	if err := f.SetLimits(ctx, "101", lxcdriver.Limits{MemHard: mb(8)}); err != nil {
		t.Fatal(err)
	}
	if err := f.SetLimits(ctx, "101", lxcdriver.Limits{Swap: mb(4), KmemSize: &unlimited}); err != nil {
		t.Fatalf("swap on top of a saved memory limit: %v", err)
	}
	if err := f.Start(ctx, "101"); err != nil {
		t.Fatal(err)
	}
	rows := fakeRows(t, f, "101")
	if sw := rows[lxcdriver.ResSwapPages]; sw.Limit != 1024 {
		t.Errorf("swappages = %+v, want limit 1024 pages", sw)
	}
	// Removing the memory limit removes the swap limit with it.
	if err := f.SetLimits(ctx, "101", lxcdriver.Limits{MemHard: &unlimited}); err != nil {
		t.Fatal(err)
	}
	rows = fakeRows(t, f, "101")
	if pp, sw := rows[lxcdriver.ResPhysPages], rows[lxcdriver.ResSwapPages]; pp.Limit != unlimited || sw.Limit != unlimited {
		t.Errorf("after removing the memory limit: physpages %+v, swappages %+v", pp, sw)
	}
}

func fakeRows(t *testing.T, f *lxcdriver.Fake, name string) map[string]lxcdriver.Counter {
	t.Helper()
	rows, err := f.Beancounters(context.Background(), name)
	if err != nil {
		t.Fatalf("beancounters: %v", err)
	}
	m := make(map[string]lxcdriver.Counter, len(rows))
	for _, r := range rows {
		m[r.Resource] = r
	}
	return m
}
