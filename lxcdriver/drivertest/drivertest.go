// Package drivertest is the conformance suite every lxcdriver.Driver must
// pass: the liblxc driver on real containers and the in-memory Fake, so
// that tests written against the Fake hold for the real thing.
package drivertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// Option tunes Exercise.
type Option func(*config)

type config struct {
	rootfsTarball string
	diskShell     bool                            // see WithDiskShell
	destroyedDisk func(t *testing.T, name string) // see WithDestroyedDiskCheck
	noLiveGrow    bool                            // see WithoutLiveDiskGrow
}

// WithRootfsTarball names the .tar.gz the RootfsTarball subtest creates a
// container from. For a real driver it must hold a bootable rootfs with
// busybox (echo, hostname); the Fake only checks that it is gzip.
func WithRootfsTarball(path string) Option {
	return func(c *config) { c.rootfsTarball = path }
}

// Exercise runs the conformance suite against drivers made by newDriver,
// called once per subtest. Subtests run one after the other; the
// Concurrent subtest checks concurrent use on different containers.
func Exercise(t *testing.T, newDriver func(t *testing.T) lxcdriver.Driver, opts ...Option) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	s := &suite{newDriver: newDriver, cfg: cfg}

	t.Run("CreateBusybox", s.createBusybox)
	t.Run("CreateErrors", s.createErrors)
	t.Run("Config", s.config)
	t.Run("StartStop", s.startStop)
	t.Run("Exec", s.exec)
	t.Run("WriteFile", s.writeFile)
	t.Run("Freeze", s.freeze)
	t.Run("ShutdownRestart", s.shutdownRestart)
	t.Run("CloneFull", s.cloneFull)
	t.Run("CloneSnapshot", s.cloneSnapshot)
	t.Run("Unprivileged", s.unprivileged)
	t.Run("RootfsTarball", s.rootfsTarball)
	t.Run("Destroy", s.destroy)
	t.Run("Limits", s.limits)
	t.Run("Disk", s.disk)
	t.Run("Missing", s.missing)
	t.Run("Concurrent", s.concurrent)
}

type suite struct {
	newDriver func(t *testing.T) lxcdriver.Driver
	cfg       config
}

// shutdownTimeout is generous: busybox init takes about two seconds to
// halt (it sleeps between its TERM and KILL rounds).
const shutdownTimeout = 30 * time.Second

var nameSeq atomic.Int64

func init() {
	nameSeq.Store(time.Now().UnixNano() / int64(time.Millisecond) % 90000)
}

// idmapSeq hands out the test containers' id blocks, high above what the
// panel allocates (from 1000000) so a test run next to a panel shares no
// block with it.
var idmapSeq atomic.Uint32

// nextIDMap is a block of host ids no other container of this run has.
func nextIDMap() *lxcdriver.IDMap {
	return &lxcdriver.IDMap{HostID: 3_000_000_000 + idmapSeq.Add(1)*65536, Size: 65536}
}

// newName returns a CTID-like name unlikely to clash with another run.
func newName() string {
	return fmt.Sprintf("9%05d", nameSeq.Add(1)%100000)
}

// testCtx bounds one subtest's driver calls.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// baseConfig is what ctpanel sets on every container: no network unless
// configured, hostname from the CTID.
func baseConfig(name string) []lxcdriver.ConfigItem {
	return []lxcdriver.ConfigItem{
		{Key: "lxc.net.0.type", Value: "empty"},
		{Key: "lxc.uts.name", Value: "ct" + name},
	}
}

// cleanup stops and destroys name at the end of the test, whatever
// happened to it.
func cleanup(t *testing.T, d lxcdriver.Driver, name string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.Stop(ctx, name); err != nil && !errors.Is(err, lxcdriver.ErrNotFound) {
			t.Errorf("cleanup: stop %s: %v", name, err)
		}
		if err := d.Destroy(ctx, name); err != nil && !errors.Is(err, lxcdriver.ErrNotFound) {
			t.Errorf("cleanup: destroy %s: %v", name, err)
		}
	})
}

// create makes a busybox container with baseConfig and schedules its
// removal.
func create(t *testing.T, d lxcdriver.Driver) string {
	t.Helper()
	name := newName()
	cleanup(t, d, name)
	err := d.Create(testCtx(t), name, lxcdriver.CreateOptions{IDMap: nextIDMap(), Template: "busybox", Config: baseConfig(name)})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return name
}

// createPrivileged makes a busybox container without an id map, as the
// panel made them before every container was unprivileged.
func createPrivileged(t *testing.T, d lxcdriver.Driver) string {
	t.Helper()
	name := newName()
	cleanup(t, d, name)
	if err := d.Create(testCtx(t), name, lxcdriver.CreateOptions{Template: "busybox", Config: baseConfig(name)}); err != nil {
		t.Fatalf("create privileged %s: %v", name, err)
	}
	return name
}

func createStarted(t *testing.T, d lxcdriver.Driver) string {
	t.Helper()
	name := create(t, d)
	if err := d.Start(testCtx(t), name); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return name
}

