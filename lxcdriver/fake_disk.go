package lxcdriver

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"syscall"
)

// The Fake's disks: a size per container created or cloned with
// DiskOptions, used bytes counted from what WriteFile stored on top of a
// busybox-sized base, and Resize with the liblxc driver's rules.

// fakeDisk is a fake container's loop disk.
type fakeDisk struct {
	size uint64
}

// A fresh busybox rootfs, roughly: what every fake container holds.
const (
	fakeBaseUsed   = 2 << 20
	fakeBaseInodes = 300
	// fakeInodeRatio is mke2fs's bytes-per-inode for small filesystems.
	fakeInodeRatio = 4096
	// fakeHostSize is the "host filesystem" a directory rootfs reports.
	fakeHostSize = 100 << 30
)

// newFakeDisk checks o and returns the disk it describes (nil for none).
func newFakeDisk(o *DiskOptions) (*fakeDisk, error) {
	if o == nil {
		return nil, nil
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &fakeDisk{size: o.SizeBytes}, nil
}

// cloneFakeDisk is the disk a clone of s gets, as the liblxc driver decides:
// opts.Disk when set, else a disk of the same size as s's; no snapshot
// clones of or onto a disk.
func cloneFakeDisk(s *fakeContainer, opts CloneOptions) (*fakeDisk, error) {
	if opts.Snapshot && (s.disk != nil || opts.Disk != nil) {
		return nil, fmt.Errorf("snapshot clones of or onto a loop disk: liblxc's loop backing store has no snapshots, make a full clone: %w", ErrUnsupported)
	}
	if opts.Disk == nil {
		if s.disk == nil {
			return nil, nil
		}
		return &fakeDisk{size: s.disk.size}, nil
	}
	disk, err := newFakeDisk(opts.Disk)
	if err != nil {
		return nil, err
	}
	if used := s.usedBytes(); used > disk.size {
		return nil, fmt.Errorf("copy %d bytes onto a disk of %d: %w", used, disk.size, ErrDiskTooSmall)
	}
	return disk, nil
}

// usedBytes is what the container's files take.
func (ct *fakeContainer) usedBytes() uint64 {
	n := uint64(fakeBaseUsed)
	for _, data := range ct.files {
		n += uint64(len(data))
	}
	return n
}

// fitFile says how much of data fits in place of the file at p; a short
// answer is where the liblxc driver's write would stop with ENOSPC.
func (ct *fakeContainer) fitFile(p string, data []byte) int {
	if ct.disk == nil {
		return len(data)
	}
	free := ct.disk.size - min(ct.disk.size, ct.usedBytes()-uint64(len(ct.files[p])))
	return int(min(uint64(len(data)), free))
}

// diskUsage is statfs of the container's root, as the liblxc driver
// reports it.
func (ct *fakeContainer) diskUsage() DiskUsage {
	files := uint64(fakeBaseInodes + len(ct.files))
	if ct.disk == nil {
		return DiskUsage{SizeBytes: fakeHostSize, UsedBytes: ct.usedBytes(), Inodes: fakeHostSize / 16384, InodesUsed: files}
	}
	return DiskUsage{
		SizeBytes:  ct.disk.size,
		UsedBytes:  ct.usedBytes(),
		Inodes:     ct.disk.size / fakeInodeRatio,
		InodesUsed: files,
		Loop:       true,
	}
}

// fakeDF is busybox df's output for "df [-k|-i] [/]".
func fakeDF(ct *fakeContainer, args []string) (string, int) {
	inodes := false
	for _, a := range args {
		switch a {
		case "-k", "/":
		case "-i":
			inodes = true
		default:
			return fmt.Sprintf("df: unrecognized argument %q (the fake knows -k, -i and /)\n", a), 1
		}
	}
	u := ct.diskUsage()
	dev := "/dev/sda1"
	if u.Loop {
		dev = "/dev/loop0"
	}
	var b bytes.Buffer
	if inodes {
		fmt.Fprintf(&b, "%-20s %10s %9s %9s %4s %s\n", "Filesystem", "Inodes", "Used", "Available", "Use%", "Mounted on")
		fmt.Fprintf(&b, "%-20s %10d %9d %9d %3d%% /\n", dev, u.Inodes, u.InodesUsed, u.Inodes-u.InodesUsed, percent(u.InodesUsed, u.Inodes))
		return b.String(), 0
	}
	fmt.Fprintf(&b, "%-20s %10s %9s %9s %4s %s\n", "Filesystem", "1K-blocks", "Used", "Available", "Use%", "Mounted on")
	fmt.Fprintf(&b, "%-20s %10d %9d %9d %3d%% /\n", dev, u.SizeBytes/1024, u.UsedBytes/1024, (u.SizeBytes-u.UsedBytes)/1024, percent(u.UsedBytes, u.SizeBytes))
	return b.String(), 0
}

func percent(used, total uint64) uint64 {
	if total == 0 {
		return 0
	}
	return (used*100 + total - 1) / total
}

// Resize implements DiskDriver with the liblxc driver's rules.
func (f *Fake) Resize(ctx context.Context, name string, sizeBytes uint64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: resize %s: %w", name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("resize", name)
	if err != nil {
		return err
	}
	if ct.disk == nil {
		return fmt.Errorf("fake: resize %s: %w", name, ErrNoDisk)
	}
	if err := (DiskOptions{SizeBytes: sizeBytes}).Validate(); err != nil {
		return fmt.Errorf("fake: resize %s: %w", name, err)
	}
	if sizeBytes < ct.disk.size && ct.state != StateStopped {
		return fmt.Errorf("fake: resize %s: shrink a disk: stop the container first: %w", name, ErrRunning)
	}
	if used := ct.usedBytes(); sizeBytes < used {
		return fmt.Errorf("fake: resize %s: %d bytes in use: %w", name, used, ErrDiskTooSmall)
	}
	ct.disk.size = sizeBytes
	return nil
}

// DiskUsage implements DiskDriver.
func (f *Fake) DiskUsage(ctx context.Context, name string) (DiskUsage, error) {
	if err := ctx.Err(); err != nil {
		return DiskUsage{}, fmt.Errorf("fake: disk usage %s: %w", name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("disk usage", name)
	if err != nil {
		return DiskUsage{}, err
	}
	return ct.diskUsage(), nil
}

// errFakeNoSpace is what a write past a fake disk's size fails with, as
// the kernel's write does on a full filesystem.
func errFakeNoSpace(p string) error {
	return fmt.Errorf("write %s: %w", strings.TrimPrefix(p, "/"), syscall.ENOSPC)
}
