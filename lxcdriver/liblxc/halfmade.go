package liblxc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	lxc "github.com/lxc/go-lxc"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// A folder in the lxcpath without a config file is a container a create
// was building when the panel died (the config is written last but one;
// see Create): liblxc does not list it, State says ErrNotFound, and a new
// create of that name would refuse to build over it. Destroy and
// HalfMade let the panel find and remove such folders: the loop disk a
// create had mounted to fill is unmounted (its loop device goes with it),
// then the folder is removed.

// HalfMade lists the folders of the lxcpath that liblxc does not list as
// containers (no config file), other than the driver's own dot-files.
func (d *Driver) HalfMade(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(d.lxcpath)
	if err != nil {
		return nil, fmt.Errorf("liblxc: list %s: %w", d.lxcpath, err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if _, err := os.Lstat(filepath.Join(d.lxcpath, e.Name(), "config")); errors.Is(err, os.ErrNotExist) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// purgeHalfMade removes the folder of a half-made container (one without
// a config file); ErrNotFound when there is no folder at all.
func (d *Driver) purgeHalfMade(name string) error {
	if name == "" || strings.ContainsAny(name, "/") || strings.HasPrefix(name, ".") {
		return fmt.Errorf("liblxc: %q is not a container name: %w", name, lxcdriver.ErrNotFound)
	}
	dir := filepath.Join(d.lxcpath, name)
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("liblxc: %s: %w", name, lxcdriver.ErrNotFound)
	}
	if fileExists(filepath.Join(dir, "config")) {
		return fmt.Errorf("liblxc: %s has a config: not half-made", name)
	}
	if err := unmountLoopsUnder(dir); err != nil {
		return fmt.Errorf("liblxc: clean up half-made %s: %w", name, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("liblxc: clean up half-made %s: %w", name, err)
	}
	return nil
}

// unmountLoopsUnder detaches every mount of a loop device whose backing
// file is under dir (a disk a create was filling), and removes the
// panel's temporary mount point.
func unmountLoopsUnder(dir string) error {
	devs, err := loopDevicesUnder(dir)
	if err != nil || len(devs) == 0 {
		return err
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range devs {
		dev, _, _ := strings.Cut(d, ": ")
		sc := bufio.NewScanner(bytes.NewReader(mi))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			i := slices.Index(f, "-")
			if i < 0 || i+2 >= len(f) || f[i+2] != dev {
				continue
			}
			target := f[4]
			if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", target, err))
				continue
			}
			if strings.HasPrefix(filepath.Base(target), "ctpanel-disk-") {
				_ = os.Remove(target)
			}
		}
	}
	return errors.Join(errs...)
}

// monitorAlive says whether a liblxc monitor ("[lxc monitor] LXCPATH
// NAME") runs for the container.
func (d *Driver) monitorAlive(name string) bool {
	want := "[lxc monitor] " + d.lxcpath + " " + name
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.HasPrefix(b, []byte("[lxc monitor]")) {
			continue
		}
		if strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ") == want {
			return true
		}
	}
	return false
}

// waitNoMonitor waits (up to 10 s) until the container, which liblxc
// reports stopped, has no monitor either; ErrRunning if it turns out to
// be starting or running.
func (d *Driver) waitNoMonitor(ctx context.Context, c interface{ State() lxc.State }, name string) error {
	deadline := time.Now().Add(10 * time.Second)
	for d.monitorAlive(name) {
		if st := c.State(); st != lxc.STOPPED {
			return lxcdriver.ErrRunning
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("its monitor is still running 10 s after liblxc reported it stopped: %w", lxcdriver.ErrRunning)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
