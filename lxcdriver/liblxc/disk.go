package liblxc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	lxc "github.com/lxc/go-lxc"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/subprocess"
)

// Disks (OpenVZ's diskspace) are liblxc's loop backing store: the rootfs
// is an ext4 filesystem in <lxcpath>/<name>/rootdev, which liblxc attaches
// to a loop device (autoclear) and mounts when the container starts, and
// removes when it destroys the container. A privileged container's clone
// onto a disk is made by liblxc itself (lxc-copy -B loop -L); every other
// image (created from the busybox template or a tarball, or cloned for an
// unprivileged container) is made here as liblxc would (makeDisk).
//
// DiskOptions.SizeBytes is the size df reports, not the image's: ext4
// keeps 3 to 15 % of an image for its metadata (inode tables, journal,
// descriptor backups), so the image is made that much larger, from the
// superblock arithmetic in ext4.go. A tenant buying 5G sees 5G in df, as
// under OpenVZ.

var _ lxcdriver.DiskDriver = (*Driver)(nil)

// loopImage is the image of a "loop:/path" rootfs, or "" for any other.
func loopImage(rootfs string) string {
	if kind, spec, ok := strings.Cut(rootfs, ":"); ok && kind == "loop" {
		return spec
	}
	return ""
}

// sizeTolerance is how far from the asked size a disk may end up: block
// groups come in whole blocks and the last one needs room for its own
// metadata.
func sizeTolerance(want uint64) uint64 { return want/200 + 1<<20 }

func near(got, want uint64) bool {
	tol := sizeTolerance(want)
	return got+tol >= want && got <= want+tol
}

// checkDiskTools fails early, before anything is made, without
// e2fsprogs.
func checkDiskTools() error {
	for _, t := range ext4Tools {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%s (Debian package e2fsprogs) is needed for disks: %w", t, err)
		}
	}
	return nil
}

// imageSizeFor returns how large an image mkfs.ext4 must be given for df
// to show want bytes. mke2fs picks block size, inode count, journal and
// reserved descriptor blocks by size, so a scratch filesystem says what
// they will be (sparse, with a journal left unzeroed: 10 ms for 100 GiB,
// 50 ms for 1 TiB, 1 s for 15 TiB).
func imageSizeFor(ctx context.Context, want uint64) (uint64, error) {
	f, err := os.CreateTemp("", "ctpanel-mkfs-*.img")
	if err != nil {
		return 0, err
	}
	scratch := f.Name()
	f.Close()
	defer os.Remove(scratch)
	size := want
	for range 4 {
		if err := os.Truncate(scratch, int64(size)); err != nil {
			return 0, err
		}
		if err := mkfs(ctx, scratch); err != nil {
			return 0, err
		}
		sb, err := readExt4Super(scratch)
		if err != nil {
			return 0, err
		}
		next := sb.blocksFor(want) * sb.blockSize
		if next == size {
			break
		}
		size = next
	}
	return size, nil
}

// fitImage resizes the unmounted filesystem in image so that df will show
// want bytes: resize2fs after e2fsck, the image grown before or cut after.
// A shrink the files do not fit in fails with ErrDiskTooSmall and leaves
// the image as it was.
func fitImage(ctx context.Context, image string, want uint64) error {
	for range 3 {
		if err := ctx.Err(); err != nil {
			return err
		}
		sb, err := readExt4Super(image)
		if err != nil {
			return err
		}
		if sb.needsRecovery {
			// A journal to replay first (a host crash under a running
			// container); e2fsck -p does it.
			if err := fsck(ctx, image); err != nil {
				return err
			}
			continue
		}
		if near(sb.fsBytes(), want) {
			return nil
		}
		if u := sb.usage(); want < u.UsedBytes {
			return fmt.Errorf("%d bytes in use: %w", u.UsedBytes, lxcdriver.ErrDiskTooSmall)
		}
		n := sb.blocksFor(want)
		if n == sb.blocks {
			return nil
		}
		fi, err := os.Stat(image)
		if err != nil {
			return err
		}
		newSize := int64(n * sb.blockSize)
		if newSize > fi.Size() {
			if err := os.Truncate(image, newSize); err != nil {
				return err
			}
		}
		if err := fsck(ctx, image); err != nil {
			return err
		}
		if err := resize2fs(ctx, image, n); err != nil {
			if newSize > fi.Size() {
				// resize2fs changed nothing; neither did we.
				_ = os.Truncate(image, fi.Size())
			}
			return err
		}
		// The filesystem ends at newSize now; so does the image.
		if newSize != fi.Size() {
			if err := os.Truncate(image, newSize); err != nil {
				return err
			}
		}
	}
	sb, err := readExt4Super(image)
	if err != nil {
		return err
	}
	if got := sb.fsBytes(); !near(got, want) {
		return fmt.Errorf("resized %s to %d bytes, not the %d asked for", image, got, want)
	}
	return nil
}

