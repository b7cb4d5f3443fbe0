// Package liblxc implements lxcdriver.Driver on liblxc through go-lxc. It is
// the only package in ctpanel that imports go-lxc.
//
// Every call opens a fresh liblxc container object and releases it before
// returning, so nothing liblxc caches (config, state) outlives a call and
// other tools (lxc-* commands) may work on the same lxcpath.
//
// liblxc operations that fork (start, create from a template, clone,
// attach) run liblxc's own lxc-* tools as subprocesses instead of going
// through go-lxc; tools.go says why.
//
// The tests start real containers in private lxcpaths: they need root,
// liblxc with its busybox template and tools (lxc-start, lxc-create,
// lxc-copy, lxc-attach), busybox-static, tar and rsync, and fail rather
// than skip without them (go test -short skips).
package liblxc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	lxc "github.com/lxc/go-lxc"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/cgroups"
)

// Driver drives the containers of one lxcpath.
type Driver struct {
	lxcpath  string
	lxcStart string // path of lxc-start, which Start runs
	layout   cgroups.Layout
	handles  *handleCache  // for Beancounters
	sysinfo  *sysinfoProxy // answers containers' sysinfo(2)
}

var _ lxcdriver.Driver = (*Driver)(nil)

// New returns a Driver for lxcpath, creating the directory if it is
// missing. An empty lxcpath means liblxc's default (lxc.lxcpath, usually
// /var/lib/lxc). liblxc's tools lxc-start, lxc-create, lxc-copy and
// lxc-attach must be on PATH (see tools.go).
func New(lxcpath string) (*Driver, error) {
	if lxcpath == "" {
		lxcpath = lxc.DefaultConfigPath()
	}
	abs, err := filepath.Abs(lxcpath)
	if err != nil {
		return nil, fmt.Errorf("liblxc: lxcpath %s: %w", lxcpath, err)
	}
	lxcStart, err := exec.LookPath("lxc-start")
	if err != nil {
		return nil, fmt.Errorf("liblxc: lxc-start (Debian package lxc) is needed to start containers: %w", err)
	}
	for _, tool := range []string{"lxc-create", "lxc-copy", "lxc-attach"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("liblxc: %s (Debian package lxc) is needed: %w", tool, err)
		}
	}
	if err := os.MkdirAll(abs, 0o711); err != nil {
		return nil, fmt.Errorf("liblxc: create lxcpath: %w", err)
	}
	// Nobody but root lists or reads it. An unprivileged container's
	// root must still pass through it: liblxc checks that its child, in
	// the container's user namespace, can (access(lxcpath, X_OK)), so
	// it is 0711; each container's own folder is 0700.
	if err := os.Chmod(abs, 0o711); err != nil {
		return nil, fmt.Errorf("liblxc: lxcpath mode: %w", err)
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("liblxc: lxcpath %s: %w", abs, err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return nil, fmt.Errorf("liblxc: lxcpath %s: %s is mode %04o: unprivileged containers' root must pass through every folder above the lxcpath (chmod o+x %s)", abs, dir, fi.Mode().Perm(), dir)
		}
		if dir == "/" {
			break
		}
	}
	d := &Driver{lxcpath: abs, lxcStart: lxcStart, layout: cgroups.HostLayout(), handles: newHandleCache()}
	d.sysinfo = newSysinfoProxy(abs)
	// Served from the start, not only at the first Start: running
	// containers' monitors reconnect to a proxy that had died.
	// A panel that died between a start and its settle left a policy
	// with the notify rule for attaches to read.
	leftover, _ := filepath.Glob(filepath.Join(abs, "*", startProfile))
	for _, f := range leftover {
		if err := settle(filepath.Dir(f)); err != nil {
			slog.Warn("liblxc: rewrite a start seccomp policy", "file", f, "error", err)
		}
	}
	if SysinfoInterceptEnabled() {
		if err := d.sysinfo.ensure(); err != nil {
			slog.Warn("liblxc: sysinfo proxy unavailable; containers' sysinfo(2) shows the host's figures", "error", err)
		}
	}
	return d, nil
}

// LXCPath returns the directory holding the driver's containers.
func (d *Driver) LXCPath() string { return d.lxcpath }

