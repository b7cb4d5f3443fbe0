package drivertest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// WithDiskShell says the driver's containers run real commands (busybox's
// dd, rm and sh): the Disk subtests then also fill a disk from inside
// with dd. The Fake has no dd.
func WithDiskShell() Option {
	return func(c *config) { c.diskShell = true }
}

// WithDestroyedDiskCheck gives the Disk subtests a check run after a
// container with a disk is destroyed, for what only the caller can see:
// the liblxc driver's image file and loop devices.
func WithDestroyedDiskCheck(check func(t *testing.T, name string)) Option {
	return func(c *config) { c.destroyedDisk = check }
}

// WithoutLiveDiskGrow says the host cannot grow a running container's
// disk (the liblxc driver without CAP_SYS_RESOURCE): Resize must then
// refuse with ErrUnsupported, and the Disk subtests grow disks stopped
// only.
func WithoutLiveDiskGrow() Option {
	return func(c *config) { c.noLiveGrow = true }
}

const mib = 1 << 20

// createDisk makes a busybox container on a disk of size bytes and
// schedules its removal.
func createDisk(t *testing.T, d lxcdriver.Driver, size uint64) string {
	t.Helper()
	name := newName()
	cleanup(t, d, name)
	err := d.Create(testCtx(t), name, lxcdriver.CreateOptions{
		IDMap:    nextIDMap(),
		Template: "busybox",
		Config:   baseConfig(name),
		Disk:     &lxcdriver.DiskOptions{SizeBytes: size},
	})
	if err != nil {
		t.Fatalf("create %s on a %d MiB disk: %v", name, size/mib, err)
	}
	return name
}

// diskUsage reads name's usage and checks what must always hold.
func diskUsage(t *testing.T, d lxcdriver.Driver, name string) lxcdriver.DiskUsage {
	t.Helper()
	u, err := d.DiskUsage(testCtx(t), name)
	if err != nil {
		t.Fatalf("disk usage %s: %v", name, err)
	}
	if u.SizeBytes == 0 || u.UsedBytes == 0 || u.UsedBytes > u.SizeBytes {
		t.Errorf("disk usage %s = %+v: want some bytes used, at most the size", name, u)
	}
	if u.Inodes == 0 || u.InodesUsed == 0 || u.InodesUsed > u.Inodes {
		t.Errorf("disk usage %s = %+v: want some inodes used, at most the inode count", name, u)
	}
	return u
}

// within says got is within pct percent of want.
func within(got, want uint64, pct float64) bool {
	diff := float64(got) - float64(want)
	return diff <= float64(want)*pct/100 && -diff <= float64(want)*pct/100
}

// wantDiskSize checks a loop disk's size as DiskUsage reports it and,
// when it runs, as df inside the container does.
func wantDiskSize(t *testing.T, d lxcdriver.Driver, name string, want uint64, pct float64) lxcdriver.DiskUsage {
	t.Helper()
	u := diskUsage(t, d, name)
	if !u.Loop {
		t.Errorf("disk usage %s = %+v: not a loop disk", name, u)
	}
	if !within(u.SizeBytes, want, pct) {
		t.Errorf("disk of %s is %d bytes (%.1f MiB), want %d MiB ± %.0f%%", name, u.SizeBytes, float64(u.SizeBytes)/mib, want/mib, pct)
	}
	if st, err := d.State(testCtx(t), name); err == nil && st == lxcdriver.StateRunning {
		size, used := df(t, d, name)
		// df and statfs are the same call; only the files written in
		// between (none here) could tell them apart.
		if !within(size, u.SizeBytes, 0.1) {
			t.Errorf("df -k / in %s says %d KiB, DiskUsage %d KiB", name, size/1024, u.SizeBytes/1024)
		}
		if used > u.UsedBytes+mib || used+mib < u.UsedBytes {
			t.Errorf("df -k / in %s says %d KiB used, DiskUsage %d KiB", name, used/1024, u.UsedBytes/1024)
		}
	}
	return u
}

// df runs df -k / in the container and returns its size and used bytes.
func df(t *testing.T, d lxcdriver.Driver, name string) (size, used uint64) {
	t.Helper()
	res := run(t, d, name, lxcdriver.ExecOptions{}, "df", "-k", "/")
	lines := strings.SplitN(strings.TrimSpace(string(res.Stdout)), "\n", 2)
	if res.ExitCode != 0 || len(lines) != 2 {
		t.Fatalf("df -k / in %s: exit %d, stdout %q, stderr %q", name, res.ExitCode, res.Stdout, res.Stderr)
	}
	// Filesystem 1K-blocks Used Available Use% Mounted on; a long
	// filesystem name wraps onto a line of its own.
	f := strings.Fields(lines[1])
	if len(f) < 6 {
		t.Fatalf("df -k / in %s: cannot read %q", name, res.Stdout)
	}
	blocks, err1 := strconv.ParseUint(f[1], 10, 64)
	usedK, err2 := strconv.ParseUint(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("df -k / in %s: cannot read %q", name, res.Stdout)
	}
	return blocks * 1024, usedK * 1024
}