func wantState(t *testing.T, d lxcdriver.Driver, name string, want lxcdriver.State) {
	t.Helper()
	got, err := d.State(testCtx(t), name)
	if err != nil {
		t.Fatalf("state %s: %v", name, err)
	}
	if got != want {
		t.Fatalf("state %s = %q, want %q", name, got, want)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

func listed(t *testing.T, d lxcdriver.Driver, name string) bool {
	t.Helper()
	names, err := d.List(testCtx(t))
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if !slices.IsSorted(names) {
		t.Errorf("list %v is not sorted", names)
	}
	return slices.Contains(names, name)
}

// run execs cmd and fails the test on a driver error.
func run(t *testing.T, d lxcdriver.Driver, name string, opts lxcdriver.ExecOptions, cmd ...string) lxcdriver.ExecResult {
	t.Helper()
	res, err := d.Exec(testCtx(t), name, cmd, opts)
	if err != nil {
		t.Fatalf("exec %s %q: %v", name, cmd, err)
	}
	return res
}

// wantOutput execs cmd and checks it exits 0 printing want.
func wantOutput(t *testing.T, d lxcdriver.Driver, name, want string, cmd ...string) {
	t.Helper()
	res := run(t, d, name, lxcdriver.ExecOptions{}, cmd...)
	if res.ExitCode != 0 || string(res.Stdout) != want {
		t.Errorf("exec %s %q = exit %d, stdout %q, stderr %q; want exit 0, stdout %q",
			name, cmd, res.ExitCode, res.Stdout, res.Stderr, want)
	}
}

func (s *suite) createBusybox(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	name := create(t, d)

	wantState(t, d, name, lxcdriver.StateStopped)
	if !listed(t, d, name) {
		t.Errorf("list does not contain %s", name)
	}
	info, err := d.Info(ctx, name)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if info.Name != name || info.State != lxcdriver.StateStopped || info.InitPID != 0 || info.NProc != 0 {
		t.Errorf("info of a stopped container = %+v", info)
	}
	err = d.Create(ctx, name, lxcdriver.CreateOptions{IDMap: nextIDMap(), Template: "busybox"})
	wantErr(t, "create again", err, lxcdriver.ErrExists)
	// The failed create must not have touched the existing container.
	wantState(t, d, name, lxcdriver.StateStopped)
}

func (s *suite) createErrors(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	notGzip := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	if err := os.WriteFile(notGzip, []byte("this is not a tarball\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		what string
		opts lxcdriver.CreateOptions
	}{
		{"no source", lxcdriver.CreateOptions{}},
		{"both sources", lxcdriver.CreateOptions{IDMap: nextIDMap(), Template: "busybox", RootfsTarball: notGzip}},
		{"unknown template", lxcdriver.CreateOptions{IDMap: nextIDMap(), Template: "ctpanel-no-such-template"}},
		{"missing tarball", lxcdriver.CreateOptions{IDMap: nextIDMap(), RootfsTarball: "/nonexistent/ctpanel/rootfs.tar.gz"}},
		{"not a tarball", lxcdriver.CreateOptions{IDMap: nextIDMap(), RootfsTarball: notGzip}},
	}
	for _, tc := range cases {
		name := newName()
		cleanup(t, d, name)
		if err := d.Create(ctx, name, tc.opts); err == nil {
			t.Errorf("%s: create succeeded", tc.what)
			continue
		}
		// Nothing half-made may be left behind.
		_, err := d.State(ctx, name)
		wantErr(t, tc.what+": state after failed create", err, lxcdriver.ErrNotFound)
		if listed(t, d, name) {
			t.Errorf("%s: list contains %s after a failed create", tc.what, name)
		}
	}
}

func (s *suite) config(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	name := create(t, d)

	for key, want := range map[string]string{
		"lxc.net.0.type": "empty",
		"lxc.uts.name":   "ct" + name,
	} {
		got, err := d.ConfigItem(ctx, name, key)
		if err != nil {
			t.Fatalf("config item %s: %v", key, err)
		}
		if got != want {
			t.Errorf("config item %s = %q, want %q", key, got, want)
		}
	}
	// default.conf's veth on lxcbr0 must not have survived.
	if got, err := d.ConfigItem(ctx, name, "lxc.net.0.link"); err != nil || got != "" {
		t.Errorf("config item lxc.net.0.link = %q, %v; want empty", got, err)
	}
	// liblxc reports the path without its "dir:" type.
	if got, _ := d.ConfigItem(ctx, name, "lxc.rootfs.path"); !strings.Contains(got, "/"+name+"/") || strings.Contains(got, ":") {
		t.Errorf("lxc.rootfs.path = %q, want a directory of its own", got)
	}

	err := d.SetConfig(ctx, name, []lxcdriver.ConfigItem{{Key: "lxc.uts.name", Value: "renamed" + name}})
	if err != nil {
		t.Fatalf("set config: %v", err)
	}
	if got, err := d.ConfigItem(ctx, name, "lxc.uts.name"); err != nil || got != "renamed"+name {
		t.Errorf("config item lxc.uts.name after set = %q, %v", got, err)
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatalf("start: %v", err)
	}
	wantOutput(t, d, name, "renamed"+name+"\n", "hostname")
}

func (s *suite) startStop(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	name := create(t, d)

	if err := d.Start(ctx, name); err != nil {
		t.Fatalf("start: %v", err)
	}
	wantState(t, d, name, lxcdriver.StateRunning)
	info, err := d.Info(ctx, name)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if info.State != lxcdriver.StateRunning || info.InitPID <= 0 || info.NProc < 1 {
		t.Errorf("info of a running container = %+v", info)
	}
	for _, ip := range append(info.IPv4, info.IPv6...) {
		if ip == "127.0.0.1" || ip == "::1" {
			t.Errorf("info lists loopback address %s", ip)
		}
	}
	if err := d.Start(ctx, name); err != nil {
		t.Errorf("start a running container: %v", err)
	}
	wantErr(t, "destroy a running container", d.Destroy(ctx, name), lxcdriver.ErrRunning)
	wantState(t, d, name, lxcdriver.StateRunning)

	if err := d.Stop(ctx, name); err != nil {
		t.Fatalf("stop: %v", err)
	}
	wantState(t, d, name, lxcdriver.StateStopped)
	if err := d.Stop(ctx, name); err != nil {
		t.Errorf("stop a stopped container: %v", err)
	}
	if err := d.Shutdown(ctx, name, time.Second); err != nil {
		t.Errorf("shut down a stopped container: %v", err)
	}
	info, err = d.Info(ctx, name)
	if err != nil || info.InitPID != 0 || info.NProc != 0 {
		t.Errorf("info after stop = %+v, %v", info, err)
	}
	_, err = d.Exec(ctx, name, []string{"true"}, lxcdriver.ExecOptions{})
	wantErr(t, "exec in a stopped container", err, lxcdriver.ErrNotRunning)
	wantErr(t, "freeze a stopped container", d.Freeze(ctx, name), lxcdriver.ErrNotRunning)
	wantErr(t, "unfreeze a stopped container", d.Unfreeze(ctx, name), lxcdriver.ErrNotRunning)

	// And it comes back.
	if err := d.Start(ctx, name); err != nil {
		t.Fatalf("start again: %v", err)
	}
	wantOutput(t, d, name, "hello\n", "echo", "hello")
}

func (s *suite) exec(t *testing.T) {
	d := s.newDriver(t)
	name := createStarted(t, d)

	wantOutput(t, d, name, "hello\n", "echo", "hello")
	wantOutput(t, d, name, "ct"+name+"\n", "hostname")

	codes := []struct {
		cmd  []string
		want int
	}{
		{[]string{"true"}, 0},
		{[]string{"false"}, 1},
		{[]string{"sh", "-c", "exit 3"}, 3},
		{[]string{"ctpanel-no-such-command"}, 127},
	}
	for _, tc := range codes {
		res := run(t, d, name, lxcdriver.ExecOptions{}, tc.cmd...)
		if res.ExitCode != tc.want {
			t.Errorf("exec %q: exit %d, want %d (stderr %q)", tc.cmd, res.ExitCode, tc.want, res.Stderr)
		}
	}

	res := run(t, d, name, lxcdriver.ExecOptions{Stdin: []byte("from stdin\n")}, "cat")
	if string(res.Stdout) != "from stdin\n" {
		t.Errorf("cat with stdin printed %q", res.Stdout)
	}
	res = run(t, d, name, lxcdriver.ExecOptions{Cwd: "/tmp"}, "pwd")
	if string(res.Stdout) != "/tmp\n" {
		t.Errorf("pwd with Cwd /tmp printed %q", res.Stdout)
	}
	res = run(t, d, name, lxcdriver.ExecOptions{}, "pwd")
	if string(res.Stdout) != "/\n" {
		t.Errorf("pwd without Cwd printed %q", res.Stdout)
	}
	res = run(t, d, name, lxcdriver.ExecOptions{Env: []string{"CTPANEL_TEST=yes", "HOME=/home/x"}}, "env")
	env := strings.Split(string(res.Stdout), "\n")
	for _, want := range []string{"CTPANEL_TEST=yes", "HOME=/home/x"} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %s: %q", want, res.Stdout)
		}
	}
	if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "PATH=/") }) {
		t.Errorf("env has no PATH: %q", res.Stdout)
	}
	// Only the driver's minimal environment, liblxc's "container" marker
	// and what the caller asked for; nothing of the host's.
	expected := []string{"PATH", "HOME", "USER", "TERM", "container", "CTPANEL_TEST"}
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k != "" && os.Getenv(k) != "" && !slices.Contains(expected, k) {
			t.Errorf("host variable %s leaked into the container", k)
		}
	}
	res = run(t, d, name, lxcdriver.ExecOptions{}, "cat", "/ctpanel/no/such/file")
	if res.ExitCode != 1 || len(res.Stderr) == 0 {
		t.Errorf("cat of a missing file: exit %d, stderr %q; want exit 1 and a message", res.ExitCode, res.Stderr)
	}
	if _, err := d.Exec(testCtx(t), name, nil, lxcdriver.ExecOptions{}); err == nil {
		t.Error("exec of an empty command succeeded")
	}
}

