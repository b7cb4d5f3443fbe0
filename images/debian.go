package images

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Recipe is an image the panel builds from a distribution's archive.
type Recipe struct {
	Name         string
	Distribution string
	Release      string // version number
	Suite        string // the archive's codename
	Variant      string
	Description  string
	// Packages are installed on top of debootstrap's minbase.
	Packages []string
	// Keyring verifies the archive's Release file (debootstrap's gpgv).
	Keyring string
}

// Recipes are the images `ctpanel image build NAME` knows.
var Recipes = map[string]Recipe{
	"debian-12": {
		Name: "debian-12", Distribution: "debian", Release: "12", Suite: "bookworm", Variant: "default",
		Description: "Debian 12 (bookworm), minbase with systemd, ifupdown, iproute2, OpenSSH and CA certificates",
		Packages:    []string{"systemd", "systemd-sysv", "dbus", "iproute2", "iputils-ping", "openssh-server", "ca-certificates", "procps", "less", "ifupdown"},
		Keyring:     "/usr/share/keyrings/debian-archive-keyring.gpg",
	},
}

// RecipeNames lists the recipes' names.
func RecipeNames() []string { return sortedKeys(Recipes) }

// debArch is Debian's name for the host's architecture.
func debArch() string {
	switch runtime.GOARCH {
	case "amd64", "arm64", "i386", "s390x", "ppc64le", "riscv64":
		return runtime.GOARCH
	case "arm":
		return "armhf"
	case "386":
		return "i386"
	}
	return runtime.GOARCH
}

// Arch is the architecture built images are for.
func Arch() string { return debArch() }

// DefaultMirror is the Debian archive the host's own apt uses (its first
// deb source that is not the security archive), else deb.debian.org.
func DefaultMirror() string {
	if m := mirrorFrom("/etc/apt/sources.list.d", "/etc/apt/sources.list"); m != "" {
		return m
	}
	return "http://deb.debian.org/debian"
}

func mirrorFrom(dir, list string) string {
	var candidates []string
	// deb822 .sources files (Debian 12's default).
	files, _ := filepath.Glob(filepath.Join(dir, "*.sources"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, para := range strings.Split(string(b), "\n\n") {
			fields := map[string]string{}
			for _, line := range strings.Split(para, "\n") {
				if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, " ") {
					fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
				}
			}
			if !strings.Contains(fields["types"], "deb") || strings.EqualFold(fields["enabled"], "no") {
				continue
			}
			candidates = append(candidates, strings.Fields(fields["uris"])...)
		}
	}
	// One-line sources.list.
	if b, err := os.ReadFile(list); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 3 || f[0] != "deb" {
				continue
			}
			i := 1
			if strings.HasPrefix(f[i], "[") {
				for i < len(f) && !strings.HasSuffix(f[i], "]") {
					i++
				}
				i++
			}
			if i < len(f) {
				candidates = append(candidates, f[i])
			}
		}
	}
	for _, c := range candidates {
		if strings.HasPrefix(c, "http") && !strings.Contains(c, "security") && strings.Contains(c, "debian") {
			return strings.TrimRight(c, "/")
		}
	}
	return ""
}

// Masked are units that fail or make no sense in an unprivileged
// container: kernel file systems it may not mount, the audit socket, the
// pstore, ext4 scrubbing and TRIM of a disk it does not own.
var Masked = []string{
	"sys-kernel-config.mount", "sys-kernel-debug.mount", "sys-kernel-tracing.mount",
	"systemd-journald-audit.socket", "systemd-pstore.service",
	"e2scrub_reap.service", "e2scrub_all.timer", "fstrim.timer",
}

// BuildOptions controls a build.
type BuildOptions struct {
	// Mirror is the archive to build from (DefaultMirror when empty).
	Mirror string
	// WorkDir is where the build's tree is made; it is removed after.
	WorkDir string
	// Progress hears what the build is doing.
	Progress func(string)
}

