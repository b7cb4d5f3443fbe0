package liblxc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	lxc "github.com/lxc/go-lxc"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// freezer is one container's freezer cgroup, driven directly: liblxc's
// cgroup-v1 freeze sleeps a whole second each time freezer.state still
// reads FREEZING right after the write, which on a container busy forking
// happened to 12 of 30 freezes here.
type freezer struct {
	dir string
	v2  bool
}

// Poll bounds for a freeze or thaw to settle: most settle in well under a
// millisecond, a busy container in a few.
const (
	freezePollStart = 100 * time.Microsecond
	freezePollMax   = 2 * time.Millisecond
)

func (d *Driver) freezerOf(pid int) (freezer, error) {
	dir, v2, err := d.freezerCgroup(pid)
	if err != nil {
		return freezer{}, err
	}
	f := freezer{dir: dir, v2: v2}
	probe := "freezer.state"
	if v2 {
		probe = "cgroup.freeze"
	}
	if !fileExists(filepath.Join(dir, probe)) {
		return freezer{}, fmt.Errorf("no %s in %s", probe, dir)
	}
	return f, nil
}

// state reads the freezer: running, freezing or frozen.
func (f freezer) state() (lxcdriver.State, error) {
	if f.v2 {
		b, err := os.ReadFile(filepath.Join(f.dir, "cgroup.events"))
		if err != nil {
			return "", err
		}
		frozen := strings.Contains("\n"+string(b), "\nfrozen 1\n")
		b, err = os.ReadFile(filepath.Join(f.dir, "cgroup.freeze"))
		if err != nil {
			return "", err
		}
		want := strings.TrimSpace(string(b)) == "1"
		switch {
		case frozen:
			return lxcdriver.StateFrozen, nil
		case want:
			return lxcdriver.StateFreezing, nil
		}
		return lxcdriver.StateRunning, nil
	}
	b, err := os.ReadFile(filepath.Join(f.dir, "freezer.state"))
	if err != nil {
		return "", err
	}
	switch s := strings.TrimSpace(string(b)); s {
	case "FROZEN":
		return lxcdriver.StateFrozen, nil
	case "FREEZING":
		return lxcdriver.StateFreezing, nil
	case "THAWED":
		return lxcdriver.StateRunning, nil
	default:
		return "", fmt.Errorf("unexpected freezer state %q", s)
	}
}

func (f freezer) request(frozen bool) error {
	file, val := "freezer.state", "THAWED"
	if frozen {
		val = "FROZEN"
	}
	if f.v2 {
		file, val = "cgroup.freeze", "0"
		if frozen {
			val = "1"
		}
	}
	return os.WriteFile(filepath.Join(f.dir, file), []byte(val), 0)
}

// set freezes or thaws and polls until the cgroup has settled. A freeze
// that runs out of ctx is undone, so no container is left half frozen.
func (f freezer) set(ctx context.Context, frozen bool) error {
	want := lxcdriver.StateRunning
	if frozen {
		want = lxcdriver.StateFrozen
	}
	if err := f.request(frozen); err != nil {
		return err
	}
	delay := freezePollStart
	for {
		s, err := f.state()
		if err != nil {
			return err
		}
		if s == want {
			return nil
		}
		if err := ctx.Err(); err != nil {
			if frozen {
				_ = f.request(false)
			}
			return err
		}
		time.Sleep(delay)
		delay = min(2*delay, freezePollMax)
		// A v1 freezer gives up on tasks that were busy (in the middle
		// of a fork, say) and stays FREEZING; asking again retries them.
		if frozen && !f.v2 && s == lxcdriver.StateFreezing {
			if err := f.request(true); err != nil {
				return err
			}
		}
	}
}