func (s *suite) writeFile(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	name := create(t, d)

	// Stopped: straight into the rootfs.
	if err := d.WriteFile(ctx, name, "/root/stopped.txt", []byte("written while stopped\n"), 0o600); err != nil {
		t.Fatalf("write while stopped: %v", err)
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatalf("start: %v", err)
	}
	wantOutput(t, d, name, "written while stopped\n", "cat", "/root/stopped.txt")

	// Running: through the live root.
	if err := d.WriteFile(ctx, name, "/etc/hostname", []byte("written-while-running\n"), 0o644); err != nil {
		t.Fatalf("write while running: %v", err)
	}
	wantOutput(t, d, name, "written-while-running\n", "cat", "/etc/hostname")
	// Overwrite truncates.
	if err := d.WriteFile(ctx, name, "/etc/hostname", []byte("short\n"), 0o644); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	wantOutput(t, d, name, "short\n", "cat", "/etc/hostname")
	if err := d.WriteFile(ctx, name, "/opt/ctpanel/new/dir/file", []byte("deep\n"), 0o644); err != nil {
		t.Fatalf("write below missing directories: %v", err)
	}
	wantOutput(t, d, name, "deep\n", "cat", "/opt/ctpanel/new/dir/file")

	for _, bad := range []string{"etc/relative", "/etc/../escape", "/..", ""} {
		if err := d.WriteFile(ctx, name, bad, []byte("x"), 0o644); err == nil {
			t.Errorf("write %q succeeded", bad)
		}
	}
}

