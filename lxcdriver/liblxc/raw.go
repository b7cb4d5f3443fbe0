package liblxc

import (
	"context"
	"fmt"
	"time"

	lxc "github.com/lxc/go-lxc"

	"github.com/ctpanel/ctpanel/subprocess"
)

// The Raw functions call liblxc directly, through go-lxc or liblxc's own
// lxc-* tools, without anything the Driver adds: no state checks, no fast freezer path, no clean-up of a
// half-made clone, no config of ctpanel's own. They exist so ctpanel-bench
// can measure the panel against plain liblxc in the same run; the panel
// itself never uses them.

// RawClone runs lxc-copy -P lxcpath -n src -N dst, with the backend the
// Driver uses: a directory copy (-B dir), or an overlay snapshot (-s -B
// overlayfs). lxc-copy is liblxc's own clone (lxc_container.clone), run
// in a process of its own because liblxc's clone does not survive being
// called from a multi-threaded Go program: it forks a child with the raw
// clone syscall, bypassing glibc's fork handling, and that child calls
// setgid before it execs rsync. glibc's setgid signals every thread it
// believes exists, and a thread that was being created in the parent at
// the moment of the fork never answers, so the child waits forever, and
// every later clone of the same source waits for its lock. ctpanel-bench
// saw that in about 1 in 100 go-lxc Clones four at a time, never one at a
// time.
func RawClone(ctx context.Context, lxcpath, src, dst string, snapshot bool) error {
	args := []string{"-P", lxcpath, "-n", src, "-N", dst, "-B", "dir"}
	if snapshot {
		args = []string{"-P", lxcpath, "-n", src, "-N", dst, "-s", "-B", "overlayfs"}
	}
	if _, err := subprocess.Output(ctx, "lxc-copy", args...); err != nil {
		return fmt.Errorf("liblxc: raw clone %s to %s: %w", src, dst, err)
	}
	return nil
}

// RawStart runs lxc-start -P lxcpath -n name, which returns once liblxc
// reports the container RUNNING. This is still plain liblxc: lxc-start is
// liblxc's own start (lxc_container.start with daemonize). go-lxc's
// Start is not used because liblxc forks the monitor from its caller and
// moves the caller into the lxc.monitor.<name> cgroups, which would leak
// one monitor cgroup per container into the benchmark process (see
// Driver.Start).
func RawStart(ctx context.Context, lxcpath, name string) error {
	if _, err := subprocess.Output(ctx, "lxc-start", "-P", lxcpath, "-n", name); err != nil {
		return fmt.Errorf("liblxc: raw start %s: %w", name, err)
	}
	return nil
}

// RawFreeze is go-lxc's Freeze. On a cgroup-v1 freezer liblxc sleeps a
// whole second each time freezer.state still reads FREEZING.
func RawFreeze(lxcpath, name string) error {
	return rawDo(lxcpath, name, "freeze", (*lxc.Container).Freeze)
}

// RawUnfreeze is go-lxc's Unfreeze.
func RawUnfreeze(lxcpath, name string) error {
	return rawDo(lxcpath, name, "unfreeze", (*lxc.Container).Unfreeze)
}

// RawStop is go-lxc's Stop (lxc-stop -k: SIGKILL to init), then liblxc's
// own wait for STOPPED, so that RawDestroy may follow at once as it may
// after Driver.Stop.
func RawStop(lxcpath, name string) error {
	return rawDo(lxcpath, name, "stop", func(c *lxc.Container) error {
		if err := c.Stop(); err != nil {
			return err
		}
		if !c.Wait(lxc.STOPPED, 30*time.Second) {
			return fmt.Errorf("not stopped after 30s (state %s)", c.State())
		}
		return nil
	})
}

// RawDestroy is lxc-destroy, liblxc's own destroy. Not go-lxc's Destroy:
// for a container with an id map (every container the panel makes now)
// liblxc removes the folder from a child it forks into a user namespace,
// which must not happen in a multi-threaded Go program (tools.go).
func RawDestroy(ctx context.Context, lxcpath, name string) error {
	if _, err := subprocess.Output(ctx, "lxc-destroy", "-P", lxcpath, "-n", name); err != nil {
		return fmt.Errorf("liblxc: raw destroy %s: %w", name, err)
	}
	return nil
}

func rawDo(lxcpath, name, op string, fn func(*lxc.Container) error) error {
	c, err := lxc.NewContainer(name, lxcpath)
	if err != nil {
		return fmt.Errorf("liblxc: raw %s %s: %w", op, name, err)
	}
	defer c.Release()
	if err := fn(c); err != nil {
		return fmt.Errorf("liblxc: raw %s %s: %w", op, name, err)
	}
	return nil
}

// RawKickFreezer asks a container's freezer cgroup to freeze once more.
// liblxc's cgroup-v1 freeze writes FROZEN once and then only rereads
// freezer.state, a second at a time; a freezer that gave up on a busy task
// stays FREEZING and liblxc waits forever. Driver.Freeze asks again while
// it polls; ctpanel-bench calls this on a raw freeze that has not returned
// after a while, so the raw phase cannot hang.
func RawKickFreezer(lxcpath, name string) error {
	d, err := New(lxcpath)
	if err != nil {
		return err
	}
	c, err := d.container("kick freezer", name)
	if err != nil {
		return err
	}
	defer c.Release()
	f, err := d.freezerOf(c.InitPid())
	if err != nil {
		return fmt.Errorf("liblxc: kick freezer of %s: %w", name, err)
	}
	if err := f.request(true); err != nil {
		return fmt.Errorf("liblxc: kick freezer of %s: %w", name, err)
	}
	return nil
}

// RawCgroupRead reads cgroup keys of a running container the way a plain
// go-lxc program would (CgroupItem, one call a key, a fresh container
// handle each time): the baseline for ctpanel's beancounter sampler. It
// returns how many values came back.
func RawCgroupRead(lxcpath, name string, keys []string) (int, error) {
	c, err := lxc.NewContainer(name, lxcpath)
	if err != nil {
		return 0, err
	}
	defer c.Release()
	n := 0
	for _, k := range keys {
		if v := c.CgroupItem(k); len(v) > 0 {
			n++
		}
	}
	return n, nil
}