// growLive grows the mounted root filesystem of the running container of
// init pid: the image file first, then the loop device's size
// (LOOP_SET_CAPACITY), then the filesystem (EXT4_IOC_RESIZE_FS).
func growLive(pid int, image string, want uint64) error {
	dev, err := liveLoop(pid, image)
	if err != nil {
		return err
	}
	root := fmt.Sprintf("/proc/%d/root", pid)
	for range 3 {
		size, _, _, _, err := statfsUsage(root)
		if err != nil {
			return err
		}
		if size+sizeTolerance(want) >= want {
			return nil
		}
		// The superblock in the image is current only once the
		// journal is written back; syncfs does that.
		if err := syncfs(root); err != nil {
			return err
		}
		sb, err := readExt4Super(image)
		if err != nil {
			return err
		}
		n := sb.blocksFor(want)
		if n <= sb.blocks {
			// The arithmetic fell short of the kernel's overhead;
			// add what is missing.
			n = sb.blocks + (want-size+sb.blockSize-1)/sb.blockSize
		}
		fi, err := os.Stat(image)
		if err != nil {
			return err
		}
		if newSize := int64(n * sb.blockSize); newSize > fi.Size() {
			if err := os.Truncate(image, newSize); err != nil {
				return err
			}
		}
		if err := setLoopCapacity(dev); err != nil {
			return err
		}
		if err := resizeMounted(root, n); err != nil {
			return err
		}
	}
	size, _, _, _, err := statfsUsage(root)
	if err != nil {
		return err
	}
	if !near(size, want) {
		return fmt.Errorf("grew the filesystem to %d bytes, not the %d asked for", size, want)
	}
	return nil
}

// LiveDiskGrowSupported says whether this process may grow the disk of a
// running container: ext4's online resize (EXT4_IOC_RESIZE_FS, which
// resize2fs uses too) wants CAP_SYS_RESOURCE, which some sandboxes drop
// even for root. Without it only stopped containers can be resized.
func LiveDiskGrowSupported() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	return false
}

func syncfs(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}

// finishDisk makes a disk liblxc just made what ctpanel's disks are: no
// blocks reserved for root (the tenant is root; df shows all of the disk
// available, as OpenVZ did) and df's size want.
func finishDisk(ctx context.Context, image string, want uint64) error {
	// liblxc's mount of it for the template or the copy was in a process
	// of its own; its loop device goes once that is gone.
	if err := waitDetached(ctx, image); err != nil {
		return err
	}
	if _, err := runTool(ctx, "tune2fs", "-m", "0", image); err != nil {
		return err
	}
	return fitImage(ctx, image, want)
}

// makeDisk makes dir/rootdev, a disk of want bytes, fills it with fill
// and, for an unprivileged container (m set), moves the owners of its
// files into the container's block of host ids (unpriv.go says why a disk
// is not idmapped). It returns the image.
func makeDisk(ctx context.Context, dir string, want uint64, fill func(context.Context, string) error, m *lxcdriver.IDMap) (string, error) {
	image := filepath.Join(dir, "rootdev")
	if err := newImage(ctx, image, want); err != nil {
		return "", err
	}
	mnt, cleanup, err := mountImage(image, false)
	if err != nil {
		return "", err
	}
	err = fill(ctx, mnt)
	if err == nil && m != nil {
		err = shiftTree(ctx, mnt, 0, m.HostID, m.Size)
	}
	if cerr := cleanup(); cerr != nil {
		return "", errors.Join(err, cerr)
	}
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "No space left on device") || errors.Is(err, unix.ENOSPC) {
			return "", fmt.Errorf("%w: %s", lxcdriver.ErrDiskTooSmall, lastLine(msg))
		}
		return "", err
	}
	return image, nil
}