func (s *suite) freeze(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	name := createStarted(t, d)

	if err := d.Freeze(ctx, name); err != nil {
		t.Fatalf("freeze: %v", err)
	}
	wantState(t, d, name, lxcdriver.StateFrozen)
	info, err := d.Info(ctx, name)
	if err != nil || info.State != lxcdriver.StateFrozen || info.InitPID <= 0 {
		t.Errorf("info of a frozen container = %+v, %v", info, err)
	}
	if err := d.Freeze(ctx, name); err != nil {
		t.Errorf("freeze a frozen container: %v", err)
	}
	_, err = d.Exec(ctx, name, []string{"echo", "hello"}, lxcdriver.ExecOptions{})
	wantErr(t, "exec in a frozen container", err, lxcdriver.ErrFrozen)
	wantErr(t, "start a frozen container", d.Start(ctx, name), lxcdriver.ErrFrozen)
	wantErr(t, "destroy a frozen container", d.Destroy(ctx, name), lxcdriver.ErrRunning)
	wantErr(t, "clone a frozen container", d.Clone(ctx, name, newName(), lxcdriver.CloneOptions{IDMap: nextIDMap()}), lxcdriver.ErrRunning)
	// Files can be written while frozen; nothing in the container runs.
	if err := d.WriteFile(ctx, name, "/root/frozen.txt", []byte("cold\n"), 0o644); err != nil {
		t.Errorf("write while frozen: %v", err)
	}

	if err := d.Unfreeze(ctx, name); err != nil {
		t.Fatalf("unfreeze: %v", err)
	}
	wantState(t, d, name, lxcdriver.StateRunning)
	if err := d.Unfreeze(ctx, name); err != nil {
		t.Errorf("unfreeze a running container: %v", err)
	}
	wantOutput(t, d, name, "hello\n", "echo", "hello")
	wantOutput(t, d, name, "cold\n", "cat", "/root/frozen.txt")

	// Several rounds: the fast path must settle every time.
	for i := range 5 {
		if err := d.Freeze(ctx, name); err != nil {
			t.Fatalf("freeze round %d: %v", i, err)
		}
		wantState(t, d, name, lxcdriver.StateFrozen)
		if err := d.Unfreeze(ctx, name); err != nil {
			t.Fatalf("unfreeze round %d: %v", i, err)
		}
		wantState(t, d, name, lxcdriver.StateRunning)
	}

	// Stop works on a frozen container.
	if err := d.Freeze(ctx, name); err != nil {
		t.Fatalf("freeze before stop: %v", err)
	}
	if err := d.Stop(ctx, name); err != nil {
		t.Fatalf("stop a frozen container: %v", err)
	}
	wantState(t, d, name, lxcdriver.StateStopped)
	if err := d.Start(ctx, name); err != nil {
		t.Fatalf("start after a frozen stop: %v", err)
	}
	wantOutput(t, d, name, "hello\n", "echo", "hello")
}

func (s *suite) shutdownRestart(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	name := createStarted(t, d)

	if err := d.Shutdown(ctx, name, shutdownTimeout); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	wantState(t, d, name, lxcdriver.StateStopped)
	if err := d.Shutdown(ctx, name, shutdownTimeout); err != nil {
		t.Errorf("shut down a stopped container: %v", err)
	}

	if err := d.Restart(ctx, name, shutdownTimeout); err != nil {
		t.Fatalf("restart a stopped container: %v", err)
	}
	wantState(t, d, name, lxcdriver.StateRunning)
	before := pid(t, d, name)
	if err := d.Freeze(ctx, name); err != nil {
		t.Fatalf("freeze: %v", err)
	}
	// Restart of a frozen container: thawed, halted, started.
	if err := d.Restart(ctx, name, shutdownTimeout); err != nil {
		t.Fatalf("restart: %v", err)
	}
	wantState(t, d, name, lxcdriver.StateRunning)
	if after := pid(t, d, name); after == before {
		t.Errorf("init pid %d unchanged by restart", after)
	}
	wantOutput(t, d, name, "hello\n", "echo", "hello")

	// An init that ignores the halt signal is killed once timeout passes.
	err := d.SetConfig(ctx, name, []lxcdriver.ConfigItem{{Key: "lxc.signal.halt", Value: "SIGWINCH"}})
	if err != nil {
		t.Fatalf("set lxc.signal.halt: %v", err)
	}
	if err := d.Shutdown(ctx, name, 300*time.Millisecond); err != nil {
		t.Fatalf("shutdown past its timeout: %v", err)
	}
	wantState(t, d, name, lxcdriver.StateStopped)
}

func pid(t *testing.T, d lxcdriver.Driver, name string) int {
	t.Helper()
	info, err := d.Info(testCtx(t), name)
	if err != nil {
		t.Fatalf("info %s: %v", name, err)
	}
	if info.InitPID <= 0 {
		t.Fatalf("info %s: init pid %d", name, info.InitPID)
	}
	return info.InitPID
}