func start(t *testing.T, d lxcdriver.Driver, name string) {
	t.Helper()
	if err := d.Start(testCtx(t), name); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
}

func stop(t *testing.T, d lxcdriver.Driver, name string) {
	t.Helper()
	if err := d.Stop(testCtx(t), name); err != nil {
		t.Fatalf("stop %s: %v", name, err)
	}
}

func resize(t *testing.T, d lxcdriver.Driver, name string, size uint64) {
	t.Helper()
	if err := d.Resize(testCtx(t), name, size); err != nil {
		t.Fatalf("resize %s to %d MiB: %v", name, size/mib, err)
	}
}

func (s *suite) disk(t *testing.T) {
	t.Run("Create", s.diskCreate)
	t.Run("Resize", s.diskResize)
	t.Run("Clone", s.diskClone)
	t.Run("RootfsTarball", s.diskTarball)
	t.Run("Errors", s.diskErrors)
}

// diskCreate: a disk of 64 MiB is what df shows, stopped and running,
// and a write past it fails with ENOSPC; destroy takes the disk along.
func (s *suite) diskCreate(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	name := createDisk(t, d, 64*mib)
	stopped := wantDiskSize(t, d, name, 64*mib, 10)
	if got, _ := d.ConfigItem(ctx, name, "lxc.rootfs.path"); !strings.Contains(got, "/"+name+"/") {
		t.Errorf("lxc.rootfs.path = %q, want a disk in the container's own directory", got)
	}

	start(t, d, name)
	wantOutput(t, d, name, "hello\n", "echo", "hello")
	running := wantDiskSize(t, d, name, 64*mib, 10)
	if running.SizeBytes != stopped.SizeBytes || running.Inodes != stopped.Inodes {
		t.Errorf("disk usage running %+v, stopped %+v: different sizes", running, stopped)
	}

	// Past the quota: ENOSPC, through the driver and from inside.
	err := d.WriteFile(ctx, name, "/big", make([]byte, 100*mib), 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("write 100 MiB on a 64 MiB disk: error %v, want %v", err, syscall.ENOSPC)
	}
	if u := diskUsage(t, d, name); u.UsedBytes+4*mib < u.SizeBytes {
		t.Errorf("disk usage after filling the disk = %+v, want it (nearly) full", u)
	}
	if err := d.WriteFile(ctx, name, "/big", []byte("small\n"), 0o644); err != nil {
		t.Fatalf("overwrite /big with a small file on a full disk: %v", err)
	}
	if u := diskUsage(t, d, name); u.UsedBytes > running.UsedBytes+mib {
		t.Errorf("disk usage after freeing the disk = %+v, want about %d bytes used again", u, running.UsedBytes)
	}
	if s.cfg.diskShell {
		res := run(t, d, name, lxcdriver.ExecOptions{}, "dd", "if=/dev/zero", "of=/big", "bs=1M", "count=100")
		if res.ExitCode == 0 || !strings.Contains(string(res.Stderr), "No space left") {
			t.Errorf("dd of 100 MiB on a 64 MiB disk: exit %d, stderr %q; want a failure with \"No space left\"", res.ExitCode, res.Stderr)
		}
		wantOutput(t, d, name, "", "rm", "/big")
	}
	wantDiskSize(t, d, name, 64*mib, 10)

	stop(t, d, name)
	if err := d.Destroy(ctx, name); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	_, err = d.DiskUsage(ctx, name)
	wantErr(t, "disk usage after destroy", err, lxcdriver.ErrNotFound)
	if s.cfg.destroyedDisk != nil {
		s.cfg.destroyedDisk(t, name)
	}
}

