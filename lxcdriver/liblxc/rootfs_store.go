package liblxc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	lxc "github.com/lxc/go-lxc"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// Backups read, and restores replace, a container's root filesystem:
//
//   - A directory rootfs is read where it is; a restore fills DIR.restore
//     beside it and swaps the two by rename (DIR.old kept until the
//     restored container starts). Its files carry the container's own ids
//     (it is idmapped when it starts).
//   - A disk of its own (disk.go) is read through a mount on the host: of
//     the image itself, read-only, while the container is stopped; of the
//     loop device the running container has mounted as its root while it
//     runs, a second mount of the same superblock (one filesystem to the
//     kernel, so the frozen pass sees what the container wrote), made
//     read-only. The mount is at the same path at every backup, so restic
//     finds the backup before and reads only changed files. A restore
//     makes a new image of the disk's size (rootdev.restore), fills it
//     mounted, and swaps the images by rename. A disk's files are stored
//     with the container's host ids; backups record the base, and a
//     restore moves the owners to its target's block (a backup of a disk
//     restores into a directory container and back, and into a new CTID).

var _ lxcdriver.RootfsStore = (*Driver)(nil)

// mountPoint is where backups (kind "backup") and restores ("restore") of
// container name mount its disk: per lxcpath, the same every time.
func (d *Driver) mountPoint(kind, name string) string {
	sum := sha256.Sum256([]byte(d.lxcpath))
	return filepath.Join("/run/ctpanel", kind, hex.EncodeToString(sum[:4]), name)
}

// diskGuard is the pre-start hook of a container on a disk: while a
// backup holds a mount of the disk (its marker, NAME.held beside the
// mount point, exists), the container does not start, and the hook
// leaves NAME.reboot for the backup to start it once it lets go. A guest
// rebooting during a backup would otherwise have liblxc attach its image
// to a second loop device while the first is still mounted by the backup:
// two filesystems on one file, each writing over the other. Refused, not
// waited for: liblxc answers no command (state, info) for a container
// whose start hook runs. A marker file, not the mount itself: liblxc
// runs a reboot's hook in a mount namespace of its own, copied before the
// backup mounted anything. The hook names the container by LXC_NAME
// (liblxc sets it), so a copied config needs no change.
func (d *Driver) diskGuard() lxcdriver.ConfigItem {
	dir := filepath.Dir(d.mountPoint("backup", "x"))
	script := `n=${LXC_NAME:-$0}; if [ -e "` + dir + `/$n.held" ]; then : >"` + dir + `/$n.reboot"; ` +
		`echo "ctpanel: a backup holds the disk of $n; it is started again when the backup is done" >&2; exit 1; fi`
	return lxcdriver.ConfigItem{Key: "lxc.hook.pre-start", Value: "/bin/sh -c '" + script + "'"}
}

// isMountpoint says whether something is mounted on dir.
func isMountpoint(dir string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	if err := unix.Lstat(filepath.Dir(dir), &parent); err != nil {
		return false, err
	}
	return st.Dev != parent.Dev || st.Ino == parent.Ino, nil
}