// Build makes recipe's root file system with debootstrap (the archive's
// Release file checked against the recipe's keyring), cleans it for reuse
// and writes it to out as a .tar.zst.
func Build(ctx context.Context, r Recipe, opts BuildOptions, out string) error {
	for _, tool := range []string{"debootstrap", "tar", "zstd", "gpgv"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("building images needs %s (Debian's package of that name; make run installs it)", tool)
		}
	}
	if _, err := os.Stat(r.Keyring); err != nil {
		return fmt.Errorf("the archive keyring %s is missing (Debian's debian-archive-keyring)", r.Keyring)
	}
	mirror := opts.Mirror
	if mirror == "" {
		mirror = DefaultMirror()
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(string) {}
	}
	work, err := os.MkdirTemp(opts.WorkDir, ".build-"+r.Name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	root := filepath.Join(work, "rootfs")

	progress("debootstrap from " + mirror)
	args := []string{"--variant=minbase", "--arch=" + debArch(), "--keyring=" + r.Keyring,
		"--include=" + strings.Join(r.Packages, ","), r.Suite, root, mirror}
	if err := runProgress(ctx, "debootstrap", args, func(line string) { progress("debootstrap: " + line) }); err != nil {
		if log, rerr := os.ReadFile(filepath.Join(root, "debootstrap", "debootstrap.log")); rerr == nil {
			return fmt.Errorf("%w; debootstrap.log ends: %s", err, tail(string(log), 600))
		}
		return err
	}
	progress("cleaning the tree for reuse")
	if err := Clean(root, r, mirror); err != nil {
		return fmt.Errorf("clean: %w", err)
	}
	progress("packing the root file system (tar, zstd)")
	tmp := out + ".part"
	if err := runProgress(ctx, "tar", []string{"--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls", "--sort=name",
		"-I", "zstd -T0 -10", "-C", root, "-cpf", tmp, "."}, nil); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return err
	}
	progress("built")
	return nil
}

// Clean readies a freshly bootstrapped tree for use as an image: no
// machine-id, no SSH host keys, no apt lists or caches, an empty /dev, the units that
// fail in containers masked, ifupdown's interfaces file ready for the
// panel's section, apt pointed at the mirror.
func Clean(root string, r Recipe, mirror string) error {
	at := func(p string) string { return filepath.Join(root, p) }
	write := func(p, data string, mode os.FileMode) error {
		return os.WriteFile(at(p), []byte(data), mode)
	}
	if err := write("/etc/machine-id", "", 0o444); err != nil {
		return err
	}
	_ = os.Remove(at("/var/lib/dbus/machine-id"))
	keys, _ := filepath.Glob(at("/etc/ssh/ssh_host_*"))
	for _, k := range keys {
		if err := os.Remove(k); err != nil {
			return err
		}
	}
	for _, glob := range []string{"/var/lib/apt/lists/*", "/var/cache/apt/*.bin", "/var/cache/apt/archives/*.deb", "/var/log/*.log"} {
		files, _ := filepath.Glob(at(glob))
		for _, f := range files {
			if fi, err := os.Lstat(f); err == nil && !fi.IsDir() {
				if err := os.Remove(f); err != nil {
					return err
				}
			}
		}
	}
	_ = os.RemoveAll(at("/debootstrap"))
	// debootstrap's device nodes: liblxc gives a container its /dev,
	// and an image holds none.
	devs, _ := os.ReadDir(at("/dev"))
	for _, e := range devs {
		if err := os.RemoveAll(filepath.Join(at("/dev"), e.Name())); err != nil {
			return err
		}
	}
	for _, unit := range Masked {
		p := at("/etc/systemd/system/" + unit)
		_ = os.Remove(p)
		if err := os.Symlink("/dev/null", p); err != nil {
			return err
		}
	}
	// The interface comes up from /etc/network/interfaces (ifupdown's
	// networking.service, enabled by its package), where the panel
	// writes its section: systemd-networkd would wait for a udev that a
	// container does not run (liblxc mounts its /sys read-write).
	if err := write("/etc/network/interfaces", "# interfaces(5): the panel writes its section below; your own stanzas\n# may go above it or in interfaces.d.\nsource /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n", 0o644); err != nil {
		return err
	}
	sources := fmt.Sprintf("deb %s %s main\ndeb %s %s-updates main\ndeb http://security.debian.org/debian-security %s-security main\n",
		mirror, r.Suite, mirror, r.Suite, r.Suite)
	if err := write("/etc/apt/sources.list", sources, 0o644); err != nil {
		return err
	}
	if err := write("/etc/hostname", "localhost\n", 0o644); err != nil {
		return err
	}
	if err := write("/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0o644); err != nil {
		return err
	}
	_ = os.Remove(at("/etc/resolv.conf"))
	return write("/etc/resolv.conf", "", 0o644)
}

// runProgress runs a tool, handing each line it prints to line (when
// set), and fails with the tail of its output.
func runProgress(ctx context.Context, tool string, args []string, line func(string)) error {
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.WaitDelay = 10 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var mu sync.Mutex
	var last []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			t := strings.TrimSpace(sc.Text())
			if t == "" {
				continue
			}
			mu.Lock()
			last = append(last, t)
			if len(last) > 8 {
				last = last[1:]
			}
			mu.Unlock()
			if line != nil {
				line(strings.TrimPrefix(t, "I: "))
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", tool, ctx.Err())
		}
		mu.Lock()
		defer mu.Unlock()
		return fmt.Errorf("%s: %v: %s", tool, err, strings.Join(last, " / "))
	}
	return nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// ErrUnknownRecipe is a build of an image the panel has no recipe for.
var ErrUnknownRecipe = errors.New("unknown recipe")