// diskResize: grow live and stopped, shrink only stopped and only as far
// as the files allow.
func (s *suite) diskResize(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	name := createDisk(t, d, 64*mib)
	start(t, d, name)
	pidBefore := pid(t, d, name)

	err := d.Resize(ctx, name, 32*mib)
	wantErr(t, "shrink a running container's disk", err, lxcdriver.ErrRunning)
	wantDiskSize(t, d, name, 64*mib, 2)

	if s.cfg.noLiveGrow {
		err := d.Resize(ctx, name, 96*mib)
		wantErr(t, "grow a running container's disk on a host that cannot", err, lxcdriver.ErrUnsupported)
		t.Logf("live grow not supported here: %v", err)
		wantDiskSize(t, d, name, 64*mib, 2)
		stop(t, d, name)
		resize(t, d, name, 96*mib)
		start(t, d, name)
	} else {
		resize(t, d, name, 96*mib) // live
	}
	wantDiskSize(t, d, name, 96*mib, 2)
	if after := pid(t, d, name); after != pidBefore && !s.cfg.noLiveGrow {
		t.Errorf("init pid %d became %d: a live resize restarted the container", pidBefore, after)
	}
	resize(t, d, name, 96*mib) // the same size again: nothing to do, even live
	wantDiskSize(t, d, name, 96*mib, 2)

	stop(t, d, name)
	resize(t, d, name, 128*mib) // stopped
	wantDiskSize(t, d, name, 128*mib, 2)
	start(t, d, name)
	wantDiskSize(t, d, name, 128*mib, 2)
	wantOutput(t, d, name, "hello\n", "echo", "hello")

	// 40 MiB of files do not fit in 32 MiB: refused, nothing changed.
	if err := d.WriteFile(ctx, name, "/data", make([]byte, 40*mib), 0o644); err != nil {
		t.Fatalf("write 40 MiB: %v", err)
	}
	stop(t, d, name)
	err = d.Resize(ctx, name, 32*mib)
	wantErr(t, "shrink below the files' size", err, lxcdriver.ErrDiskTooSmall)
	if u := wantDiskSize(t, d, name, 128*mib, 2); u.UsedBytes < 40*mib {
		t.Errorf("disk usage after a refused shrink = %+v, want the 40 MiB file still there", u)
	}

	// Without them it does.
	if err := d.WriteFile(ctx, name, "/data", []byte("small\n"), 0o644); err != nil {
		t.Fatalf("overwrite /data: %v", err)
	}
	resize(t, d, name, 48*mib)
	wantDiskSize(t, d, name, 48*mib, 2)
	start(t, d, name)
	wantDiskSize(t, d, name, 48*mib, 2)
	wantOutput(t, d, name, "small\n", "cat", "/data")

	if err := d.Resize(ctx, name, lxcdriver.MinDiskBytes-1); err == nil {
		t.Errorf("resize below the minimum size succeeded")
	}
}

// diskClone: full clones copy onto a disk (of the asked size, or the
// origin's); snapshot clones of a disk are refused.
func (s *suite) diskClone(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	origin := createDisk(t, d, 64*mib)
	if err := d.WriteFile(ctx, origin, "/root/note", []byte("origin\n"), 0o644); err != nil {
		t.Fatalf("write note: %v", err)
	}
	clone := func(src string, opts lxcdriver.CloneOptions) (string, error) {
		dst := newName()
		cleanup(t, d, dst)
		opts.Config = append(opts.Config, lxcdriver.ConfigItem{Key: "lxc.uts.name", Value: "ct" + dst})
		opts.IDMap = nextIDMap()
		return dst, d.Clone(ctx, src, dst, opts)
	}

	bigger, err := clone(origin, lxcdriver.CloneOptions{Disk: &lxcdriver.DiskOptions{SizeBytes: 96 * mib}})
	if err != nil {
		t.Fatalf("clone onto a 96 MiB disk: %v", err)
	}
	wantDiskSize(t, d, bigger, 96*mib, 2)
	start(t, d, bigger)
	wantDiskSize(t, d, bigger, 96*mib, 2)
	wantOutput(t, d, bigger, "origin\n", "cat", "/root/note")
	wantOutput(t, d, bigger, "ct"+bigger+"\n", "hostname")

	same, err := clone(origin, lxcdriver.CloneOptions{})
	if err != nil {
		t.Fatalf("full clone: %v", err)
	}
	wantDiskSize(t, d, same, 64*mib, 2)
	start(t, d, same)
	wantOutput(t, d, same, "origin\n", "cat", "/root/note")

	snap, err := clone(origin, lxcdriver.CloneOptions{Snapshot: true})
	wantErr(t, "snapshot clone of a container on a disk", err, lxcdriver.ErrUnsupported)
	if _, err := d.State(ctx, snap); !errors.Is(err, lxcdriver.ErrNotFound) {
		t.Errorf("refused snapshot clone left %s behind (state error %v)", snap, err)
	}

	// The origin's files do not fit in the clone's disk.
	if err := d.WriteFile(ctx, origin, "/data", make([]byte, 24*mib), 0o644); err != nil {
		t.Fatalf("write 24 MiB: %v", err)
	}
	small, err := clone(origin, lxcdriver.CloneOptions{Disk: &lxcdriver.DiskOptions{SizeBytes: lxcdriver.MinDiskBytes}})
	wantErr(t, "clone onto a disk too small", err, lxcdriver.ErrDiskTooSmall)
	if _, err := d.State(ctx, small); !errors.Is(err, lxcdriver.ErrNotFound) {
		t.Errorf("refused clone left %s behind (state error %v)", small, err)
	}

	// A directory container onto a disk.
	plain := create(t, d)
	if u := diskUsage(t, d, plain); u.Loop {
		t.Errorf("disk usage of a directory container = %+v, want Loop false", u)
	}
	onDisk, err := clone(plain, lxcdriver.CloneOptions{Disk: &lxcdriver.DiskOptions{SizeBytes: 32 * mib}})
	if err != nil {
		t.Fatalf("clone a directory container onto a disk: %v", err)
	}
	wantDiskSize(t, d, onDisk, 32*mib, 2)
	start(t, d, onDisk)
	wantDiskSize(t, d, onDisk, 32*mib, 2)
	wantOutput(t, d, onDisk, "hello\n", "echo", "hello")
	_, err = clone(plain, lxcdriver.CloneOptions{Snapshot: true, Disk: &lxcdriver.DiskOptions{SizeBytes: 32 * mib}})
	wantErr(t, "snapshot clone onto a disk", err, lxcdriver.ErrUnsupported)

	// An overlay cannot be idmapped: no snapshot clone of an
	// unprivileged container, and nothing left behind.
	snapPlain, err := clone(plain, lxcdriver.CloneOptions{Snapshot: true})
	wantErr(t, "snapshot clone of an unprivileged container", err, lxcdriver.ErrUnsupported)
	if _, err := d.State(ctx, snapPlain); !errors.Is(err, lxcdriver.ErrNotFound) {
		t.Errorf("refused snapshot clone left %s behind (state error %v)", snapPlain, err)
	}
}

