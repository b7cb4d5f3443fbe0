package liblxc

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// The "busybox" template is built here from the host's busybox-static,
// not by liblxc's lxc-busybox script: that script bind-mounts the host's
// /lib, /usr/lib and /lib64 into the container (for a dynamically linked
// busybox), and with them a way to write host libraries. This root
// filesystem holds one static binary, its applets as symlinks, an init
// configuration and the /etc files a shell login needs; nothing of the
// host is mounted in.

// busyboxBinary is the static busybox the template copies: Debian's
// busybox-static installs it as /bin/busybox.
func busyboxBinary() (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if isStaticELF(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("busybox template: a statically linked /bin/busybox (Debian package busybox-static) is needed: %w", lxcdriver.ErrUnsupported)
}

// isStaticELF says whether path is an ELF executable without a program
// interpreter (PT_INTERP), which is what "statically linked" means to the
// kernel: it runs with no library from the host.
func isStaticELF(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return f.Type == elf.ET_EXEC || f.Type == elf.ET_DYN
}

// busyboxFiles are the /etc files of the template, with their modes.
var busyboxFiles = []struct {
	path string
	mode os.FileMode
	body string
}{
	{"etc/inittab", 0o644, "::sysinit:/etc/init.d/rcS\ntty1::respawn:/bin/getty -L tty1 115200 vt100\nconsole::askfirst:/bin/sh\n::shutdown:/bin/umount -a -r\n"},
	{"etc/init.d/rcS", 0o744, "#!/bin/sh\n/bin/mount -a\n"},
	{"etc/fstab", 0o644, ""},
	{"etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\n"},
	{"etc/group", 0o644, "root:x:0:root\n"},
	{"etc/shadow", 0o600, "root:*:0:0:99999:7:::\n"},
	{"etc/hostname", 0o644, "localhost\n"},
	{"etc/hosts", 0o644, "127.0.0.1\tlocalhost\n::1\tlocalhost\n"},
	{"etc/profile", 0o644, "export PATH=/bin:/sbin:/usr/bin:/usr/sbin\n"},
}

var busyboxDirs = []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc/init.d", "dev", "dev/pts",
	"proc", "sys", "root", "home", "mnt", "run", "var/log", "var/run", "tmp"}

// buildBusybox fills root (an empty directory) with the template.
func buildBusybox(ctx context.Context, root string) error {
	bin, err := busyboxBinary()
	if err != nil {
		return err
	}
	for _, d := range busyboxDirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(root, "root"), 0o700); err != nil {
		return err
	}
	if err := copyFile(bin, filepath.Join(root, "bin/busybox"), 0o755); err != nil {
		return err
	}
	// busybox --list-full names every applet with its directory
	// ("bin/ash", "usr/sbin/chroot", ...).
	out, err := exec.CommandContext(ctx, bin, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("busybox --list-full: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "bin/busybox" || strings.Contains(applet, "..") || strings.HasPrefix(applet, "/") {
			continue
		}
		link := filepath.Join(root, applet)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("/bin/busybox", link); err != nil && !os.IsExist(err) {
			return err
		}
	}
	// init is busybox's own, run as /sbin/init. passwd must be setuid
	// for a user to change their password inside.
	_ = os.Remove(filepath.Join(root, "sbin/init"))
	if err := os.Symlink("/bin/busybox", filepath.Join(root, "sbin/init")); err != nil {
		return err
	}
	for _, f := range busyboxFiles {
		p := filepath.Join(root, f.path)
		if err := os.WriteFile(p, []byte(f.body), f.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// busyboxConfig is what the template adds to a container's config:
// busybox's init halts on SIGUSR1 and reboots on SIGTERM, and /dev/shm
// and /dev/mqueue are the container's own.
var busyboxConfig = []lxcdriver.ConfigItem{
	{Key: "lxc.signal.halt", Value: "SIGUSR1"},
	{Key: "lxc.signal.reboot", Value: "SIGTERM"},
	{Key: "lxc.mount.entry", Value: "shm dev/shm tmpfs defaults,create=dir 0 0"},
	{Key: "lxc.mount.entry", Value: "mqueue dev/mqueue mqueue defaults,optional,create=dir 0 0"},
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}
