package liblxc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	lxc "github.com/lxc/go-lxc"
	"golang.org/x/sys/unix"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// Unprivileged containers. Every container the panel makes runs in a user
// namespace of its own: container ids 0..65535 are a block of host ids no
// other container and no host user has (allocated by the panel), so root
// in the container is nobody on the host.
//
// A directory rootfs keeps its files owned by 0 on disk and is mounted
// idmapped (lxc.rootfs.options = idmap=container): the kernel shows them
// to the container through its map, so a create, clone or reinstall needs
// no chown of the tree, and the same template cache serves every range.
//
// liblxc 5.0.2 idmaps only a "dir" rootfs ("Idmapped rootfs currently
// only supports the dir storage driver"), and the kernel refuses to idmap
// an overlayfs mount (mount_setattr: EINVAL). So:
//   - a loop disk holds its files with the container's host ids: the tree
//     is shifted once, on the container's own new disk, when it is made
//     (create, clone, reinstall, conversion), and mounted plainly;
//   - a snapshot (overlay) clone of an unprivileged container is refused;
//     a full clone is made instead.

// usernsConf is liblxc's configuration for containers in a user namespace.
const usernsConf = "/usr/share/lxc/config/userns.conf"

// unprivItems is the config that makes a container unprivileged with m.
// userns.conf clears common.conf's device allowlist and capability drops
// (an unprivileged user starting a container cannot set them); the panel
// starts containers as root, so both are put back after it.
func unprivItems(m lxcdriver.IDMap, idmappedRootfs bool) []lxcdriver.ConfigItem {
	items := []lxcdriver.ConfigItem{}
	if fileExists(usernsConf) {
		items = append(items, lxcdriver.ConfigItem{Key: "lxc.include", Value: usernsConf})
	}
	items = append(items,
		lxcdriver.ConfigItem{Key: "lxc.idmap", Value: fmt.Sprintf("u 0 %d %d", m.HostID, m.Size)},
		lxcdriver.ConfigItem{Key: "lxc.idmap", Value: fmt.Sprintf("g 0 %d %d", m.HostID, m.Size)},
		lxcdriver.ConfigItem{Key: "lxc.cap.drop", Value: "mac_admin mac_override sys_time sys_module sys_rawio"},
	)
	for _, v := range deviceRules {
		items = append(items, lxcdriver.ConfigItem{Key: "lxc.cgroup.devices." + v[0], Value: v[1]},
			lxcdriver.ConfigItem{Key: "lxc.cgroup2.devices." + v[0], Value: v[1]})
	}
	if idmappedRootfs {
		items = append(items, lxcdriver.ConfigItem{Key: "lxc.rootfs.options", Value: "idmap=container"})
	}
	return items
}

// deviceRules is common.conf's device allowlist: nothing but the usual
// character devices (and fuse) may be opened; mknod is allowed by the
// cgroup and refused by the kernel in a user namespace anyway.
var deviceRules = [][2]string{
	{"deny", "a"},
	{"allow", "c *:* m"}, {"allow", "b *:* m"},
	{"allow", "c 1:3 rwm"}, {"allow", "c 1:5 rwm"}, {"allow", "c 1:7 rwm"},
	{"allow", "c 5:0 rwm"}, {"allow", "c 5:1 rwm"}, {"allow", "c 5:2 rwm"},
	{"allow", "c 1:8 rwm"}, {"allow", "c 1:9 rwm"}, {"allow", "c 136:* rwm"},
	{"allow", "c 10:229 rwm"},
}