// container opens a defined container; the caller releases it.
func (d *Driver) container(op, name string) (*lxc.Container, error) {
	// A container without a config file is not defined; asking liblxc
	// anyway would have it print "Failed to load config" on our stderr
	// (the console's watcher asks while a container is being destroyed).
	if _, err := os.Stat(filepath.Join(d.lxcpath, name, "config")); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("liblxc: %s %s: %w", op, name, lxcdriver.ErrNotFound)
	}
	c, err := lxc.NewContainer(name, d.lxcpath)
	if err != nil {
		return nil, fmt.Errorf("liblxc: %s %s: %w", op, name, err)
	}
	if !c.Defined() {
		c.Release()
		return nil, fmt.Errorf("liblxc: %s %s: %w", op, name, lxcdriver.ErrNotFound)
	}
	return c, nil
}

// state is liblxc's state, corrected by the freezer cgroup: Freeze drives
// the cgroup directly, and on cgroup2 liblxc's monitor is not told.
func (d *Driver) state(c *lxc.Container) lxcdriver.State {
	s := lxcdriver.State(strings.ToLower(c.State().String()))
	switch s {
	case lxcdriver.StateRunning, lxcdriver.StateFrozen, lxcdriver.StateFreezing, lxcdriver.StateThawed:
		if f, err := d.freezerOf(c.InitPid()); err == nil {
			if fs, err := f.state(); err == nil {
				return fs
			}
		}
		if s == lxcdriver.StateThawed {
			return lxcdriver.StateRunning
		}
	case "":
		// go-lxc has no name for a state it failed to read; the
		// container went away under us.
		return lxcdriver.StateStopped
	}
	return s
}

// waitState polls until c reaches want or ctx or deadline (if not zero)
// runs out; reached says which.
//
// Most starts and stops settle within tens of milliseconds, so the first
// 50 ms are polled every millisecond (a state read is one round trip to
// the container's monitor); only then does the wait back off.
func (d *Driver) waitState(ctx context.Context, c *lxc.Container, want lxcdriver.State, deadline time.Time) (reached bool, err error) {
	delay, began := time.Millisecond, time.Now()
	for {
		if d.state(c) == want {
			return true, nil
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(delay)
		if time.Since(began) > 50*time.Millisecond {
			delay = min(2*delay, 50*time.Millisecond)
		}
	}
}

// Create implements lxcdriver.Driver.
func (d *Driver) Create(ctx context.Context, name string, opts lxcdriver.CreateOptions) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("liblxc: create %s: %w", name, err)
	}
	if (opts.Template == "") == (opts.RootfsTarball == "") {
		return fmt.Errorf("liblxc: create %s: exactly one of template and rootfs tarball must be set", name)
	}
	if opts.IDMap != nil {
		if err := opts.IDMap.Validate(); err != nil {
			return fmt.Errorf("liblxc: create %s: %w", name, err)
		}
	}
	if opts.Disk != nil {
		if err := opts.Disk.Validate(); err != nil {
			return fmt.Errorf("liblxc: create %s: %w", name, err)
		}
		if err := checkDiskTools(); err != nil {
			return fmt.Errorf("liblxc: create %s: %w", name, err)
		}
	}
	c, err := lxc.NewContainer(name, d.lxcpath)
	if err != nil {
		return fmt.Errorf("liblxc: create %s: %w", name, err)
	}
	defer c.Release()
	if c.Defined() {
		return fmt.Errorf("liblxc: create %s: %w", name, lxcdriver.ErrExists)
	}
	dir := filepath.Join(d.lxcpath, name)
	if _, err := os.Lstat(dir); err == nil {
		// Not ours to clean up, and liblxc would build on top of it.
		return fmt.Errorf("liblxc: create %s: %s exists without a container config, remove it first: %w", name, dir, lxcdriver.ErrExists)
	}
	defer func() {
		if err != nil {
			err = d.discard(name, err)
		}
	}()

	var fill func(ctx context.Context, root string) error
	var extra []lxcdriver.ConfigItem
	if opts.Template != "" {
		if opts.Template != "busybox" {
			return fmt.Errorf("liblxc: create %s: template %q: ctpanel builds only its own busybox template; other systems come as rootfs tarballs: %w", name, opts.Template, lxcdriver.ErrUnsupported)
		}
		fill, extra = buildBusybox, busyboxConfig
	} else {
		fi, err := os.Stat(opts.RootfsTarball)
		if err != nil {
			return fmt.Errorf("liblxc: create %s from %s: %w", name, opts.RootfsTarball, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("liblxc: create %s: %s is not a regular file", name, opts.RootfsTarball)
		}
		fill = func(ctx context.Context, root string) error {
			if _, err := unpackRootfs(ctx, opts.RootfsTarball, root); err != nil {
				return fmt.Errorf("unpack %s: %w", opts.RootfsTarball, err)
			}
			return nil
		}
	}
	if err := d.createRootfs(ctx, c, name, dir, fill, opts.Disk, opts.IDMap, extra); err != nil {
		return fmt.Errorf("liblxc: create %s: %w", name, err)
	}

	// /etc/lxc/default.conf hands every new container a veth on lxcbr0;
	// ctpanel sets networking itself through opts.Config.
	if err := c.ClearConfigItem("lxc.net"); err != nil {
		return fmt.Errorf("liblxc: create %s: clear lxc.net: %w", name, err)
	}
	if err := setConfig(c, opts.Config); err != nil {
		return fmt.Errorf("liblxc: create %s: %w", name, err)
	}
	return nil
}