func (s *suite) cloneFull(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	origin := create(t, d)
	if err := d.WriteFile(ctx, origin, "/root/note", []byte("origin\n"), 0o644); err != nil {
		t.Fatalf("write note: %v", err)
	}

	dst := newName()
	cleanup(t, d, dst)
	err := d.Clone(ctx, origin, dst, lxcdriver.CloneOptions{IDMap: nextIDMap(), Config: []lxcdriver.ConfigItem{{Key: "lxc.uts.name", Value: "ct" + dst}}})
	if err != nil {
		t.Fatalf("clone: %v", err)
	}
	wantState(t, d, dst, lxcdriver.StateStopped)
	if !listed(t, d, dst) {
		t.Errorf("list does not contain clone %s", dst)
	}
	if got, _ := d.ConfigItem(ctx, dst, "lxc.rootfs.path"); !strings.Contains(got, "/"+dst+"/") || strings.Contains(got, "/"+origin+"/") {
		t.Errorf("full clone rootfs = %q, want a directory of its own", got)
	}
	if got, _ := d.ConfigItem(ctx, dst, "lxc.net.0.type"); got != "empty" {
		t.Errorf("clone lxc.net.0.type = %q, want it copied from the origin", got)
	}

	wantErr(t, "clone onto an existing name", d.Clone(ctx, origin, dst, lxcdriver.CloneOptions{IDMap: nextIDMap()}), lxcdriver.ErrExists)

	if err := d.Start(ctx, dst); err != nil {
		t.Fatalf("start clone: %v", err)
	}
	wantOutput(t, d, dst, "hello\n", "echo", "hello")
	wantOutput(t, d, dst, "ct"+dst+"\n", "hostname")
	wantOutput(t, d, dst, "origin\n", "cat", "/root/note")

	// A running source cannot be cloned.
	if err := d.Start(ctx, origin); err != nil {
		t.Fatalf("start origin: %v", err)
	}
	other := newName()
	cleanup(t, d, other)
	wantErr(t, "clone a running container", d.Clone(ctx, origin, other, lxcdriver.CloneOptions{IDMap: nextIDMap()}), lxcdriver.ErrRunning)
	if _, err := d.State(ctx, other); !errors.Is(err, lxcdriver.ErrNotFound) {
		t.Errorf("refused clone left %s behind (state error %v)", other, err)
	}
}

func (s *suite) cloneSnapshot(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	unpriv := create(t, d)
	refused := newName()
	cleanup(t, d, refused)
	wantErr(t, "snapshot clone of an unprivileged container", d.Clone(ctx, unpriv, refused, lxcdriver.CloneOptions{Snapshot: true}), lxcdriver.ErrUnsupported)
	if _, err := d.State(ctx, refused); !errors.Is(err, lxcdriver.ErrNotFound) {
		t.Errorf("refused snapshot clone left %s behind (state error %v)", refused, err)
	}

	// Overlay snapshot clones remain for privileged containers made
	// before the panel made every container unprivileged.
	origin := createPrivileged(t, d)
	if err := d.WriteFile(ctx, origin, "/root/note", []byte("origin\n"), 0o644); err != nil {
		t.Fatalf("write note: %v", err)
	}

	snap := newName()
	cleanup(t, d, snap)
	err := d.Clone(ctx, origin, snap, lxcdriver.CloneOptions{
		Snapshot: true,
		Config:   []lxcdriver.ConfigItem{{Key: "lxc.uts.name", Value: "snap" + snap}},
	})
	if err != nil {
		t.Fatalf("snapshot clone: %v", err)
	}
	// An overlay: LOWER:UPPER, the origin's rootfs below the clone's own.
	if got, _ := d.ConfigItem(ctx, snap, "lxc.rootfs.path"); !strings.Contains(got, "/"+origin+"/") || !strings.Contains(got, ":") || !strings.Contains(got, "/"+snap+"/") {
		t.Errorf("snapshot clone rootfs = %q, want the origin's rootfs below the clone's own layer", got)
	}
	if err := d.Start(ctx, snap); err != nil {
		t.Fatalf("start snapshot clone: %v", err)
	}
	wantOutput(t, d, snap, "hello\n", "echo", "hello")
	wantOutput(t, d, snap, "snap"+snap+"\n", "hostname")
	wantOutput(t, d, snap, "origin\n", "cat", "/root/note")

	// Writes to the clone, running and stopped, stay in the clone.
	if err := d.WriteFile(ctx, snap, "/root/note", []byte("clone\n"), 0o644); err != nil {
		t.Fatalf("write into running snapshot clone: %v", err)
	}
	wantOutput(t, d, snap, "clone\n", "cat", "/root/note")
	if err := d.Stop(ctx, snap); err != nil {
		t.Fatalf("stop snapshot clone: %v", err)
	}
	if err := d.WriteFile(ctx, snap, "/etc/clone-only", []byte("stopped clone\n"), 0o644); err != nil {
		t.Fatalf("write into stopped snapshot clone: %v", err)
	}

	if err := d.Start(ctx, origin); err != nil {
		t.Fatalf("start origin: %v", err)
	}
	wantOutput(t, d, origin, "origin\n", "cat", "/root/note")
	if res := run(t, d, origin, lxcdriver.ExecOptions{}, "cat", "/etc/clone-only"); res.ExitCode == 0 {
		t.Errorf("origin sees the clone's file: %q", res.Stdout)
	}
	if err := d.Stop(ctx, origin); err != nil {
		t.Fatalf("stop origin: %v", err)
	}

	if err := d.Start(ctx, snap); err != nil {
		t.Fatalf("start snapshot clone again: %v", err)
	}
	wantOutput(t, d, snap, "stopped clone\n", "cat", "/etc/clone-only")
	wantOutput(t, d, snap, "clone\n", "cat", "/root/note")
	if err := d.Stop(ctx, snap); err != nil {
		t.Fatalf("stop snapshot clone: %v", err)
	}

	// liblxc keeps an origin while snapshot clones depend on it.
	if err := d.Destroy(ctx, origin); err == nil {
		t.Fatalf("destroy of an origin with a snapshot clone succeeded")
	}
	wantState(t, d, origin, lxcdriver.StateStopped)
	if err := d.Destroy(ctx, snap); err != nil {
		t.Fatalf("destroy snapshot clone: %v", err)
	}
	if err := d.Destroy(ctx, origin); err != nil {
		t.Fatalf("destroy origin after its clone: %v", err)
	}
	for _, n := range []string{snap, origin} {
		if listed(t, d, n) {
			t.Errorf("list still contains %s", n)
		}
	}
}