// configIDMap reads a container's id map from its config file; nil for a
// privileged container.
func configIDMap(configFile string) (*lxcdriver.IDMap, error) {
	b, err := os.ReadFile(configFile)
	if err != nil {
		return nil, err
	}
	var u, g *lxcdriver.IDMap
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(key) != "lxc.idmap" {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 4 || f[1] != "0" {
			return nil, fmt.Errorf("%s: lxc.idmap %q: ctpanel maps one block from container id 0", configFile, strings.TrimSpace(val))
		}
		host, err1 := strconv.ParseUint(f[2], 10, 32)
		size, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: lxc.idmap %q: not numbers", configFile, strings.TrimSpace(val))
		}
		m := &lxcdriver.IDMap{HostID: uint32(host), Size: uint32(size)}
		switch f[0] {
		case "u":
			u = m
		case "g":
			g = m
		}
	}
	if u == nil && g == nil {
		return nil, nil
	}
	if u == nil || g == nil || *u != *g {
		return nil, fmt.Errorf("%s: lxc.idmap: want the same block for users and groups", configFile)
	}
	return u, nil
}

// diskBase is the host id of the container's root as it is stored on its
// rootfs: 0 for a directory (idmapped at mount) or a privileged
// container, the block's first id for an unprivileged loop disk.
func diskBase(onDisk bool, m *lxcdriver.IDMap) uint32 {
	if m != nil && onDisk {
		return m.HostID
	}
	return 0
}

// shiftTree moves the owners of every file below root from the block at
// from to the block at to (size ids each). Owners outside the from block
// are left alone, so running it again after an interruption finishes the
// job. chown clears setuid, setgid and file capabilities; they are put
// back.
func shiftTree(ctx context.Context, root string, from, to, size uint32) error {
	if from == to {
		return nil
	}
	in := func(id uint32) bool { return id >= from && uint64(id) < uint64(from)+uint64(size) }
	return filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		uid, gid := st.Uid, st.Gid
		if !in(uid) && !in(gid) {
			return nil
		}
		if in(uid) {
			uid = uid - from + to
		}
		if in(gid) {
			gid = gid - from + to
		}
		isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
		var caps []byte
		if !isLink {
			caps = getXattr(p, "security.capability")
		}
		if err := unix.Lchown(p, int(uid), int(gid)); err != nil {
			return fmt.Errorf("chown %s: %w", p, err)
		}
		if isLink {
			return nil
		}
		if st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			if err := unix.Chmod(p, st.Mode&0o7777); err != nil {
				return fmt.Errorf("chmod %s: %w", p, err)
			}
		}
		if caps != nil {
			if err := unix.Lsetxattr(p, "security.capability", caps, 0); err != nil {
				return fmt.Errorf("restore file capabilities of %s: %w", p, err)
			}
		}
		return nil
	})
}

func getXattr(p, name string) []byte {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil || n <= 0 {
		return nil
	}
	return buf[:n]
}

// IDMapOf implements lxcdriver.Driver.
func (d *Driver) IDMapOf(ctx context.Context, name string) (*lxcdriver.IDMap, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := d.container("id map", name)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	m, err := configIDMap(c.ConfigFileName())
	if err != nil {
		return nil, fmt.Errorf("liblxc: id map %s: %w", name, err)
	}
	return m, nil
}