// newImage makes image, a new file holding an empty ext4 filesystem df
// will show as want bytes.
func newImage(ctx context.Context, image string, want uint64) error {
	size, err := imageSizeFor(ctx, want)
	if err != nil {
		return fmt.Errorf("size the disk: %w", err)
	}
	f, err := os.OpenFile(image, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(int64(size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := mkfs(ctx, image); err != nil {
		return err
	}
	return fitImage(ctx, image, want)
}

// cloneDisk is the disk a full clone gets.
type cloneDisk struct {
	size     uint64 // df's size
	srcImage string // the origin's disk, "" for a directory
}

// planCloneDisk says whether a clone of c goes onto a loop disk (nil: a
// directory, or an overlay for a snapshot), and refuses snapshot clones
// of or onto one.
func planCloneDisk(c *lxc.Container, opts lxcdriver.CloneOptions) (*cloneDisk, error) {
	spec, err := rootfsSpec(c.ConfigFileName())
	if err != nil {
		return nil, err
	}
	image := loopImage(spec)
	if opts.Snapshot {
		if image != "" || opts.Disk != nil {
			return nil, fmt.Errorf("snapshot clones of or onto a loop disk: liblxc's loop backing store has no snapshots, make a full clone: %w", lxcdriver.ErrUnsupported)
		}
		return nil, nil
	}
	if opts.Disk == nil && image == "" {
		return nil, nil
	}
	if err := checkDiskTools(); err != nil {
		return nil, err
	}
	if opts.Disk == nil {
		// A full clone keeps the quota.
		sb, err := readExt4Super(image)
		if err != nil {
			return nil, err
		}
		return &cloneDisk{size: sb.fsBytes(), srcImage: image}, nil
	}
	if err := opts.Disk.Validate(); err != nil {
		return nil, err
	}
	if image != "" {
		if sb, err := readExt4Super(image); err == nil && sb.usage().UsedBytes > opts.Disk.SizeBytes {
			return nil, fmt.Errorf("%s has %d bytes in use: %w", c.Name(), sb.usage().UsedBytes, lxcdriver.ErrDiskTooSmall)
		}
	}
	return &cloneDisk{size: opts.Disk.SizeBytes, srcImage: image}, nil
}

// cloneOntoDisk is lxc-copy -B loop -L: liblxc's clone onto a new loop
// disk, which go-lxc cannot ask for (its Clone passes no size, and liblxc
// then makes 1G). lxc-copy also keeps liblxc's clone out of this
// multi-threaded process (see tools.go).
func (d *Driver) cloneOntoDisk(ctx context.Context, src, dst string, disk *cloneDisk) error {
	size, err := imageSizeFor(ctx, disk.size)
	if err != nil {
		return fmt.Errorf("size the disk: %w", err)
	}
	srcImage := disk.srcImage
	if srcImage != "" {
		// lxc-copy mounts it; nothing else may have it (see mountImage).
		if err := waitDetached(ctx, srcImage); err != nil {
			return err
		}
	}
	out, err := subprocess.Run(ctx, lxcTool(ctx, "lxc-copy", "-P", d.lxcpath, "-n", src, "-N", dst, "-B", "loop", "-L", strconv.FormatUint(size, 10)+"b"))
	if srcImage != "" {
		// lxc-copy mounted the source's disk to copy from it.
		if werr := waitDetached(ctx, srcImage); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		if strings.Contains(out, "No space left on device") {
			return fmt.Errorf("lxc-copy: %w: %s", lxcdriver.ErrDiskTooSmall, lastLine(out))
		}
		return fmt.Errorf("lxc-copy: %w", err)
	}
	image := filepath.Join(d.lxcpath, dst, "rootdev")
	return finishDisk(ctx, image, disk.size)
}

// Resize implements lxcdriver.DiskDriver.
func (d *Driver) Resize(ctx context.Context, name string, sizeBytes uint64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("liblxc: resize %s: %w", name, err)
	}
	if err := (lxcdriver.DiskOptions{SizeBytes: sizeBytes}).Validate(); err != nil {
		return fmt.Errorf("liblxc: resize %s: %w", name, err)
	}
	c, err := d.container("resize", name)
	if err != nil {
		return err
	}
	defer c.Release()
	spec, err := rootfsSpec(c.ConfigFileName())
	if err != nil {
		return fmt.Errorf("liblxc: resize %s: %w", name, err)
	}
	image := loopImage(spec)
	if image == "" {
		return fmt.Errorf("liblxc: resize %s: rootfs %s: %w", name, spec, lxcdriver.ErrNoDisk)
	}
	if err := checkDiskTools(); err != nil {
		return fmt.Errorf("liblxc: resize %s: %w", name, err)
	}
	if d.state(c) == lxcdriver.StateStopped {
		if err := waitDetached(ctx, image); err != nil {
			return fmt.Errorf("liblxc: resize %s: %w", name, err)
		}
		if err := fitImage(ctx, image, sizeBytes); err != nil {
			return fmt.Errorf("liblxc: resize %s to %d bytes: %w", name, sizeBytes, err)
		}
		return nil
	}
	pid := c.InitPid()
	if pid <= 0 {
		return fmt.Errorf("liblxc: resize %s: container is %s without an init", name, d.state(c))
	}
	size, _, _, _, err := statfsUsage(fmt.Sprintf("/proc/%d/root", pid))
	if err != nil {
		return fmt.Errorf("liblxc: resize %s: %w", name, err)
	}
	if sizeBytes+sizeTolerance(sizeBytes) < size {
		return fmt.Errorf("liblxc: resize %s: shrink the disk from %d to %d bytes: stop the container first: %w", name, size, sizeBytes, lxcdriver.ErrRunning)
	}
	if near(size, sizeBytes) {
		return nil
	}
	if !LiveDiskGrowSupported() {
		return fmt.Errorf("liblxc: resize %s: grow the disk of a running container: ext4's online resize needs CAP_SYS_RESOURCE, which this process lacks (stop the container to resize it): %w", name, lxcdriver.ErrUnsupported)
	}
	if err := growLive(pid, image, sizeBytes); err != nil {
		return fmt.Errorf("liblxc: resize %s to %d bytes: %w", name, sizeBytes, err)
	}
	return nil
}

// DiskUsage implements lxcdriver.DiskDriver: statfs of the running
// container's root, or for a stopped one the numbers in its disk's
// superblock (no mount, so no race with a start) or statfs of its
// directory rootfs.
func (d *Driver) DiskUsage(ctx context.Context, name string) (lxcdriver.DiskUsage, error) {
	if err := ctx.Err(); err != nil {
		return lxcdriver.DiskUsage{}, fmt.Errorf("liblxc: disk usage %s: %w", name, err)
	}
	c, err := d.container("disk usage", name)
	if err != nil {
		return lxcdriver.DiskUsage{}, err
	}
	defer c.Release()
	spec, err := rootfsSpec(c.ConfigFileName())
	if err != nil {
		return lxcdriver.DiskUsage{}, fmt.Errorf("liblxc: disk usage %s: %w", name, err)
	}
	image := loopImage(spec)
	dir := ""
	if pid := c.InitPid(); pid > 0 {
		dir = fmt.Sprintf("/proc/%d/root", pid)
	} else if image != "" {
		// Just stopped, the kernel may still be unmounting it, and its
		// superblock gets the last counts at the unmount. Not waiting
		// long: a superblock a little stale is still an answer.
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = waitDetached(wctx, image)
		cancel()
		sb, err := readExt4Super(image)
		if err != nil {
			return lxcdriver.DiskUsage{}, fmt.Errorf("liblxc: disk usage %s: %w", name, err)
		}
		return sb.usage(), nil
	} else {
		dir = dirOfRootfs(spec)
	}
	var u lxcdriver.DiskUsage
	u.SizeBytes, u.UsedBytes, u.Inodes, u.InodesUsed, err = statfsUsage(dir)
	if err != nil {
		return lxcdriver.DiskUsage{}, fmt.Errorf("liblxc: disk usage %s: %w", name, err)
	}
	u.Loop = image != ""
	return u, nil
}

// dirOfRootfs is the host directory whose filesystem holds a directory or
// overlay rootfs (an overlay's writes land in its upper directory).
func dirOfRootfs(spec string) string {
	kind, rest, ok := strings.Cut(spec, ":")
	if !ok {
		return spec
	}
	if kind == "overlay" || kind == "overlayfs" {
		parts := strings.Split(rest, ":")
		return parts[len(parts)-1]
	}
	return rest
}
