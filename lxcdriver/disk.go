package lxcdriver

import (
	"context"
	"errors"
	"fmt"
)

// DiskOptions gives a container a root filesystem of its own with a fixed
// size, OpenVZ's diskspace: a loop-backed image in the container's
// directory. The size is what df inside the container reports as the
// filesystem's size (the image is a little larger, by the filesystem's
// own metadata), and a write past it fails with ENOSPC.
type DiskOptions struct {
	// SizeBytes is the filesystem size, at least MinDiskBytes.
	SizeBytes uint64
	// FSType is the filesystem made on the image; "" means ext4, the only
	// type that can be resized while the container runs and the only one
	// drivers accept today.
	FSType string
}

// Validate checks what every driver accepts; callers validating at the
// edge can use it for a field message.
func (o DiskOptions) Validate() error {
	if o.FSType != "" && o.FSType != DefaultFSType {
		return fmt.Errorf("disk filesystem %q: only %s is supported", o.FSType, DefaultFSType)
	}
	if o.SizeBytes < MinDiskBytes {
		return fmt.Errorf("disk size %d: at least %d bytes (%d MiB)", o.SizeBytes, MinDiskBytes, MinDiskBytes>>20)
	}
	if o.SizeBytes > MaxDiskBytes {
		return fmt.Errorf("disk size %d: at most %d bytes (%d TiB)", o.SizeBytes, MaxDiskBytes, MaxDiskBytes>>40)
	}
	return nil
}

// MaxDiskBytes bounds a disk at 15 TiB: its image, a little larger, must
// stay a file the host's filesystem can hold (16 TiB on ext4 with 4 KiB
// blocks).
const MaxDiskBytes uint64 = 15 << 40

// MinDiskBytes is the smallest disk a driver makes: below it an ext4
// journal and a busybox rootfs leave nothing to speak of.
const MinDiskBytes uint64 = 16 << 20

// DefaultFSType is the filesystem made when DiskOptions.FSType is empty.
const DefaultFSType = "ext4"

// DiskUsage is statfs of a container's root filesystem, the numbers df and
// df -i print inside it: diskspace and diskinodes held and their limits.
type DiskUsage struct {
	SizeBytes  uint64 // df's size: the quota for a loop disk
	UsedBytes  uint64 // df's used
	Inodes     uint64 // df -i's inodes: the diskinodes limit of a loop disk
	InodesUsed uint64
	// Loop says the container has a disk of its own (created or cloned
	// with DiskOptions). Without one the numbers are those of the host
	// filesystem holding the container's directory rootfs, shared with
	// every other such container: no quota applies.
	Loop bool
}

// DiskDriver sizes containers' disks and reports their use.
type DiskDriver interface {
	// Resize sets the size of a container's loop disk (DiskOptions.SizeBytes
	// semantics). A stopped container's disk grows or shrinks; shrinking
	// below what its files need fails with ErrDiskTooSmall and changes
	// nothing. A running (or frozen) container's disk grows live, and
	// shrinking it gives ErrRunning. A container without a loop disk
	// gives ErrNoDisk.
	Resize(ctx context.Context, name string, sizeBytes uint64) error
	// DiskUsage reports statfs of the container's root filesystem,
	// running or stopped.
	DiskUsage(ctx context.Context, name string) (DiskUsage, error)
}

// Disk errors, wrapped with context by every implementation.
var (
	// ErrNoDisk: the container's rootfs is a directory on the host's
	// filesystem, which has no size of its own to change.
	ErrNoDisk = errors.New("container has no disk of its own (directory rootfs)")
	// ErrDiskTooSmall: the files in the container need more than the
	// requested size.
	ErrDiskTooSmall = errors.New("the container's files do not fit in the requested disk size")
)