// Unprivilege implements lxcdriver.Driver. A directory rootfs is left as
// it is and mounted idmapped from now on; a loop disk's files are shifted
// into the block first. Mount entries that bind a host path into the
// container (liblxc's busybox template binds the host's library folders)
// are dropped. The config is replaced last, so a conversion cut short is
// finished by running it again.
func (d *Driver) Unprivilege(ctx context.Context, name string, m lxcdriver.IDMap) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("liblxc: unprivilege %s: %w", name, err)
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("liblxc: unprivilege %s: %w", name, err)
	}
	c, err := d.container("unprivilege", name)
	if err != nil {
		return err
	}
	defer c.Release()
	if d.state(c) != lxcdriver.StateStopped {
		return fmt.Errorf("liblxc: unprivilege %s: %w", name, lxcdriver.ErrRunning)
	}
	cfg := c.ConfigFileName()
	cur, err := configIDMap(cfg)
	if err != nil {
		return fmt.Errorf("liblxc: unprivilege %s: %w", name, err)
	}
	if cur != nil {
		if *cur == m {
			return nil
		}
		return fmt.Errorf("liblxc: unprivilege %s: already unprivileged with host ids %d+%d", name, cur.HostID, cur.Size)
	}
	spec, err := rootfsSpec(cfg)
	if err != nil {
		return fmt.Errorf("liblxc: unprivilege %s: %w", name, err)
	}
	kind, _, _ := strings.Cut(spec, ":")
	switch {
	case kind == "overlay" || kind == "overlayfs":
		return fmt.Errorf("liblxc: unprivilege %s: a snapshot clone's overlay cannot be idmapped, make a full clone of it first: %w", name, lxcdriver.ErrUnsupported)
	case loopImage(spec) != "":
		mnt, cleanup, err := mountImage(loopImage(spec), false)
		if err != nil {
			return fmt.Errorf("liblxc: unprivilege %s: %w", name, err)
		}
		err = shiftTree(ctx, mnt, 0, m.HostID, m.Size)
		if cerr := cleanup(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("liblxc: unprivilege %s: shift the disk's owners: %w", name, err)
		}
	}
	b, err := os.ReadFile(cfg)
	if err != nil {
		return fmt.Errorf("liblxc: unprivilege %s: %w", name, err)
	}
	text := withoutKeys(string(b), func(key, val string) bool {
		switch key {
		case "lxc.cap.drop", "lxc.rootfs.options":
			return true
		case "lxc.mount.entry":
			// A host path as the source: a bind of the host.
			return strings.HasPrefix(strings.TrimSpace(val), "/")
		}
		return false
	})
	items := unprivItems(m, loopImage(spec) == "")
	if loopImage(spec) != "" && !strings.Contains(text, "lxc.hook.pre-start") {
		items = append(items, d.diskGuard())
	}
	text += configText(items)
	if err := writeFileAtomic(cfg, []byte(text), 0o640); err != nil {
		return fmt.Errorf("liblxc: unprivilege %s: %w", name, err)
	}
	if err := os.Chmod(filepath.Dir(cfg), 0o700); err != nil {
		return fmt.Errorf("liblxc: unprivilege %s: %w", name, err)
	}
	return nil
}

// withoutKeys drops the config lines drop says so of.
func withoutKeys(text string, drop func(key, val string) bool) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		if line == "" {
			continue
		}
		if key, val, ok := strings.Cut(line, "="); ok && drop(strings.TrimSpace(key), val) {
			continue
		}
		b.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// configText is items as lines of a liblxc config file.
func configText(items []lxcdriver.ConfigItem) string {
	var b strings.Builder
	for _, it := range items {
		fmt.Fprintf(&b, "%s = %s\n", it.Key, it.Value)
	}
	return b.String()
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".ctpanel-new"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// LXCFSMount is where lxcfs is mounted for liblxc's lxcfs hook
// (/usr/share/lxc/config/common.conf.d/00-lxcfs.conf).
const LXCFSMount = "/var/lib/lxcfs"

// LXCFSRunning says whether lxcfs serves LXCFSMount: without it a
// container's free, uptime and /proc/cpuinfo show the host's figures.
func LXCFSRunning() error {
	return lxcfsServes(LXCFSMount)
}

// lxcfsServes says whether a live lxcfs is mounted on mount.
func lxcfsServes(mount string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || f[4] != mount {
			continue
		}
		for i, x := range f {
			if x == "-" && i+1 < len(f) && f[i+1] == "fuse.lxcfs" {
				// A mount whose lxcfs died stays in the table but
				// answers ENOTCONN: liblxc's hook then skips it and
				// containers see the host's figures.
				// (a read, which always reaches lxcfs: a stat may be
				// answered from the kernel's cache)
				if _, err := os.ReadFile(filepath.Join(mount, "proc", "uptime")); err != nil {
					return fmt.Errorf("lxcfs on %s does not answer (%v): its process died; unmount it (umount -l %s) and start lxcfs again: containers see the host's memory, CPUs and uptime", mount, err, mount)
				}
				return nil
			}
		}
	}
	if !fileExists("/usr/share/lxc/config/common.conf.d/00-lxcfs.conf") {
		return errors.New("lxcfs is not installed (Debian package lxcfs): containers see the host's memory, CPUs and uptime")
	}
	return fmt.Errorf("lxcfs is not running on %s (start it: lxcfs %s): containers see the host's memory, CPUs and uptime", mount, mount)
}

