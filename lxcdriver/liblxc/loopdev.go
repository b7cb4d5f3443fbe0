package liblxc

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Loop devices, attached and found the way liblxc and losetup do, with
// ioctls rather than util-linux so the driver needs nothing but the
// kernel's loop driver (/dev/loop-control) for them.

// attachLoop binds image to a free loop device with autoclear: the device
// lets go of the image by itself once the last user (the mount) is gone.
// The caller closes the returned device after mounting it (or to give up).
func attachLoop(image string, readOnly bool) (*os.File, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("loop: %w", err)
	}
	defer ctl.Close()
	mode, flags := os.O_RDWR, uint32(unix.LO_FLAGS_AUTOCLEAR)
	if readOnly {
		mode, flags = os.O_RDONLY, flags|unix.LO_FLAGS_READ_ONLY
	}
	back, err := os.OpenFile(image, mode|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("loop: %w", err)
	}
	defer back.Close()
	// Another process may take the free device between our asking and
	// our configuring it (EBUSY); ask again.
	for range 64 {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("loop: get a free device: %w", err)
		}
		dev, err := os.OpenFile(fmt.Sprintf("/dev/loop%d", n), mode|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("loop: %w", err)
		}
		cfg := unix.LoopConfig{Fd: uint32(back.Fd())}
		cfg.Info.Flags = flags
		copy(cfg.Info.File_name[:unix.LO_NAME_SIZE-1], image)
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if err == nil {
			return dev, nil
		}
		dev.Close()
		if err != unix.EBUSY {
			return nil, fmt.Errorf("loop: attach %s to %s: %w", image, dev.Name(), err)
		}
	}
	return nil, fmt.Errorf("loop: attach %s: every free device was taken before we could use it", image)
}

// mountImage mounts the ext4 filesystem in image on a fresh directory
// through an autoclear loop device. cleanup unmounts it and waits for the
// loop device to let go of the image.
//
// The image must not be mounted anywhere else: two loop devices on one
// file are two filesystems to the kernel, each writing over the other.
// So a loop device still on it (a container that just stopped) is waited
// for, and one that stays is an error.
func mountImage(image string, readOnly bool) (dir string, cleanup func() error, err error) {
	dir, err = os.MkdirTemp("", "ctpanel-disk-")
	if err != nil {
		return "", nil, err
	}
	unmount, err := mountImageAt(image, dir, readOnly)
	if err != nil {
		_ = os.Remove(dir)
		return "", nil, err
	}
	cleanup = func() error {
		if err := unmount(); err != nil {
			return err
		}
		_ = os.Remove(dir)
		return nil
	}
	return dir, cleanup, nil
}

// mountImageAt is mountImage on the directory dir, which stays.
func mountImageAt(image, dir string, readOnly bool) (unmount func() error, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitDetached(ctx, image); err != nil {
		return nil, err
	}
	dev, err := attachLoop(image, readOnly)
	if err != nil {
		return nil, err
	}
	// Our descriptor goes either way: the mount holds the device from
	// here on, and without a mount autoclear detaches it.
	defer dev.Close()
	var flags uintptr = unix.MS_NODEV | unix.MS_NOSUID
	if readOnly {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount(dev.Name(), dir, "ext4", flags, ""); err != nil {
		return nil, fmt.Errorf("mount %s (%s) on %s: %w", image, dev.Name(), dir, err)
	}
	unmount = func() error {
		if err := unmountBusy(dir); err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return waitDetached(ctx, image)
	}
	return unmount, nil
}

// loopBacking maps attached loop devices (/dev/loopN) to their backing
// files, as the kernel names them (real paths; " (deleted)" appended once
// the file is unlinked).
func loopBacking() (map[string]string, error) {
	devs, err := filepath.Glob("/sys/block/loop*/loop/backing_file")
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(devs))
	for _, p := range devs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // detached while we looked
		}
		name := filepath.Base(filepath.Dir(filepath.Dir(p)))
		m["/dev/"+name] = strings.TrimSuffix(string(b), "\n")
	}
	return m, nil
}

