package lxcdriver_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

func TestDiskOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o  lxcdriver.DiskOptions
		ok bool
	}{
		{lxcdriver.DiskOptions{SizeBytes: 5 << 30}, true},
		{lxcdriver.DiskOptions{SizeBytes: lxcdriver.MinDiskBytes, FSType: "ext4"}, true},
		{lxcdriver.DiskOptions{SizeBytes: lxcdriver.MaxDiskBytes}, true},
		{lxcdriver.DiskOptions{SizeBytes: lxcdriver.MinDiskBytes - 1}, false},
		{lxcdriver.DiskOptions{SizeBytes: lxcdriver.MaxDiskBytes + 1}, false},
		{lxcdriver.DiskOptions{}, false},
		{lxcdriver.DiskOptions{SizeBytes: 1 << 30, FSType: "xfs"}, false},
	} {
		if err := tc.o.Validate(); (err == nil) != tc.ok {
			t.Errorf("validate %+v: %v, want ok %v", tc.o, err, tc.ok)
		}
	}
}

// TestFakeDisk: what the conformance suite cannot ask of every driver.
func TestFakeDisk(t *testing.T) {
	ctx := context.Background()
	f := lxcdriver.NewFake()
	const mib = 1 << 20
	if err := f.Create(ctx, "101", lxcdriver.CreateOptions{Template: "busybox", Disk: &lxcdriver.DiskOptions{SizeBytes: 16 * mib}}); err != nil {
		t.Fatal(err)
	}
	// A write past the disk keeps what fit, as write(2) does.
	err := f.WriteFile(ctx, "101", "/big", make([]byte, 20*mib), 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past the disk: %v", err)
	}
	u, err := f.DiskUsage(ctx, "101")
	if err != nil || u.UsedBytes != u.SizeBytes || !u.Loop {
		t.Fatalf("disk usage of a full disk = %+v, %v", u, err)
	}
	if err := f.Start(ctx, "101"); err != nil {
		t.Fatal(err)
	}
	res, err := f.Exec(ctx, "101", []string{"df", "-k", "/"}, lxcdriver.ExecOptions{})
	if err != nil || !strings.Contains(string(res.Stdout), " 16384     16384         0 100% /") {
		t.Errorf("df -k / on a full 16 MiB disk:\n%s(%v)", res.Stdout, err)
	}
	if err := f.Freeze(ctx, "101"); err != nil {
		t.Fatal(err)
	}
	if err := f.Resize(ctx, "101", 32*mib); err != nil {
		t.Errorf("grow a frozen container's disk: %v", err)
	}
	if err := f.Resize(ctx, "101", 24*mib); !errors.Is(err, lxcdriver.ErrRunning) {
		t.Errorf("shrink a frozen container's disk: error %v, want %v", err, lxcdriver.ErrRunning)
	}
	if err := f.WriteFile(ctx, "101", "/more", make([]byte, 2*mib), 0o644); err != nil {
		t.Fatalf("write on the grown disk: %v", err)
	}
	if err := f.Stop(ctx, "101"); err != nil {
		t.Fatal(err)
	}
	if err := f.Resize(ctx, "101", 17*mib); !errors.Is(err, lxcdriver.ErrDiskTooSmall) {
		t.Errorf("shrink below the files: error %v, want %v", err, lxcdriver.ErrDiskTooSmall)
	}
	if err := f.Clone(ctx, "101", "102", lxcdriver.CloneOptions{Disk: &lxcdriver.DiskOptions{SizeBytes: 16 * mib}}); !errors.Is(err, lxcdriver.ErrDiskTooSmall) {
		t.Errorf("clone onto a disk too small: error %v, want %v", err, lxcdriver.ErrDiskTooSmall)
	}
	if err := f.Clone(ctx, "101", "103", lxcdriver.CloneOptions{}); err != nil {
		t.Fatal(err)
	}
	if u, err := f.DiskUsage(ctx, "103"); err != nil || u.SizeBytes != 32*mib || u.UsedBytes != 18*mib {
		t.Errorf("disk usage of a full clone = %+v, %v; want the origin's 32 MiB disk, 18 MiB used", u, err)
	}
}
