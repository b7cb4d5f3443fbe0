package liblxc_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
)

// The attack suite: what a hostile customer, root in their container,
// tries against the host. Each attack runs in a real container; it must
// fail with the kernel's own error and leave the host unchanged. The suite
// is checked against a privileged container too (the panel's containers
// before they were unprivileged), where the attacks that took the host
// must be seen to succeed: a suite that cannot fail proves nothing.

// attackEnv is what an attack's check needs of the host side.
type attackEnv struct {
	d        *liblxc.Driver
	name     string
	hostDir  string            // a host folder bound read-only at /mnt/host
	cgroup   map[string]string // the container's host cgroup files and their values before
	rootfs   string            // the container's rootfs folder on the host
	marker   string            // in this test process's command line
	blockDev string            // "major minor" of the host's root filesystem
}

type attack struct {
	name string
	// script runs with /bin/sh -c in the container; exit 0 means the
	// kernel let it through.
	script func(env attackEnv) string
	// escaped looks at the host afterwards; nil: the script's exit code
	// says.
	escaped func(t *testing.T, env attackEnv, res lxcdriver.ExecResult) (bool, string)
}

// kernelError is what a refusal from the kernel reads like in busybox's
// and the helper's messages.
var kernelError = regexp.MustCompile(`(?i)permission denied|nonexistent directory|operation not permitted|read-only file system|no such file|no such process|function not implemented|invalid argument|not supported|no such device|EPERM|EACCES|ENOSYS|ESRCH|EROFS`)

var attacks = []attack{
	// The kernel lets root remount read-write a mount made inside its
	// own user namespace (liblxc makes the container's /proc/sys, /sys and
	// binds there), so what counts is whether anything behind one becomes
	// writable.
	{name: "remount any read-only mount read-write and write to it", script: func(attackEnv) string {
		return `r=1; for m in $(awk '$4 ~ /(^|,)ro(,|$)/ {print $2}' /proc/self/mounts); do
			mount -o remount,rw,bind "$m" 2>&1 || mount -o remount,rw "$m" 2>&1
			if touch "$m/ctpanel-attack" 2>&1; then echo "wrote into $m"; rm -f "$m/ctpanel-attack"; r=0; fi
		done; exit $r`
	}},
	{name: "write under a host folder bound read-only (the host's /usr/lib for liblxc's busybox)", script: func(attackEnv) string {
		return `mount -o remount,rw,bind /mnt/host; echo pwned > /mnt/host/pwned`
	}, escaped: func(t *testing.T, env attackEnv, _ lxcdriver.ExecResult) (bool, string) {
		_, err := os.Stat(filepath.Join(env.hostDir, "pwned"))
		return err == nil, "host file " + filepath.Join(env.hostDir, "pwned")
	}},
	{name: "mount cgroup v1 and raise pids.max", script: func(attackEnv) string {
		return `mkdir -p /tmp/cgp && mount -t cgroup -o pids none /tmp/cgp && echo 4000 > /tmp/cgp/pids.max`
	}, escaped: cgroupChanged("pids.max")},
	{name: "mount cgroup v1 and raise the memory limit", script: func(attackEnv) string {
		return `mkdir -p /tmp/cgm && mount -t cgroup -o memory none /tmp/cgm && echo 4294967296 > /tmp/cgm/memory.limit_in_bytes`
	}, escaped: cgroupChanged("memory.limit_in_bytes")},
	{name: "mount cgroup v2 and raise pids.max", script: func(attackEnv) string {
		return `mkdir -p /tmp/cg2 && mount -t cgroup2 none /tmp/cg2 && echo max > /tmp/cg2/pids.max`
	}, escaped: cgroupChanged("pids.max")},
	{name: "mknod the host's root block device and read it", script: func(env attackEnv) string {
		return `mknod /tmp/hostdisk b ` + env.blockDev + ` && head -c 512 /tmp/hostdisk > /dev/null`
	}},
	{name: "read /dev/mem and /dev/kmem", script: func(attackEnv) string {
		return `head -c 1 /dev/mem >/dev/null 2>&1 || head -c 1 /dev/kmem >/dev/null 2>&1 || { mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem > /dev/null; }`
	}},
	{name: "load a kernel module", script: func(attackEnv) string { return `/tmp/attack init-module` }},
	{name: "write /proc/sys/kernel (sysrq, written back unchanged)", script: func(attackEnv) string {
		return `mount -o remount,rw,bind /proc/sys 2>/dev/null; v=$(cat /proc/sys/kernel/sysrq) && echo "$v" > /proc/sys/kernel/sysrq`
	}},
	{name: "write /proc/sysrq-trigger (h: print help)", script: func(attackEnv) string {
		return `mount -o remount,rw,bind /proc/sysrq-trigger 2>/dev/null; echo h > /proc/sysrq-trigger`
	}},
	{name: "setuid-root file in the rootfs run by an unprivileged host user", script: func(attackEnv) string {
		return `cp /bin/busybox /tmp/id && chmod 4755 /tmp/id && ls -ln /tmp/id`
	}, escaped: func(t *testing.T, env attackEnv, _ lxcdriver.ExecResult) (bool, string) {
		cmd := exec.Command(filepath.Join(env.rootfs, "tmp", "id"), "-u")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return err == nil && strings.TrimSpace(string(out)) == "0", fmt.Sprintf("host user nobody ran it: %q, %v", out, err)
	}},
	{name: "ptrace a host process", script: func(env attackEnv) string { return `/tmp/attack ptrace ` + env.marker }},
	// Root's user keyring is per user namespace: the container's root
	// must get one of its own, not the host root's.
	{name: "keyctl on the host's keyrings", script: func(attackEnv) string { return `/tmp/attack keyctl` },
		escaped: func(t *testing.T, env attackEnv, res lxcdriver.ExecResult) (bool, string) {
			host, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_USER_KEYRING, 0, 0, 0)
			if err != nil {
				t.Fatalf("host keyctl: %v", err)
			}
			seen := strings.TrimSpace(string(res.Stdout))
			return res.ExitCode == 0 && seen == fmt.Sprintf("user keyring %d", host),
				fmt.Sprintf("host root's user keyring is %d, the container got %q", host, seen)
		}},
	{name: "open_by_handle_at escape", script: func(attackEnv) string { return `/tmp/attack open-by-handle` }},
	{name: "unshare -U inside, then map host ids", script: func(attackEnv) string { return `/tmp/attack userns-map` }},
}