// loopDevicesUnder lists attached loop devices whose backing file is
// under dir, as "/dev/loopN: /path/file".
func loopDevicesUnder(dir string) ([]string, error) {
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	m, err := loopBacking()
	if err != nil {
		return nil, err
	}
	var out []string
	for dev, file := range m {
		if file == dir || strings.HasPrefix(file, dir+"/") {
			out = append(out, dev+": "+file)
		}
	}
	return out, nil
}

// attachedTo lists the loop devices backed by image.
func attachedTo(image string) ([]string, error) {
	real, err := filepath.EvalSymlinks(image)
	if err != nil {
		return nil, err
	}
	m, err := loopBacking()
	if err != nil {
		return nil, err
	}
	var devs []string
	for dev, file := range m {
		if file == real {
			devs = append(devs, dev)
		}
	}
	return devs, nil
}

// waitDetached waits until no loop device is backed by image. A stopped
// container's loop device goes away shortly after its last process: the
// kernel unmounts the filesystem when the mount namespace dies, and the
// last write of its superblock must not race an offline resize.
func waitDetached(ctx context.Context, image string) error {
	delay := time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	for {
		devs, err := attachedTo(image)
		if err != nil || len(devs) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is still attached to %s", image, strings.Join(devs, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// rootMount finds the device of the filesystem mounted on / in the mount
// namespace of pid, as "major:minor".
func rootMount(pid int) (string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return "", err
	}
	defer f.Close()
	dev := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ... - type source
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && fields[4] == "/" {
			dev = fields[2] // the last one mounted on / is what / is
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if dev == "" {
		return "", fmt.Errorf("nothing mounted on / in /proc/%d/mountinfo", pid)
	}
	return dev, nil
}

// liveLoop returns the loop device (/dev/loopN) the running container of
// init pid has mounted as its root, after checking it is backed by image.
func liveLoop(pid int, image string) (string, error) {
	majmin, err := rootMount(pid)
	if err != nil {
		return "", err
	}
	sys := "/sys/dev/block/" + majmin
	b, err := os.ReadFile(sys + "/loop/backing_file")
	if err != nil {
		return "", fmt.Errorf("the container's root (device %s) is not a loop device: %w", majmin, err)
	}
	real, err := filepath.EvalSymlinks(image)
	if err != nil {
		return "", err
	}
	if got := strings.TrimSuffix(string(b), "\n"); got != real {
		return "", fmt.Errorf("the container's root is a loop device on %s, not on %s", got, real)
	}
	link, err := os.Readlink(sys)
	if err != nil {
		return "", err
	}
	return "/dev/" + filepath.Base(link), nil
}

// setLoopCapacity makes a loop device take on its backing file's new size.
func setLoopCapacity(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.IoctlSetInt(int(f.Fd()), unix.LOOP_SET_CAPACITY, 0); err != nil {
		return fmt.Errorf("set capacity of %s: %w", dev, err)
	}
	return nil
}

// ext4IOCResizeFS is EXT4_IOC_RESIZE_FS, _IOW('f', 16, __u64): the online
// resize resize2fs uses on a mounted ext4 filesystem.
const ext4IOCResizeFS = 0x40086610

// resizeMounted grows the mounted ext4 filesystem holding dir to blocks.
// It is the ioctl rather than resize2fs because the container's root is
// mounted only in the container's mount namespace, where resize2fs would
// not see it mounted and would resize it as if it were not.
func resizeMounted(dir string, blocks uint64) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	n := blocks
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ext4IOCResizeFS, uintptr(unsafe.Pointer(&n))); errno != 0 {
		return fmt.Errorf("online resize to %d blocks: %w", blocks, errno)
	}
	return nil
}

// statfsUsage is statfs of a mounted filesystem as a DiskUsage.
func statfsUsage(dir string) (size, used, inodes, inodesUsed uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, 0, 0, err
	}
	bs := uint64(st.Bsize)
	size = st.Blocks * bs
	used = (st.Blocks - min(st.Bfree, st.Blocks)) * bs
	return size, used, st.Files, st.Files - min(st.Ffree, st.Files), nil
}