// createRootfs makes a container's folder (0700), its root filesystem
// filled by fill (a directory, or with disk an ext4 loop disk of its own)
// and its config: liblxc's defaults, common.conf, and with m what makes it
// unprivileged (unpriv.go), then extra.
func (d *Driver) createRootfs(ctx context.Context, c *lxc.Container, name, dir string, fill func(context.Context, string) error,
	disk *lxcdriver.DiskOptions, m *lxcdriver.IDMap, extra []lxcdriver.ConfigItem) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return err
	}
	rootfsPath := "dir:" + rootfs
	if disk != nil {
		image, err := makeDisk(ctx, dir, disk.SizeBytes, fill, m)
		if err != nil {
			return err
		}
		rootfsPath = "loop:" + image
	} else if err := fill(ctx, rootfs); err != nil {
		return err
	}

	if def := lxc.GlobalConfigItem("lxc.default_config"); def != "" && fileExists(def) {
		if err := c.LoadConfigFile(def); err != nil {
			return fmt.Errorf("load %s: %w", def, err)
		}
	}
	items := []lxcdriver.ConfigItem{}
	if fileExists(commonConf) {
		items = append(items, lxcdriver.ConfigItem{Key: "lxc.include", Value: commonConf})
	}
	// One tty besides the console (tty 0, which the panel's console
	// attaches to; the images run one getty on tty1). common.conf's four
	// would take five ptys a container from the 3072 the kernel lets all
	// containers' devpts instances have together (pty.max - pty.reserve):
	// a host would stop starting containers at about 600.
	items = append(items, lxcdriver.ConfigItem{Key: "lxc.tty.max", Value: "1"})
	if arch := lxcArch[runtime.GOARCH]; arch != "" {
		items = append(items, lxcdriver.ConfigItem{Key: "lxc.arch", Value: arch})
	}
	items = append(items,
		lxcdriver.ConfigItem{Key: "lxc.rootfs.path", Value: rootfsPath},
		lxcdriver.ConfigItem{Key: "lxc.uts.name", Value: name},
	)
	if m != nil {
		items = append(items, unprivItems(*m, disk == nil)...)
	}
	if disk != nil {
		items = append(items, d.diskGuard())
	}
	items = append(items, extra...)
	for _, it := range items {
		if err := c.SetConfigItem(it.Key, it.Value); err != nil {
			return fmt.Errorf("set %s = %q: %w", it.Key, it.Value, err)
		}
	}
	return c.SaveConfigFile(filepath.Join(dir, "config"))
}

// commonConf is what liblxc's distribution templates include.
const commonConf = "/usr/share/lxc/config/common.conf"

// lxcArch maps GOARCH to lxc.arch for a tarball's config, which has no
// template to say it.
var lxcArch = map[string]string{
	"amd64":   "amd64",
	"386":     "i386",
	"arm64":   "arm64",
	"arm":     "armhf",
	"ppc64le": "ppc64el",
	"s390x":   "s390x",
}

// discard removes a half-made container after cause made Create or Clone
// fail. The caller has checked that its directory did not exist before.
func (d *Driver) discard(name string, cause error) error {
	var errs []error
	if m, _ := configIDMap(filepath.Join(d.lxcpath, name, "config")); m != nil {
		// Unprivileged: nothing liblxc keeps elsewhere (removeUnpriv).
	} else if c, err := lxc.NewContainer(name, d.lxcpath); err == nil {
		if c.Defined() {
			// Through liblxc so an overlay clone is also dropped from
			// its origin's list of snapshot clones.
			if err := c.Destroy(); err != nil {
				errs = append(errs, err)
			}
		}
		c.Release()
	}
	if err := os.RemoveAll(filepath.Join(d.lxcpath, name)); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return cause
	}
	return errors.Join(cause, fmt.Errorf("liblxc: clean up %s: %w", name, errors.Join(errs...)))
}