// cgroupChanged: the container's limit in the host's cgroup is not what
// the panel set.
func cgroupChanged(file string) func(*testing.T, attackEnv, lxcdriver.ExecResult) (bool, string) {
	return func(t *testing.T, env attackEnv, _ lxcdriver.ExecResult) (bool, string) {
		p := env.cgroup[file]
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		now, before := strings.TrimSpace(string(b)), env.cgroup[file+"@before"]
		return now != before, fmt.Sprintf("host %s: %s, set to %s", p, now, before)
	}
}

// attackHelper builds testdata/attack, statically.
func attackHelper(t *testing.T) []byte {
	t.Helper()
	// A lane without Go (the cgroup v2 VM) brings it built.
	if pre := os.Getenv("CTPANEL_ATTACK_HELPER"); pre != "" {
		b, err := os.ReadFile(pre)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	out := filepath.Join(t.TempDir(), "attack")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/attack")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the attack helper: %v: %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runAttacks starts a busybox container (unprivileged unless m is nil)
// with limits and a read-only bind of a host folder, runs every attack and
// returns which escaped, with what the kernel said.
func runAttacks(t *testing.T, m *lxcdriver.IDMap) map[string]string {
	requireLiblxc(t)
	d := newDriver(t)
	ctx := t.Context()
	name := "9attack"
	hostDir := t.TempDir()
	if err := os.Chmod(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.Stop(context.Background(), name)
		_ = d.Destroy(context.Background(), name)
	})
	cfg := []lxcdriver.ConfigItem{{Key: "lxc.net.0.type", Value: "empty"},
		{Key: "lxc.mount.entry", Value: hostDir + " mnt/host none ro,bind,create=dir 0 0"}}
	if err := d.Create(ctx, name, lxcdriver.CreateOptions{Template: "busybox", Config: cfg, IDMap: m}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := d.WriteFile(ctx, name, "/tmp/attack", attackHelper(t), 0o755); err != nil {
		t.Fatalf("copy the helper in: %v", err)
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatalf("start: %v", err)
	}
	const M = 1 << 20
	if err := d.SetLimits(ctx, name, lxcdriver.Limits{NumProc: u64(100), MemHard: u64(256 * M)}); err != nil {
		t.Fatalf("limits: %v", err)
	}
	files := cgroupFiles(t, d, name)
	env := attackEnv{d: d, name: name, hostDir: hostDir, rootfs: filepath.Join(d.LXCPath(), name, "rootfs"),
		marker: filepath.Base(os.Args[0]), cgroup: map[string]string{}}
	for _, f := range []string{"pids.max", "memory.limit_in_bytes"} {
		env.cgroup[f] = cgroupPath(t, d, name, f)
		env.cgroup[f+"@before"] = files[f]
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	env.blockDev = fmt.Sprintf("%d %d", st.Dev>>8&0xfff, st.Dev&0xff|st.Dev>>12&0xfff00)

	escaped := map[string]string{}
	for _, a := range attacks {
		res, err := d.Exec(ctx, name, []string{"/bin/sh", "-c", a.script(env)}, lxcdriver.ExecOptions{})
		if err != nil {
			t.Fatalf("%s: exec: %v", a.name, err)
		}
		said := strings.TrimSpace(string(res.Stderr) + " " + string(res.Stdout))
		got, what := res.ExitCode == 0, fmt.Sprintf("exit %d: %s", res.ExitCode, said)
		if a.escaped != nil {
			got, what = a.escaped(t, env, res)
			what += "; in the container: " + said
		}
		if got {
			escaped[a.name] = what
		} else {
			t.Logf("refused: %s: %s", a.name, what)
			if m != nil && a.escaped == nil && !kernelError.MatchString(said) {
				t.Errorf("%s: refused without a kernel error to show for it: %q", a.name, said)
			}
		}
	}
	return escaped
}

// cgroupPath is the host file of a v1 controller file of the container.
func cgroupPath(t *testing.T, d *liblxc.Driver, name, file string) string {
	t.Helper()
	info, err := d.Info(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", info.InitPID))
	if err != nil {
		t.Fatal(err)
	}
	ctrl, _, _ := strings.Cut(file, ".")
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			for _, c := range strings.Split(parts[1], ",") {
				if c == ctrl {
					return filepath.Join("/sys/fs/cgroup", parts[1], parts[2], file)
				}
			}
		}
	}
	if v2 := v2Dir(b); v2 != "" {
		if f, ok := map[string]string{"memory.limit_in_bytes": "memory.max"}[file]; ok {
			file = f
		}
		return filepath.Join(v2, file)
	}
	t.Fatalf("no %s cgroup in %s", ctrl, b)
	return ""
}

// TestAttackSuite: every attack fails in an unprivileged container.
func TestAttackSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real container; skipped with -short")
	}
	escaped := runAttacks(t, testIDMap())
	for name, what := range escaped {
		t.Errorf("ESCAPED: %s: %s", name, what)
	}
}

// TestAttackSuiteCatchesPrivileged: the same suite against a privileged
// container sees the escapes that made this issue: the suite can fail.
func TestAttackSuiteCatchesPrivileged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real container; skipped with -short")
	}
	escaped := runAttacks(t, nil)
	for name, what := range escaped {
		t.Logf("escaped from the privileged container, as expected of one: %s: %s", name, what)
	}
	for _, want := range []string{
		"remount any read-only mount read-write and write to it",
		"write under a host folder bound read-only (the host's /usr/lib for liblxc's busybox)",
		"mount cgroup v1 and raise pids.max",
		"mount cgroup v1 and raise the memory limit",
		"keyctl on the host's keyrings",
		"unshare -U inside, then map host ids",
	} {
		if _, ok := escaped[want]; !ok {
			t.Errorf("the suite did not catch %q in a privileged container", want)
		}
	}
}