// diskTarball: a template-cache tarball unpacked onto a disk.
func (s *suite) diskTarball(t *testing.T) {
	if s.cfg.rootfsTarball == "" {
		t.Fatal("drivertest: pass WithRootfsTarball to Exercise")
	}
	d := s.newDriver(t)
	ctx := testCtx(t)
	name := newName()
	cleanup(t, d, name)
	err := d.Create(ctx, name, lxcdriver.CreateOptions{
		IDMap:         nextIDMap(),
		RootfsTarball: s.cfg.rootfsTarball,
		Config:        baseConfig(name),
		Disk:          &lxcdriver.DiskOptions{SizeBytes: 64 * mib, FSType: "ext4"},
	})
	if err != nil {
		t.Fatalf("create from %s on a disk: %v", s.cfg.rootfsTarball, err)
	}
	wantDiskSize(t, d, name, 64*mib, 10)
	if err := d.WriteFile(ctx, name, "/root/stopped.txt", []byte("written while stopped\n"), 0o600); err != nil {
		t.Fatalf("write while stopped: %v", err)
	}
	start(t, d, name)
	wantDiskSize(t, d, name, 64*mib, 10)
	wantOutput(t, d, name, "hello\n", "echo", "hello")
	wantOutput(t, d, name, "ct"+name+"\n", "hostname")
	wantOutput(t, d, name, "written while stopped\n", "cat", "/root/stopped.txt")
	stop(t, d, name)
	if err := d.Destroy(ctx, name); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if s.cfg.destroyedDisk != nil {
		s.cfg.destroyedDisk(t, name)
	}
}

// diskErrors: what is refused, leaving nothing behind.
func (s *suite) diskErrors(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	for _, o := range []lxcdriver.DiskOptions{
		{SizeBytes: mib},
		{SizeBytes: 64 * mib, FSType: "xfs"},
	} {
		name := newName()
		cleanup(t, d, name)
		err := d.Create(ctx, name, lxcdriver.CreateOptions{Template: "busybox", Disk: &o})
		if err == nil {
			t.Errorf("create with disk %+v succeeded", o)
		}
		_, err = d.State(ctx, name)
		wantErr(t, fmt.Sprintf("state after a create with disk %+v", o), err, lxcdriver.ErrNotFound)
	}

	plain := create(t, d)
	wantErr(t, "resize a directory container", d.Resize(ctx, plain, 64*mib), lxcdriver.ErrNoDisk)
	if u := diskUsage(t, d, plain); u.Loop {
		t.Errorf("disk usage of a directory container = %+v, want Loop false", u)
	}
	start(t, d, plain)
	if u := diskUsage(t, d, plain); u.Loop {
		t.Errorf("disk usage of a running directory container = %+v, want Loop false", u)
	}
	wantErr(t, "resize a running directory container", d.Resize(ctx, plain, 64*mib), lxcdriver.ErrNoDisk)

	missing := newName()
	wantErr(t, "resize a missing container", d.Resize(ctx, missing, 64*mib), lxcdriver.ErrNotFound)
	_, err := d.DiskUsage(ctx, missing)
	wantErr(t, "disk usage of a missing container", err, lxcdriver.ErrNotFound)
}
