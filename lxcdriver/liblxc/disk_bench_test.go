package liblxc_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
)

// benchDriver is a driver on a fresh lxcpath for a benchmark.
func benchDriver(b *testing.B) *liblxc.Driver {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Fatalf("needs root: %s", howToRun)
	}
	d, err := liblxc.New(passableDir(b))
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkCreateDisk: a busybox container on a directory against one on
// a loop disk (of 64 MiB, and of 5 GiB to see what the size costs), and
// the destroy that follows each.
func BenchmarkCreateDisk(b *testing.B) {
	for _, tc := range []struct {
		name string
		disk *lxcdriver.DiskOptions
	}{
		{"dir", nil},
		{"disk64M", &lxcdriver.DiskOptions{SizeBytes: 64 << 20}},
		{"disk5G", &lxcdriver.DiskOptions{SizeBytes: 5 << 30}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			d := benchDriver(b)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				name := fmt.Sprintf("9b%d", i)
				i++
				if err := d.Create(ctx, name, lxcdriver.CreateOptions{Template: "busybox", Disk: tc.disk}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := d.Destroy(ctx, name); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkResizeStopped: a stopped 64 MiB disk grown to 128 MiB and
// shrunk back, in turn.
func BenchmarkResizeStopped(b *testing.B) {
	d := benchDriver(b)
	ctx := context.Background()
	const name = "9resize"
	if err := d.Create(ctx, name, lxcdriver.CreateOptions{Template: "busybox", Disk: &lxcdriver.DiskOptions{SizeBytes: 64 << 20}}); err != nil {
		b.Fatal(err)
	}
	defer d.Destroy(ctx, name)
	for _, step := range []struct {
		name     string
		from, to uint64
	}{{"grow", 64 << 20, 128 << 20}, {"shrink", 128 << 20, 64 << 20}} {
		b.Run(step.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				if err := d.Resize(ctx, name, step.from); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := d.Resize(ctx, name, step.to); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDiskUsage: the superblock of a stopped disk, statfs of a
// running one.
func BenchmarkDiskUsage(b *testing.B) {
	d := benchDriver(b)
	ctx := context.Background()
	const name = "9usage"
	if err := d.Create(ctx, name, lxcdriver.CreateOptions{
		Template: "busybox",
		Config:   []lxcdriver.ConfigItem{{Key: "lxc.net.0.type", Value: "empty"}},
		Disk:     &lxcdriver.DiskOptions{SizeBytes: 64 << 20},
	}); err != nil {
		b.Fatal(err)
	}
	defer d.Destroy(ctx, name)
	b.Run("stopped", func(b *testing.B) {
		for b.Loop() {
			if _, err := d.DiskUsage(ctx, name); err != nil {
				b.Fatal(err)
			}
		}
	})
	if err := d.Start(ctx, name); err != nil {
		b.Fatal(err)
	}
	defer d.Stop(ctx, name)
	b.Run("running", func(b *testing.B) {
		for b.Loop() {
			if _, err := d.DiskUsage(ctx, name); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCloneDisk: a full clone onto a directory against one onto a
// 64 MiB disk.
func BenchmarkCloneDisk(b *testing.B) {
	for _, tc := range []struct {
		name string
		disk *lxcdriver.DiskOptions
	}{
		{"dir", nil},
		{"disk64M", &lxcdriver.DiskOptions{SizeBytes: 64 << 20}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			d := benchDriver(b)
			ctx := context.Background()
			if err := d.Create(ctx, "9origin", lxcdriver.CreateOptions{Template: "busybox", Disk: tc.disk}); err != nil {
				b.Fatal(err)
			}
			defer d.Destroy(ctx, "9origin")
			i := 0
			for b.Loop() {
				name := fmt.Sprintf("9c%d", i)
				i++
				if err := d.Clone(ctx, "9origin", name, lxcdriver.CloneOptions{}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := d.Destroy(ctx, name); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