// setConfig sets items in order and saves the config file.
func setConfig(c *lxc.Container, items []lxcdriver.ConfigItem) error {
	for _, it := range items {
		if err := c.SetConfigItem(it.Key, it.Value); err != nil {
			return fmt.Errorf("set %s = %q: %w", it.Key, it.Value, err)
		}
	}
	if err := c.SaveConfigFile(c.ConfigFileName()); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

// Clone implements lxcdriver.Driver.
func (d *Driver) Clone(ctx context.Context, src, dst string, opts lxcdriver.CloneOptions) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("liblxc: clone %s to %s: %w", src, dst, err)
	}
	c, err := d.container("clone", src)
	if err != nil {
		return err
	}
	defer c.Release()
	if s := d.state(c); s != lxcdriver.StateStopped {
		return fmt.Errorf("liblxc: clone %s to %s: %w", src, dst, lxcdriver.ErrRunning)
	}
	n, err := lxc.NewContainer(dst, d.lxcpath)
	if err != nil {
		return fmt.Errorf("liblxc: clone %s to %s: %w", src, dst, err)
	}
	defined := n.Defined()
	n.Release()
	dir := filepath.Join(d.lxcpath, dst)
	if _, err := os.Lstat(dir); defined || err == nil {
		return fmt.Errorf("liblxc: clone %s to %s: %w", src, dst, lxcdriver.ErrExists)
	}
	srcMap, err := configIDMap(c.ConfigFileName())
	if err != nil {
		return fmt.Errorf("liblxc: clone %s to %s: %w", src, dst, err)
	}
	if opts.IDMap != nil {
		if err := opts.IDMap.Validate(); err != nil {
			return fmt.Errorf("liblxc: clone %s to %s: %w", src, dst, err)
		}
	}
	if opts.Snapshot && (srcMap != nil || opts.IDMap != nil) {
		return fmt.Errorf("liblxc: clone %s to %s: a snapshot clone of or as an unprivileged container: an overlayfs mount cannot be idmapped, make a full clone: %w", src, dst, lxcdriver.ErrUnsupported)
	}
	disk, err := planCloneDisk(c, opts)
	if err != nil {
		return fmt.Errorf("liblxc: clone %s to %s: %w", src, dst, err)
	}
	defer func() {
		if err != nil {
			err = d.discard(dst, err)
		}
	}()

	if srcMap != nil || opts.IDMap != nil {
		if err := d.copyClone(ctx, c, dst, disk, srcMap, opts.IDMap); err != nil {
			return fmt.Errorf("liblxc: clone %s to %s: %w", src, dst, err)
		}
	} else if disk != nil {
		if err := d.cloneOntoDisk(ctx, src, dst, disk); err != nil {
			return fmt.Errorf("liblxc: clone %s to %s: %w", src, dst, err)
		}
	} else {
		// lxc-copy, not go-lxc's Clone: liblxc's clone forks a child
		// that can hang in this process (see tools.go). A directory
		// copy, or an overlay snapshot.
		args := []string{"-P", d.lxcpath, "-n", src, "-N", dst, "-B", "dir"}
		if opts.Snapshot {
			args = []string{"-P", d.lxcpath, "-n", src, "-N", dst, "-s", "-B", "overlayfs"}
		}
		if _, err := runLXCTool(ctx, "lxc-copy", args...); err != nil {
			return fmt.Errorf("liblxc: clone %s to %s: %w", src, dst, err)
		}
	}
	n, err = d.container("clone", dst)
	if err != nil {
		return err
	}
	defer n.Release()
	if err := setConfig(n, opts.Config); err != nil {
		return fmt.Errorf("liblxc: clone %s to %s: %w", src, dst, err)
	}
	return nil
}

