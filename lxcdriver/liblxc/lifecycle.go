package liblxc

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	lxc "github.com/lxc/go-lxc"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/subprocess"
)

// Start implements lxcdriver.Driver. A frozen container gives ErrFrozen:
// it is started already, but "start" would not make it run.
func (d *Driver) Start(ctx context.Context, name string, extra ...lxcdriver.ConfigItem) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("liblxc: start %s: %w", name, err)
	}
	c, err := d.container("start", name)
	if err != nil {
		return err
	}
	defer c.Release()
	switch d.state(c) {
	case lxcdriver.StateRunning:
		return nil
	case lxcdriver.StateFrozen, lxcdriver.StateFreezing:
		return fmt.Errorf("liblxc: start %s: %w", name, lxcdriver.ErrFrozen)
	}
	// A backup's mount of its disk that a panel killed mid-way left (with
	// the marker that holds the start back): nothing of this panel backs
	// up a container while it starts it.
	if err := d.releaseMounts(name); err != nil {
		return fmt.Errorf("liblxc: start %s: %w", name, err)
	}
	// Not go-lxc's Start: liblxc forks the container's monitor from the
	// calling process without exec'ing, so the monitor would be a copy
	// of the whole panel (holding on to every page the panel later
	// writes), and liblxc moves its caller, as the "transient" process,
	// into the lxc.monitor.<name> cgroups. The panel would then wander
	// from one monitor cgroup to the next and each monitor cgroup would
	// be left behind when its container stops. lxc-start is the
	// short-lived caller liblxc expects (Incus uses its own forkstart for
	// the same reason). It daemonizes and returns once the container is
	// RUNNING or has failed; the wait below covers a start raced by
	// another caller.
	args := []string{"--lxcpath", d.lxcpath, "--name", name}
	dir := filepath.Join(d.lxcpath, name)
	proxied := d.sysinfo.startItems(name, dir)
	for _, it := range append(proxied, extra...) {
		args = append(args, "--define", it.Key+"="+it.Value)
	}
	_, err = subprocess.Output(ctx, d.lxcStart, args...)
	if len(proxied) > 0 {
		// liblxc has read the policy by now, whether it started or not.
		defer func() {
			if err := settle(dir); err != nil {
				slog.Warn("liblxc: rewrite the start seccomp policy", "container", name, "error", err)
			}
		}()
	}
	if err != nil && d.state(c) != lxcdriver.StateRunning {
		return fmt.Errorf("liblxc: start %s: %w", name, err)
	}
	if _, err := d.waitState(ctx, c, lxcdriver.StateRunning, time.Time{}); err != nil {
		return fmt.Errorf("liblxc: start %s: wait for running: %w", name, err)
	}
	if len(proxied) > 0 {
		if err := d.sysinfo.waitMonitor(ctx, c.InitPid(), 10*time.Second); err != nil {
			slog.Warn("liblxc: the container's monitor has not reached the sysinfo proxy; its sysinfo(2) answers wait for it", "container", name, "error", err)
		}
	}
	return nil
}

// Stop implements lxcdriver.Driver.
func (d *Driver) Stop(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("liblxc: stop %s: %w", name, err)
	}
	c, err := d.container("stop", name)
	if err != nil {
		return err
	}
	defer c.Release()
	// Its cgroups go with it; so may the descriptors on them.
	defer d.handles.drop(name, nil)
	if err := d.kill(ctx, c); err != nil {
		return fmt.Errorf("liblxc: stop %s: %w", name, err)
	}
	return nil
}

// kill is lxc-stop -k: SIGKILL to init, then wait for STOPPED.
func (d *Driver) kill(ctx context.Context, c *lxc.Container) error {
	switch d.state(c) {
	case lxcdriver.StateStopped:
		return nil
	case lxcdriver.StateFrozen, lxcdriver.StateFreezing:
		// A frozen init cannot die; thaw first so the kill lands now
		// instead of relying on liblxc's monitor to notice.
		if err := d.thaw(ctx, c); err != nil {
			return fmt.Errorf("thaw: %w", err)
		}
	}
	if err := c.Stop(); err != nil && d.state(c) != lxcdriver.StateStopped {
		return err
	}
	if _, err := d.waitState(ctx, c, lxcdriver.StateStopped, time.Time{}); err != nil {
		return fmt.Errorf("wait for stopped: %w", err)
	}
	return nil
}

// Shutdown implements lxcdriver.Driver. liblxc's own timeout counts whole
// seconds, so the driver sends the halt signal (lxc.signal.halt, SIGPWR by
// default) and does the waiting itself. If ctx ends first the container is
// left to finish on its own and ctx's error is returned.
func (d *Driver) Shutdown(ctx context.Context, name string, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("liblxc: shutdown %s: %w", name, err)
	}
	c, err := d.container("shutdown", name)
	if err != nil {
		return err
	}
	defer c.Release()
	defer d.handles.drop(name, nil)
	if err := d.shutdown(ctx, c, timeout); err != nil {
		return fmt.Errorf("liblxc: shutdown %s: %w", name, err)
	}
	return nil
}

func (d *Driver) shutdown(ctx context.Context, c *lxc.Container, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	switch d.state(c) {
	case lxcdriver.StateStopped:
		return nil
	case lxcdriver.StateFrozen, lxcdriver.StateFreezing:
		// A frozen init would only see the signal after a thaw.
		if err := d.thaw(ctx, c); err != nil {
			return fmt.Errorf("thaw: %w", err)
		}
	}
	// Timeout 0: send the signal, do not wait.
	if err := c.Shutdown(0); err != nil && d.state(c) != lxcdriver.StateStopped {
		return fmt.Errorf("send halt signal: %w", err)
	}
	reached, err := d.waitState(ctx, c, lxcdriver.StateStopped, deadline)
	if err != nil {
		return fmt.Errorf("wait for stopped: %w", err)
	}
	if reached {
		return nil
	}
	if err := d.kill(ctx, c); err != nil {
		return fmt.Errorf("kill after %s: %w", timeout, err)
	}
	return nil
}

// Restart implements lxcdriver.Driver.
func (d *Driver) Restart(ctx context.Context, name string, timeout time.Duration) error {
	if err := d.Shutdown(ctx, name, timeout); err != nil {
		return err
	}
	return d.Start(ctx, name)
}
