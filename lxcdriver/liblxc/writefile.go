package liblxc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// WriteFile implements lxcdriver.Driver. Missing parent directories are
// created (mode 0755). The path is resolved as if the container's root
// were /, so a symlink planted in the container cannot point the write at
// the host.
//
// A running container is written through /proc/<init>/root; a stopped one
// into its rootfs directory, or, for an overlay snapshot clone, through a
// short-lived overlay mount so the write lands in the clone's own upper
// layer with overlayfs' copy-up rules, never in the origin's rootfs.
func (d *Driver) WriteFile(ctx context.Context, name, p string, data []byte, perm uint32) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("liblxc: write %s in %s: %w", p, name, err)
	}
	if !strings.HasPrefix(p, "/") || slices.Contains(strings.Split(p, "/"), "..") {
		return fmt.Errorf("liblxc: write %q in %s: path must be absolute and free of \"..\"", p, name)
	}
	rel := strings.TrimPrefix(path.Clean(p), "/")
	if rel == "" {
		return fmt.Errorf("liblxc: write %q in %s: not a file path", p, name)
	}
	root, owner, cleanup, err := d.rootOf("write file", name)
	if err != nil {
		return fmt.Errorf("liblxc: write %s in %s: %w", p, name, err)
	}
	defer func() {
		if cerr := cleanup(); cerr != nil && err == nil {
			err = fmt.Errorf("liblxc: write %s in %s: %w", p, name, cerr)
		}
	}()
	if err := writeInRoot(root, rel, data, os.FileMode(perm)&os.ModePerm|unixSpecialBits(perm), owner); err != nil {
		return fmt.Errorf("liblxc: write %s in %s: %w", p, name, err)
	}
	return nil
}

// rootOf returns a directory that is the container's root filesystem as
// the container sees it, the host id that owns files root creates there,
// and how to let go of it (cleanup undoes any mount):
//   - a stopped container's rootfs (a disk or an overlay clone mounted
//     for the while);
//   - a running one's /proc/<init>/root, except for an unprivileged
//     directory rootfs, written in its folder: the container sees it
//     through an idmapped mount on which host root cannot create files.
//
// owner is 0 except on an unprivileged container's disk, whose files are
// stored with the container's host ids (unpriv.go).
func (d *Driver) rootOf(op, name string) (root string, owner uint32, cleanup func() error, err error) {
	c, err := d.container(op, name)
	if err != nil {
		return "", 0, nil, err
	}
	defer c.Release()
	spec, err := rootfsSpec(c.ConfigFileName())
	if err != nil {
		return "", 0, nil, err
	}
	m, err := configIDMap(c.ConfigFileName())
	if err != nil {
		return "", 0, nil, err
	}
	owner = diskBase(loopImage(spec) != "", m)
	if d.state(c) == lxcdriver.StateStopped || (m != nil && loopImage(spec) == "") {
		root, cleanup, err := mountStoppedRootfs(spec)
		return root, owner, cleanup, err
	}
	// Running, frozen (a frozen container's files are writable) or on its
	// way up or down, where /proc tells the truth either way.
	pid := c.InitPid()
	if pid <= 0 {
		return "", 0, nil, fmt.Errorf("container is %s without an init", d.state(c))
	}
	return fmt.Sprintf("/proc/%d/root", pid), owner, func() error { return nil }, nil
}

// ReadFile implements lxcdriver.FileReader: a file inside the container,
// resolved like WriteFile; ErrNotExist wrapped when it is absent.
func (d *Driver) ReadFile(ctx context.Context, name, p string) (data []byte, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(p, "/") || slices.Contains(strings.Split(p, "/"), "..") {
		return nil, fmt.Errorf("liblxc: read %q in %s: path must be absolute and free of \"..\"", p, name)
	}
	root, _, cleanup, err := d.rootOf("read file", name)
	if err != nil {
		return nil, fmt.Errorf("liblxc: read %s in %s: %w", p, name, err)
	}
	defer func() { _ = cleanup() }()
	rootFd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("liblxc: read %s in %s: %w", p, name, err)
	}
	defer unix.Close(rootFd)
	fd, err := openat2(rootFd, strings.TrimPrefix(path.Clean(p), "/"), &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: inRoot})
	if err != nil {
		return nil, fmt.Errorf("liblxc: read %s in %s: %w", p, name, &os.PathError{Op: "open", Path: p, Err: err})
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 16<<20))
}

// unixSpecialBits keeps setuid, setgid and sticky from a numeric mode,
// which os.FileMode spells differently.
func unixSpecialBits(perm uint32) os.FileMode {
	var m os.FileMode
	if perm&unix.S_ISUID != 0 {
		m |= os.ModeSetuid
	}
	if perm&unix.S_ISGID != 0 {
		m |= os.ModeSetgid
	}
	if perm&unix.S_ISVTX != 0 {
		m |= os.ModeSticky
	}
	return m
}

// rootfsSpec reads lxc.rootfs.path from a container's config file. liblxc
// hands the item back without its "dir:" or "overlay:" type, and the type
// is what WriteFile needs.
func rootfsSpec(configFile string) (string, error) {
	b, err := os.ReadFile(configFile)
	if err != nil {
		return "", err
	}
	spec := ""
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(key) == "lxc.rootfs.path" {
			spec = strings.TrimSpace(val)
		}
	}
	if spec == "" {
		return "", fmt.Errorf("no lxc.rootfs.path in %s", configFile)
	}
	return spec, nil
}