// Destroy implements lxcdriver.Driver.
func (d *Driver) Destroy(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("liblxc: destroy %s: %w", name, err)
	}
	c, err := d.container("destroy", name)
	if errors.Is(err, lxcdriver.ErrNotFound) {
		// Not a container, but maybe a folder a create left half-made.
		return d.purgeHalfMade(name)
	}
	if err != nil {
		return err
	}
	defer c.Release()
	d.handles.drop(name, nil)
	if s := d.state(c); s != lxcdriver.StateStopped {
		return fmt.Errorf("liblxc: destroy %s: %w", name, lxcdriver.ErrRunning)
	}
	// liblxc says STOPPED when it cannot reach the container's monitor,
	// as while a start another process began (a panel killed meanwhile)
	// is still setting up: a monitor alive means it is not stopped.
	if err := d.waitNoMonitor(ctx, c, name); err != nil {
		return fmt.Errorf("liblxc: destroy %s: %w", name, err)
	}
	if err := d.releaseMounts(name); err != nil {
		return fmt.Errorf("liblxc: destroy %s: %w", name, err)
	}
	if m, err := configIDMap(c.ConfigFileName()); err != nil {
		return fmt.Errorf("liblxc: destroy %s: %w", name, err)
	} else if m != nil {
		// liblxc's destroy of a container with an id map removes its
		// folder from a child it forks into a user namespace, from this
		// multi-threaded process (see tools.go). ctpanel's unprivileged
		// containers keep nothing outside their folder (no overlay
		// origin, no hooks), so removing the folder is the whole job.
		if err := os.RemoveAll(filepath.Join(d.lxcpath, name)); err != nil {
			return fmt.Errorf("liblxc: destroy %s: %w", name, err)
		}
		return nil
	}
	if err := c.Destroy(); err != nil {
		if n := snapshotClones(filepath.Join(d.lxcpath, name)); n > 0 {
			return fmt.Errorf("liblxc: destroy %s: it has %d snapshot clone(s): %w", name, n, err)
		}
		return fmt.Errorf("liblxc: destroy %s: %w", name, err)
	}
	return nil
}

// snapshotClones counts the overlay clones liblxc has recorded against a
// container (lxc_snapshots holds an lxcpath line and a name line each).
func snapshotClones(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "lxc_snapshots"))
	if err != nil {
		return 0
	}
	return len(strings.Fields(string(b))) / 2
}

// State implements lxcdriver.Driver.
func (d *Driver) State(ctx context.Context, name string) (lxcdriver.State, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("liblxc: state %s: %w", name, err)
	}
	c, err := d.container("state", name)
	if err != nil {
		return "", err
	}
	defer c.Release()
	return d.state(c), nil
}

// Info implements lxcdriver.Driver. Task count and addresses are best
// effort: a container that stops while we look simply has none.
func (d *Driver) Info(ctx context.Context, name string) (lxcdriver.Info, error) {
	if err := ctx.Err(); err != nil {
		return lxcdriver.Info{}, fmt.Errorf("liblxc: info %s: %w", name, err)
	}
	c, err := d.container("info", name)
	if err != nil {
		return lxcdriver.Info{}, err
	}
	defer c.Release()
	info := lxcdriver.Info{Name: name, State: d.state(c)}
	if info.State == lxcdriver.StateStopped {
		return info, nil
	}
	pid := c.InitPid()
	if pid <= 0 {
		return info, nil
	}
	info.InitPID = pid
	if n, err := d.taskCount(pid); err == nil {
		info.NProc = n
	}
	// Not go-lxc's IPv4Addresses and IPv6Addresses: liblxc forks into
	// the container's network namespace for them (see tools.go).
	if !hasOwnNetwork(c.ConfigItem("lxc.net")) {
		return info, nil
	}
	// Errors here mostly mean "no network namespace to look into": the
	// container stopped while we looked.
	if v4, v6, err := netnsAddrs(pid); err == nil {
		info.IPv4 = withoutLoopback(v4)
		info.IPv6 = withoutLoopback(v6)
	}
	return info, nil
}

func withoutLoopback(ips []string) []string {
	var out []string
	for _, s := range ips {
		if ip := net.ParseIP(s); ip != nil && !ip.IsLoopback() {
			out = append(out, s)
		}
	}
	return out
}

// List implements lxcdriver.Driver.
func (d *Driver) List(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("liblxc: list: %w", err)
	}
	names := lxc.DefinedContainerNames(d.lxcpath)
	if names == nil {
		names = []string{}
	}
	slices.Sort(names)
	return names, nil
}

// SetConfig implements lxcdriver.Driver.
func (d *Driver) SetConfig(ctx context.Context, name string, items []lxcdriver.ConfigItem) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("liblxc: set config %s: %w", name, err)
	}
	c, err := d.container("set config", name)
	if err != nil {
		return err
	}
	defer c.Release()
	if err := setConfig(c, items); err != nil {
		return fmt.Errorf("liblxc: set config %s: %w", name, err)
	}
	return nil
}

// ConfigItem implements lxcdriver.Driver. Keys with several values (such
// as lxc.cgroup.devices.allow) come back one per line.
func (d *Driver) ConfigItem(ctx context.Context, name, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("liblxc: config item %s: %w", name, err)
	}
	c, err := d.container("config item", name)
	if err != nil {
		return "", err
	}
	defer c.Release()
	return strings.Join(c.ConfigItem(key), "\n"), nil
}