// Freeze implements lxcdriver.Driver.
func (d *Driver) Freeze(ctx context.Context, name string) error {
	c, err := d.container("freeze", name)
	if err != nil {
		return err
	}
	defer c.Release()
	// One look at liblxc's state and one at the init's pid and freezer:
	// each liblxc call is a round trip to the container's monitor.
	s := lxcdriver.State(strings.ToLower(c.State().String()))
	switch s {
	case lxcdriver.StateRunning, lxcdriver.StateFrozen, lxcdriver.StateFreezing, lxcdriver.StateThawed:
	default:
		return fmt.Errorf("liblxc: freeze %s: %w", name, lxcdriver.ErrNotRunning)
	}
	f, err := d.freezerOf(c.InitPid())
	if err != nil {
		// No cgroup we know how to drive: liblxc's slow path still works.
		if s == lxcdriver.StateFrozen {
			return nil
		}
		if err := c.Freeze(); err != nil {
			return fmt.Errorf("liblxc: freeze %s: %w", name, err)
		}
		return nil
	}
	if fs, err := f.state(); err == nil && fs == lxcdriver.StateFrozen {
		return nil
	}
	if f.v2 {
		// On cgroup2 liblxc's monitor keeps the state lxc-info shows:
		// written behind its back, a freeze would leave the operator's
		// tools saying RUNNING (found on a real cgroup v2 host). liblxc
		// freezes through cgroup.freeze and waits on cgroup.events, no
		// sleep in it.
		if err := c.Freeze(); err != nil {
			return fmt.Errorf("liblxc: freeze %s: %w", name, err)
		}
		return nil
	}
	if err := d.freeze(ctx, c, f); err != nil {
		return fmt.Errorf("liblxc: freeze %s: %w", name, err)
	}
	return nil
}

// freeze freezes c's cgroup f and tells liblxc.
func (d *Driver) freeze(ctx context.Context, c *lxc.Container, f freezer) error {
	if err := f.set(ctx, true); err != nil {
		return err
	}
	if f.v2 {
		// liblxc's cgroup2 freeze has its monitor write cgroup.freeze
		// and wait for cgroup.events to change, which an already frozen
		// cgroup may never do; so liblxc is not told and state() reads
		// the cgroup itself. (Only the v1 path runs on the hybrid CI
		// host; this one is covered by the parser test alone.)
		return nil
	}
	// The cgroup is frozen already, so liblxc's v1 freeze reads FROZEN on
	// its first look and returns without sleeping. Its point is to tell
	// the container's monitor, which is where liblxc (lxc-info, and our
	// own State when the cgroup cannot be read) gets the state from.
	if err := c.Freeze(); err != nil && c.State() != lxc.FROZEN {
		return err
	}
	return nil
}

// Unfreeze implements lxcdriver.Driver.
func (d *Driver) Unfreeze(ctx context.Context, name string) error {
	c, err := d.container("unfreeze", name)
	if err != nil {
		return err
	}
	defer c.Release()
	s := lxcdriver.State(strings.ToLower(c.State().String()))
	switch s {
	case lxcdriver.StateRunning, lxcdriver.StateFrozen, lxcdriver.StateFreezing, lxcdriver.StateThawed:
	default:
		return fmt.Errorf("liblxc: unfreeze %s: %w", name, lxcdriver.ErrNotRunning)
	}
	if err := d.thawSeen(ctx, c, s, c.InitPid()); err != nil {
		return fmt.Errorf("liblxc: unfreeze %s: %w", name, err)
	}
	return nil
}

// thaw thaws c if its cgroup or liblxc's monitor says it is frozen.
func (d *Driver) thaw(ctx context.Context, c *lxc.Container) error {
	return d.thawSeen(ctx, c, lxcdriver.State(strings.ToLower(c.State().String())), c.InitPid())
}

// thawSeen is thaw given liblxc's state and the init's pid, just read.
func (d *Driver) thawSeen(ctx context.Context, c *lxc.Container, s lxcdriver.State, pid int) error {
	monitorFrozen := s == lxcdriver.StateFrozen || s == lxcdriver.StateFreezing
	f, err := d.freezerOf(pid)
	if err != nil {
		if !monitorFrozen {
			return nil
		}
		return c.Unfreeze()
	}
	if f.v2 && monitorFrozen {
		// Frozen through liblxc (lxc-freeze): let liblxc thaw it so its
		// monitor learns; on cgroup2 that path has no sleep in it.
		return c.Unfreeze()
	}
	if err := f.set(ctx, false); err != nil {
		return err
	}
	if !f.v2 && monitorFrozen {
		// Already THAWED, so liblxc returns at once and its monitor
		// goes back to RUNNING.
		if err := c.Unfreeze(); err != nil {
			if st := c.State(); st == lxc.FROZEN || st == lxc.FREEZING {
				return err
			}
		}
	}
	return nil
}