// clearMount unmounts what an interrupted backup or restore left mounted
// on dir (a panel killed mid-way: the mount outlives it) and makes dir.
func clearMount(dir string) error {
	for range 4 {
		mounted, err := isMountpoint(dir)
		if err != nil {
			return err
		}
		if !mounted {
			return os.MkdirAll(dir, 0o700)
		}
		if err := unmountBusy(dir); err != nil && err != unix.EINVAL {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
	return fmt.Errorf("%s stays mounted", dir)
}

// releaseMounts lets go of any disk mount a backup or restore of name
// left (before its container is destroyed).
func (d *Driver) releaseMounts(name string) error {
	var errs []error
	for _, kind := range []string{"backup", "restore"} {
		dir := d.mountPoint(kind, name)
		if err := clearMount(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		_ = os.Remove(dir)
		for _, marker := range []string{dir + ".held", dir + ".reboot"} {
			if err := os.Remove(marker); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// dirRootfs is the directory of a directory rootfs, or "" with an error
// for a kind a backup cannot read (an overlay clone).
func dirRootfs(name, spec string) (string, error) {
	kind, p, ok := strings.Cut(spec, ":")
	if !ok {
		kind, p = "dir", spec
	}
	if kind != "dir" || !filepath.IsAbs(p) {
		return "", fmt.Errorf("liblxc: rootfs of %s is %s: only a directory or a disk of its own is backed up (make a full clone of a snapshot clone first): %w", name, kind, lxcdriver.ErrUnsupported)
	}
	return p, nil
}

// OpenRootfs implements lxcdriver.RootfsStore.
func (d *Driver) OpenRootfs(ctx context.Context, name string) (lxcdriver.RootfsView, error) {
	if err := ctx.Err(); err != nil {
		return lxcdriver.RootfsView{}, err
	}
	c, err := d.container("open rootfs", name)
	if err != nil {
		return lxcdriver.RootfsView{}, err
	}
	defer c.Release()
	cfg := c.ConfigFileName()
	spec, err := rootfsSpec(cfg)
	if err != nil {
		return lxcdriver.RootfsView{}, fmt.Errorf("liblxc: rootfs of %s: %w", name, err)
	}
	image := loopImage(spec)
	if image == "" {
		dir, err := dirRootfs(name, spec)
		if err != nil {
			return lxcdriver.RootfsView{}, err
		}
		return lxcdriver.RootfsView{Dir: dir, Release: func() error { return nil }, RebootAsked: func() bool { return false }}, nil
	}
	m, err := configIDMap(cfg)
	if err != nil {
		return lxcdriver.RootfsView{}, fmt.Errorf("liblxc: rootfs of %s: %w", name, err)
	}
	dir := d.mountPoint("backup", name)
	if err := clearMount(dir); err != nil {
		return lxcdriver.RootfsView{}, fmt.Errorf("liblxc: rootfs of %s: %w", name, err)
	}
	// The marker first: no moment with the mount and without it.
	// NAME.reboot is a refused start's (diskGuard).
	held, reboot := dir+".held", dir+".reboot"
	_ = os.Remove(reboot)
	if err := os.WriteFile(held, nil, 0o600); err != nil {
		return lxcdriver.RootfsView{}, fmt.Errorf("liblxc: rootfs of %s: %w", name, err)
	}
	view, err := d.openDisk(ctx, c, name, image, dir)
	if err != nil {
		return lxcdriver.RootfsView{}, errors.Join(err, os.Remove(held))
	}
	view.IDBase = diskBase(true, m)
	unmount := view.Release
	view.Release = func() error {
		if err := unmount(); err != nil {
			return err // the mount stays: so does its marker
		}
		return os.Remove(held)
	}
	view.RebootAsked = func() bool { return os.Remove(reboot) == nil }
	return view, nil
}

// openDisk mounts the disk image of container c on dir, read-only.
func (d *Driver) openDisk(ctx context.Context, c *lxc.Container, name, image, dir string) (lxcdriver.RootfsView, error) {
	view := lxcdriver.RootfsView{Dir: dir}
	if pid := c.InitPid(); pid > 0 {
		dev, err := liveLoop(pid, image)
		if err != nil {
			return lxcdriver.RootfsView{}, fmt.Errorf("liblxc: rootfs of %s: %w", name, err)
		}
		// The device is the container's mounted filesystem: mounting it
		// again gives its superblock, as it is (read-write, which a
		// read-only mount of it would be refused for), then this mount
		// alone is made read-only.
		const flags = unix.MS_NODEV | unix.MS_NOSUID | unix.MS_NOEXEC
		if err := unix.Mount(dev, dir, "ext4", flags, ""); err != nil {
			return lxcdriver.RootfsView{}, fmt.Errorf("liblxc: rootfs of %s: mount %s on %s: %w", name, dev, dir, err)
		}
		if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|flags, ""); err != nil {
			return lxcdriver.RootfsView{}, errors.Join(fmt.Errorf("liblxc: rootfs of %s: read-only %s: %w", name, dir, err), unmountBusy(dir))
		}
		view.Release = func() error { return unmountBusy(dir) }
		return view, nil
	}
	// Stopped: a journal left to replay (a host that died under it) is
	// replayed first; a read-only mount could not.
	if err := waitDetached(ctx, image); err != nil {
		return lxcdriver.RootfsView{}, fmt.Errorf("liblxc: rootfs of %s: %w", name, err)
	}
	if sb, err := readExt4Super(image); err != nil {
		return lxcdriver.RootfsView{}, fmt.Errorf("liblxc: rootfs of %s: %w", name, err)
	} else if sb.needsRecovery {
		if err := fsck(ctx, image); err != nil {
			return lxcdriver.RootfsView{}, fmt.Errorf("liblxc: rootfs of %s: %w", name, err)
		}
	}
	unmount, err := mountImageAt(image, dir, true)
	if err != nil {
		return lxcdriver.RootfsView{}, fmt.Errorf("liblxc: rootfs of %s: %w", name, err)
	}
	view.Release = unmount
	return view, nil
}

// StageRootfs implements lxcdriver.RootfsStore.
func (d *Driver) StageRootfs(ctx context.Context, name string) (lxcdriver.RootfsStage, error) {
	if err := ctx.Err(); err != nil {
		return lxcdriver.RootfsStage{}, err
	}
	c, err := d.container("stage rootfs", name)
	if err != nil {
		return lxcdriver.RootfsStage{}, err
	}
	defer c.Release()
	cfg := c.ConfigFileName()
	spec, err := rootfsSpec(cfg)
	if err != nil {
		return lxcdriver.RootfsStage{}, fmt.Errorf("liblxc: rootfs of %s: %w", name, err)
	}
	m, err := configIDMap(cfg)
	if err != nil {
		return lxcdriver.RootfsStage{}, fmt.Errorf("liblxc: rootfs of %s: %w", name, err)
	}
	size := uint32(1 << 16)
	if m != nil {
		size = m.Size
	}
	image := loopImage(spec)
	if image == "" {
		dir, err := dirRootfs(name, spec)
		if err != nil {
			return lxcdriver.RootfsStage{}, err
		}
		st, err := swapStage(dir, dir+".restore", dir+".old", diskBase(false, m), size)
		if err == nil {
			err = os.Mkdir(st.Dir, 0o755)
		}
		if err != nil {
			return lxcdriver.RootfsStage{}, fmt.Errorf("liblxc: stage rootfs of %s: %w", name, err)
		}
		return st, nil
	}
	mnt := d.mountPoint("restore", name)
	if err := clearMount(mnt); err != nil {
		return lxcdriver.RootfsStage{}, fmt.Errorf("liblxc: stage rootfs of %s: %w", name, err)
	}
	st, err := swapStage(image, image+".restore", image+".old", diskBase(true, m), size)
	if err != nil {
		return lxcdriver.RootfsStage{}, fmt.Errorf("liblxc: stage rootfs of %s: %w", name, err)
	}
	u, err := d.DiskUsage(ctx, name)
	if err != nil {
		return lxcdriver.RootfsStage{}, err
	}
	stageImage := st.Dir
	if err := newImage(ctx, stageImage, u.SizeBytes); err != nil {
		return lxcdriver.RootfsStage{}, errors.Join(fmt.Errorf("liblxc: stage rootfs of %s: %w", name, err), os.Remove(stageImage))
	}
	unmount, err := mountImageAt(stageImage, mnt, false)
	if err != nil {
		return lxcdriver.RootfsStage{}, errors.Join(fmt.Errorf("liblxc: stage rootfs of %s: %w", name, err), os.Remove(stageImage))
	}
	// mkfs's lost+found goes: the restored tree brings its own, or had
	// none.
	_ = os.Remove(filepath.Join(mnt, "lost+found"))
	mounted := true
	let := func() error {
		if !mounted {
			return nil
		}
		mounted = false
		return unmount()
	}
	swap, discard := st.Swap, st.Discard
	st.Dir = mnt
	st.Swap = func(ctx context.Context, fromBase uint32) error {
		if err := shiftTree(ctx, mnt, fromBase, diskBase(true, m), size); err != nil {
			return err
		}
		if err := let(); err != nil {
			return err
		}
		return swap(ctx, fromBase)
	}
	st.Discard = func() error { return errors.Join(let(), discard()) }
	return st, nil
}

// swapStage is the rename dance of a restore, for a directory (path, a
// tree) or a disk (path, an image file): stage is filled, then takes the
// place of path, which is kept as old until Commit or Revert. What an
// interrupted restore left is finished backwards first: the old one is
// whole, the restored one may not be. Swap shifts owners only when the
// stage is a tree (Dir == stage); a disk's caller shifts them mounted.
func swapStage(path, stage, old string, toBase, size uint32) (lxcdriver.RootfsStage, error) {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Lstat(old); err == nil {
			if err := os.Rename(old, path); err != nil {
				return lxcdriver.RootfsStage{}, err
			}
		}
	}
	if err := os.RemoveAll(stage); err != nil {
		return lxcdriver.RootfsStage{}, err
	}
	swapped := false
	st := lxcdriver.RootfsStage{Dir: stage}
	st.Swap = func(ctx context.Context, fromBase uint32) error {
		if fi, err := os.Lstat(stage); err == nil && fi.IsDir() {
			if err := shiftTree(ctx, stage, fromBase, toBase, size); err != nil {
				return err
			}
		}
		if err := os.RemoveAll(old); err != nil {
			return err
		}
		if err := os.Rename(path, old); err != nil {
			return err
		}
		if err := os.Rename(stage, path); err != nil {
			return errors.Join(err, os.Rename(old, path))
		}
		swapped = true
		return nil
	}
	st.Revert = func() error {
		failed := path + ".failed"
		if err := os.RemoveAll(failed); err != nil {
			return err
		}
		if err := errors.Join(os.Rename(path, failed), os.Rename(old, path)); err != nil {
			return err
		}
		return os.RemoveAll(failed)
	}
	st.Commit = func() error { return os.RemoveAll(old) }
	st.Discard = func() error {
		if swapped {
			return nil
		}
		return os.RemoveAll(stage)
	}
	return st, nil
}