func (s *suite) rootfsTarball(t *testing.T) {
	if s.cfg.rootfsTarball == "" {
		t.Fatal("drivertest: pass WithRootfsTarball to Exercise")
	}
	d := s.newDriver(t)
	ctx := testCtx(t)
	name := newName()
	cleanup(t, d, name)
	err := d.Create(ctx, name, lxcdriver.CreateOptions{IDMap: nextIDMap(), RootfsTarball: s.cfg.rootfsTarball, Config: baseConfig(name)})
	if err != nil {
		t.Fatalf("create from %s: %v", s.cfg.rootfsTarball, err)
	}
	wantState(t, d, name, lxcdriver.StateStopped)
	if got, _ := d.ConfigItem(ctx, name, "lxc.rootfs.path"); !strings.Contains(got, "/"+name+"/") || strings.Contains(got, ":") {
		t.Errorf("lxc.rootfs.path = %q, want a directory of its own", got)
	}
	if got, _ := d.ConfigItem(ctx, name, "lxc.net.0.type"); got != "empty" {
		t.Errorf("lxc.net.0.type = %q, want empty", got)
	}
	err = d.Create(ctx, name, lxcdriver.CreateOptions{IDMap: nextIDMap(), RootfsTarball: s.cfg.rootfsTarball})
	wantErr(t, "create from tarball again", err, lxcdriver.ErrExists)
	if err := d.Start(ctx, name); err != nil {
		t.Fatalf("start: %v", err)
	}
	wantOutput(t, d, name, "hello\n", "echo", "hello")
	wantOutput(t, d, name, "ct"+name+"\n", "hostname")
	if err := d.Stop(ctx, name); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func (s *suite) destroy(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	name := create(t, d)
	if err := d.Destroy(ctx, name); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	_, err := d.State(ctx, name)
	wantErr(t, "state after destroy", err, lxcdriver.ErrNotFound)
	if listed(t, d, name) {
		t.Errorf("list still contains %s", name)
	}
	wantErr(t, "destroy again", d.Destroy(ctx, name), lxcdriver.ErrNotFound)
	// The name is free again.
	if err := d.Create(ctx, name, lxcdriver.CreateOptions{IDMap: nextIDMap(), Template: "busybox", Config: baseConfig(name)}); err != nil {
		t.Fatalf("create after destroy: %v", err)
	}
}

func (s *suite) missing(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	name := newName()
	checks := map[string]func() error{
		"start":    func() error { return d.Start(ctx, name) },
		"stop":     func() error { return d.Stop(ctx, name) },
		"shutdown": func() error { return d.Shutdown(ctx, name, time.Second) },
		"restart":  func() error { return d.Restart(ctx, name, time.Second) },
		"freeze":   func() error { return d.Freeze(ctx, name) },
		"unfreeze": func() error { return d.Unfreeze(ctx, name) },
		"destroy":  func() error { return d.Destroy(ctx, name) },
		"clone": func() error {
			return d.Clone(ctx, name, newName(), lxcdriver.CloneOptions{IDMap: nextIDMap()})
		},
		"state": func() error { _, err := d.State(ctx, name); return err },
		"info":  func() error { _, err := d.Info(ctx, name); return err },
		"exec": func() error {
			_, err := d.Exec(ctx, name, []string{"true"}, lxcdriver.ExecOptions{})
			return err
		},
		"set config": func() error {
			return d.SetConfig(ctx, name, []lxcdriver.ConfigItem{{Key: "lxc.uts.name", Value: "x"}})
		},
		"config item":  func() error { _, err := d.ConfigItem(ctx, name, "lxc.uts.name"); return err },
		"beancounters": func() error { _, err := d.Beancounters(ctx, name); return err },
		"set limits": func() error {
			n := uint64(10)
			return d.SetLimits(ctx, name, lxcdriver.Limits{NumProc: &n})
		},
		"write file": func() error {
			return d.WriteFile(ctx, name, "/etc/hostname", []byte("x\n"), 0o644)
		},
	}
	for what, f := range checks {
		wantErr(t, what+" of a missing container", f(), lxcdriver.ErrNotFound)
	}
	if listed(t, d, name) {
		t.Errorf("list contains missing container %s", name)
	}
}

// concurrent drives several containers at once: the interface promises
// that much.
func (s *suite) concurrent(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	const n = 4
	names := make([]string, n)
	for i := range names {
		names[i] = newName()
		cleanup(t, d, names[i])
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- lifecycle(ctx, d, name)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func lifecycle(ctx context.Context, d lxcdriver.Driver, name string) error {
	if err := d.Create(ctx, name, lxcdriver.CreateOptions{IDMap: nextIDMap(), Template: "busybox", Config: baseConfig(name)}); err != nil {
		return err
	}
	if err := d.Start(ctx, name); err != nil {
		return err
	}
	for i := range 3 {
		want := fmt.Sprintf("%s-%d\n", name, i)
		res, err := d.Exec(ctx, name, []string{"echo", strings.TrimSuffix(want, "\n")}, lxcdriver.ExecOptions{})
		if err != nil {
			return err
		}
		if !bytes.Equal(res.Stdout, []byte(want)) {
			return fmt.Errorf("exec echo in %s printed %q, want %q", name, res.Stdout, want)
		}
		if err := d.Freeze(ctx, name); err != nil {
			return err
		}
		if err := d.Unfreeze(ctx, name); err != nil {
			return err
		}
	}
	if err := d.Stop(ctx, name); err != nil {
		return err
	}
	return d.Destroy(ctx, name)
}

func u64(v uint64) *uint64 { return &v }

// beancounters reads the rows of name and checks what every row set
// must satisfy: resources in the documented order, each at most once,
// held within maxheld, barrier within limit; numproc, physpages, cpu and
// oom always present; no tcprcvbuf (the kernel has one socket buffer
// counter, reported as tcpsndbuf).
func beancounters(t *testing.T, d lxcdriver.Driver, name string) map[string]lxcdriver.Counter {
	t.Helper()
	rows, err := d.Beancounters(testCtx(t), name)
	if err != nil {
		t.Fatalf("beancounters %s: %v", name, err)
	}
	order := []string{lxcdriver.ResNumProc, lxcdriver.ResPhysPages, lxcdriver.ResSwapPages,
		lxcdriver.ResKmemSize, lxcdriver.ResTCPSndBuf, lxcdriver.ResTCPRcvBuf, lxcdriver.ResCPU, lxcdriver.ResOOM}
	byRes := make(map[string]lxcdriver.Counter, len(rows))
	last := -1
	for _, r := range rows {
		i := slices.Index(order, r.Resource)
		if i < 0 {
			t.Errorf("unknown resource row %+v", r)
			continue
		}
		if i <= last {
			t.Errorf("row %s out of order or repeated in %v", r.Resource, rows)
		}
		last = i
		byRes[r.Resource] = r
		if r.Held > r.MaxHeld && r.Resource != lxcdriver.ResCPU {
			t.Errorf("%s held %d above maxheld %d", r.Resource, r.Held, r.MaxHeld)
		}
		if r.Barrier > r.Limit && r.Resource != lxcdriver.ResCPU {
			t.Errorf("%s barrier %d above limit %d", r.Resource, r.Barrier, r.Limit)
		}
	}
	for _, res := range []string{lxcdriver.ResNumProc, lxcdriver.ResPhysPages, lxcdriver.ResCPU, lxcdriver.ResOOM} {
		if _, ok := byRes[res]; !ok {
			t.Errorf("no %s row in %v", res, rows)
		}
	}
	if _, ok := byRes[lxcdriver.ResTCPRcvBuf]; ok {
		t.Errorf("a tcprcvbuf row: %v", rows)
	}
	if oom := byRes[lxcdriver.ResOOM]; oom.Held != 0 || oom.Barrier != lxcdriver.Unlimited || oom.Limit != lxcdriver.Unlimited {
		t.Errorf("oom row %+v, want only a failcnt", oom)
	}
	return byRes
}

// wantLimits checks the barrier and limit of one row.
func wantLimits(t *testing.T, rows map[string]lxcdriver.Counter, res string, barrier, limit uint64) {
	t.Helper()
	r := rows[res]
	if r.Barrier != barrier || r.Limit != limit {
		t.Errorf("%s barrier:limit = %d:%d, want %d:%d (row %+v)", res, r.Barrier, r.Limit, barrier, limit, r)
	}
}

func (s *suite) limits(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	name := create(t, d)

	_, err := d.Beancounters(ctx, name)
	wantErr(t, "beancounters of a stopped container", err, lxcdriver.ErrNotRunning)

	// Saved while stopped, in force at start.
	err = d.SetLimits(ctx, name, lxcdriver.Limits{
		NumProc:    u64(64),
		MemSoft:    u64(48 << 20),
		MemHard:    u64(64 << 20),
		CPUUnits:   u64(500),
		CPULimitPc: u64(50),
	})
	if err != nil {
		t.Fatalf("set limits while stopped: %v", err)
	}
	if _, err := d.Beancounters(ctx, name); !errors.Is(err, lxcdriver.ErrNotRunning) {
		t.Errorf("beancounters after set limits while stopped: error %v, want %v", err, lxcdriver.ErrNotRunning)
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatalf("start: %v", err)
	}
	rows := beancounters(t, d, name)
	wantLimits(t, rows, lxcdriver.ResNumProc, 64, 64)
	wantLimits(t, rows, lxcdriver.ResPhysPages, 48<<20/4096, 64<<20/4096)
	wantLimits(t, rows, lxcdriver.ResCPU, 500, 50)
	if np := rows[lxcdriver.ResNumProc]; np.Held < 1 || np.Held > 64 {
		t.Errorf("numproc held %d, want 1..64", np.Held)
	}
	if pp := rows[lxcdriver.ResPhysPages]; pp.Held == 0 || pp.Held > pp.Limit {
		t.Errorf("physpages held %d, want some and at most the limit %d", pp.Held, pp.Limit)
	}
	wantOutput(t, d, name, "hello\n", "echo", "hello")

	// Live: the rows change, the container is not restarted.
	before := pid(t, d, name)
	err = d.SetLimits(ctx, name, lxcdriver.Limits{
		NumProc:    u64(32),
		MemHard:    u64(128 << 20),
		CPULimitPc: u64(lxcdriver.Unlimited),
	})
	if err != nil {
		t.Fatalf("set limits live: %v", err)
	}
	rows = beancounters(t, d, name)
	wantLimits(t, rows, lxcdriver.ResNumProc, 32, 32)
	wantLimits(t, rows, lxcdriver.ResPhysPages, 48<<20/4096, 128<<20/4096) // barrier untouched
	wantLimits(t, rows, lxcdriver.ResCPU, 500, lxcdriver.Unlimited)
	if after := pid(t, d, name); after != before {
		t.Errorf("init pid %d became %d: set limits restarted the container", before, after)
	}

	// Frozen containers have rows too.
	if err := d.Freeze(ctx, name); err != nil {
		t.Fatalf("freeze: %v", err)
	}
	wantLimits(t, beancounters(t, d, name), lxcdriver.ResNumProc, 32, 32)
	if err := d.Unfreeze(ctx, name); err != nil {
		t.Fatalf("unfreeze: %v", err)
	}

	// The live change was saved: it survives a stop and a start.
	if err := d.Stop(ctx, name); err != nil {
		t.Fatalf("stop: %v", err)
	}
	_, err = d.Beancounters(ctx, name)
	wantErr(t, "beancounters after stop", err, lxcdriver.ErrNotRunning)
	if err := d.Start(ctx, name); err != nil {
		t.Fatalf("start again: %v", err)
	}
	rows = beancounters(t, d, name)
	wantLimits(t, rows, lxcdriver.ResNumProc, 32, 32)
	wantLimits(t, rows, lxcdriver.ResPhysPages, 48<<20/4096, 128<<20/4096)
	wantLimits(t, rows, lxcdriver.ResCPU, 500, lxcdriver.Unlimited)

	// Unlimited removes a limit, live and saved.
	err = d.SetLimits(ctx, name, lxcdriver.Limits{NumProc: u64(lxcdriver.Unlimited), MemSoft: u64(lxcdriver.Unlimited)})
	if err != nil {
		t.Fatalf("remove limits: %v", err)
	}
	rows = beancounters(t, d, name)
	wantLimits(t, rows, lxcdriver.ResNumProc, lxcdriver.Unlimited, lxcdriver.Unlimited)
	// A soft limit above the hard one never applies: barrier = limit.
	wantLimits(t, rows, lxcdriver.ResPhysPages, 128<<20/4096, 128<<20/4096)
	// Stop, not Restart: busybox init ignores the halt signal until it
	// has set up its handlers, and Restart would then wait it out.
	if err := d.Stop(ctx, name); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatalf("start: %v", err)
	}
	rows = beancounters(t, d, name)
	wantLimits(t, rows, lxcdriver.ResNumProc, lxcdriver.Unlimited, lxcdriver.Unlimited)
	wantLimits(t, rows, lxcdriver.ResPhysPages, 128<<20/4096, 128<<20/4096)

	// A clone copies the saved limits.
	if err := d.Stop(ctx, name); err != nil {
		t.Fatalf("stop before clone: %v", err)
	}
	dst := newName()
	cleanup(t, d, dst)
	if err := d.Clone(ctx, name, dst, lxcdriver.CloneOptions{IDMap: nextIDMap(), Config: []lxcdriver.ConfigItem{{Key: "lxc.uts.name", Value: "ct" + dst}}}); err != nil {
		t.Fatalf("clone: %v", err)
	}
	if err := d.Start(ctx, dst); err != nil {
		t.Fatalf("start clone: %v", err)
	}
	wantLimits(t, beancounters(t, d, dst), lxcdriver.ResPhysPages, 128<<20/4096, 128<<20/4096)
}

// unprivileged: id maps are kept by create and clone, and a privileged
// container converts, stopped only, keeping its files.
func (s *suite) unprivileged(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	wantMap := func(name string, want *lxcdriver.IDMap) {
		t.Helper()
		got, err := d.IDMapOf(ctx, name)
		if err != nil {
			t.Fatalf("id map of %s: %v", name, err)
		}
		if (got == nil) != (want == nil) || (got != nil && *got != *want) {
			t.Errorf("id map of %s = %+v, want %+v", name, got, want)
		}
	}
	name := newName()
	cleanup(t, d, name)
	m := nextIDMap()
	if err := d.Create(ctx, name, lxcdriver.CreateOptions{IDMap: m, Template: "busybox", Config: baseConfig(name)}); err != nil {
		t.Fatalf("create: %v", err)
	}
	wantMap(name, m)
	dst := newName()
	cleanup(t, d, dst)
	m2 := nextIDMap()
	if err := d.Clone(ctx, name, dst, lxcdriver.CloneOptions{IDMap: m2, Config: baseConfig(dst)}); err != nil {
		t.Fatalf("clone: %v", err)
	}
	wantMap(dst, m2)
	wantMap(name, m)
	if err := d.Unprivilege(ctx, name, lxcdriver.IDMap{}); err == nil {
		t.Errorf("unprivilege with an empty map succeeded")
	}

	priv := createPrivileged(t, d)
	wantMap(priv, nil)
	if err := d.WriteFile(ctx, priv, "/root/note", []byte("kept\n"), 0o600); err != nil {
		t.Fatalf("write note: %v", err)
	}
	start(t, d, priv)
	pm := nextIDMap()
	wantErr(t, "unprivilege a running container", d.Unprivilege(ctx, priv, *pm), lxcdriver.ErrRunning)
	stop(t, d, priv)
	if err := d.Unprivilege(ctx, priv, *pm); err != nil {
		t.Fatalf("unprivilege: %v", err)
	}
	if err := d.Unprivilege(ctx, priv, *pm); err != nil {
		t.Errorf("unprivilege again with the same map: %v", err)
	}
	if err := d.Unprivilege(ctx, priv, *nextIDMap()); err == nil {
		t.Errorf("unprivilege again with another map succeeded")
	}
	wantMap(priv, pm)
	start(t, d, priv)
	wantOutput(t, d, priv, "kept\n", "cat", "/root/note")
	wantOutput(t, d, priv, "hello\n", "echo", "hello")
	wantErr(t, "unprivilege a missing container", d.Unprivilege(ctx, newName(), *nextIDMap()), lxcdriver.ErrNotFound)
}