// copyClone is a full clone that involves an unprivileged container (the
// source, the clone or both), made here rather than by lxc-copy, whose
// copy of a container with an id map runs rsync in a user namespace it
// forks: the source's files are copied as they are on disk (rsync as
// root, numeric ids, hard links, ACLs, xattrs), then shifted from the
// source's on-disk ids to the clone's (diskBase), and the config is the
// source's with the clone's rootfs, name and id map.
func (d *Driver) copyClone(ctx context.Context, c *lxc.Container, dst string, disk *cloneDisk, srcMap, dstMap *lxcdriver.IDMap) error {
	srcSpec, err := rootfsSpec(c.ConfigFileName())
	if err != nil {
		return err
	}
	kind, _, _ := strings.Cut(srcSpec, ":")
	if kind == "overlay" || kind == "overlayfs" {
		return fmt.Errorf("cloning a snapshot clone into an unprivileged container: make a full clone of it first: %w", lxcdriver.ErrUnsupported)
	}
	srcRoot, cleanup, err := mountStoppedRootfs(srcSpec)
	if err != nil {
		return err
	}
	defer func() { _ = cleanup() }()
	from := diskBase(loopImage(srcSpec) != "", srcMap)
	size := uint32(1 << 16)
	if srcMap != nil {
		size = srcMap.Size
	}

	dir := filepath.Join(d.lxcpath, dst)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return err
	}
	fill := func(ctx context.Context, root string) error {
		if _, err := runTool(ctx, "rsync", "-aHAXS", "--numeric-ids", srcRoot+"/", root+"/"); err != nil {
			return fmt.Errorf("copy the rootfs: %w", err)
		}
		return nil
	}
	rootfsPath := "dir:" + rootfs
	if disk != nil {
		// The shift is done here, from the source's ids, not by
		// makeDisk's (which shifts from 0).
		image, err := makeDisk(ctx, dir, disk.size, func(ctx context.Context, root string) error {
			if err := fill(ctx, root); err != nil {
				return err
			}
			return shiftTree(ctx, root, from, diskBase(true, dstMap), size)
		}, nil)
		if err != nil {
			return err
		}
		rootfsPath = "loop:" + image
	} else {
		if err := fill(ctx, rootfs); err != nil {
			return err
		}
		if err := shiftTree(ctx, rootfs, from, diskBase(false, dstMap), size); err != nil {
			return err
		}
	}

	b, err := os.ReadFile(c.ConfigFileName())
	if err != nil {
		return err
	}
	ours := map[string]bool{"lxc.rootfs.path": true, "lxc.rootfs.options": true, "lxc.idmap": true, "lxc.uts.name": true,
		"lxc.cap.drop": true}
	text := withoutKeys(string(b), func(key, val string) bool {
		if key == "lxc.include" {
			return strings.TrimSpace(val) == usernsConf
		}
		return ours[key] || strings.HasPrefix(key, "lxc.cgroup.devices.") || strings.HasPrefix(key, "lxc.cgroup2.devices.")
	})
	items := []lxcdriver.ConfigItem{{Key: "lxc.rootfs.path", Value: rootfsPath}, {Key: "lxc.uts.name", Value: dst}}
	if dstMap != nil {
		items = append(items, unprivItems(*dstMap, disk == nil)...)
	} else {
		items = append(items, lxcdriver.ConfigItem{Key: "lxc.cap.drop", Value: "mac_admin mac_override sys_time sys_module sys_rawio"})
	}
	if disk != nil && !strings.Contains(text, "lxc.hook.pre-start") {
		items = append(items, d.diskGuard())
	}
	return writeFileAtomic(filepath.Join(dir, "config"), []byte(text+configText(items)), 0o640)
}