// mountStoppedRootfs returns a directory showing a stopped container's
// root filesystem as it will look when it runs, and how to let go of it.
func mountStoppedRootfs(rootfs string) (string, func() error, error) {
	noop := func() error { return nil }
	kind, spec, ok := strings.Cut(rootfs, ":")
	if !ok {
		kind, spec = "dir", rootfs
	}
	switch kind {
	case "dir":
		if spec == "" {
			return "", nil, errors.New("no lxc.rootfs.path")
		}
		return spec, noop, nil
	case "loop":
		// A disk (disk.go): mounted for the while, as liblxc would.
		return mountImage(spec, false)
	case "overlay", "overlayfs":
	default:
		return "", nil, fmt.Errorf("rootfs %q: only dir, loop and overlay are supported", rootfs)
	}

	// overlay:LOWER[:LOWER...]:UPPER, with liblxc's work dir next to UPPER.
	parts := strings.Split(spec, ":")
	if len(parts) < 2 {
		return "", nil, fmt.Errorf("rootfs %q: want overlay:LOWER:UPPER", rootfs)
	}
	upper := parts[len(parts)-1]
	lower := strings.Join(parts[:len(parts)-1], ":")
	work := filepath.Join(filepath.Dir(upper), "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", nil, err
	}
	mnt, err := os.MkdirTemp("", "ctpanel-overlay-")
	if err != nil {
		return "", nil, err
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := unix.Mount("overlay", mnt, "overlay", 0, opts); err != nil {
		_ = os.Remove(mnt)
		return "", nil, fmt.Errorf("mount overlay %s: %w", opts, err)
	}
	cleanup := func() error {
		if err := unmountBusy(mnt); err != nil {
			return fmt.Errorf("unmount %s: %w", mnt, err)
		}
		return os.Remove(mnt)
	}
	return mnt, cleanup, nil
}

// inRoot resolves like a chroot: "..", absolute symlinks and /proc magic
// links cannot leave root.
const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// openat2 retries the EAGAIN that RESOLVE_IN_ROOT gives when a rename
// raced the lookup.
func openat2(dirfd int, rel string, how *unix.OpenHow) (int, error) {
	for range 16 {
		fd, err := unix.Openat2(dirfd, rel, how)
		if err != unix.EAGAIN && err != unix.EINTR {
			return fd, err
		}
	}
	return -1, unix.EAGAIN
}

// writeInRoot writes rel (relative, clean) below root; with owner > 0 the
// file and the folders it makes are given to that host id.
func writeInRoot(root, rel string, data []byte, perm os.FileMode, owner uint32) error {
	rootFd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open root %s: %w", root, err)
	}
	defer unix.Close(rootFd)
	if err := mkdirAllIn(rootFd, path.Dir(rel), owner); err != nil {
		return err
	}
	fd, err := openat2(rootFd, rel, &unix.OpenHow{
		Flags:   unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC | unix.O_CLOEXEC,
		Mode:    uint64(perm.Perm()),
		Resolve: inRoot,
	})
	if err != nil {
		return fmt.Errorf("open %s: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), rel)
	if owner > 0 {
		if err := f.Chown(int(owner), int(owner)); err != nil {
			_ = f.Close()
			return err
		}
	}
	// O_CREAT's mode is cut by the umask and ignored for an existing file
	// (and chown clears setuid).
	if err := f.Chmod(perm); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// mkdirAllIn is os.MkdirAll for dir (relative, clean) below rootFd.
func mkdirAllIn(rootFd int, dir string, owner uint32) error {
	if dir == "." {
		return nil
	}
	dirHow := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: inRoot}
	if fd, err := openat2(rootFd, dir, dirHow); err == nil {
		return unix.Close(fd)
	}
	parts := strings.Split(dir, "/")
	for i := range parts {
		parent := "."
		if i > 0 {
			parent = strings.Join(parts[:i], "/")
		}
		pfd, err := openat2(rootFd, parent, dirHow)
		if err != nil {
			return fmt.Errorf("open %s: %w", parent, err)
		}
		// parts[i] has no slash, so mkdirat cannot be led out of the
		// parent we just resolved safely.
		err = unix.Mkdirat(pfd, parts[i], 0o755)
		if err == nil && owner > 0 {
			err = unix.Fchownat(pfd, parts[i], int(owner), int(owner), unix.AT_SYMLINK_NOFOLLOW)
		}
		unix.Close(pfd)
		if err != nil && err != unix.EEXIST {
			return fmt.Errorf("mkdir %s: %w", strings.Join(parts[:i+1], "/"), err)
		}
	}
	return nil
}

// unmountBusy unmounts a short-lived mount of ours. A process forked
// meanwhile (a container starting, a copy tool) may hold it for a moment:
// after a few tries the mount is detached lazily; nothing else uses it.
func unmountBusy(mnt string) error {
	var err error
	for range 20 {
		if err = unix.Unmount(mnt, 0); err != unix.EBUSY {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return unix.Unmount(mnt, unix.MNT_DETACH)
}
