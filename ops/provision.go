package ops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// credentials sets root's password hash in /etc/shadow (other accounts
// kept) and root's authorized SSH keys, when the operation carries them.
func (r *Runner) credentials(ctx context.Context, c db.Container, p Params) error {
	name := strconv.Itoa(c.CTID)
	if p.RootHash != "" {
		reader, ok := r.Drv.(lxcdriver.FileReader)
		if !ok {
			return errors.New("driver cannot read files")
		}
		old, err := reader.ReadFile(ctx, name, "/etc/shadow")
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read /etc/shadow: %w", err)
		}
		days := strconv.FormatInt(time.Now().Unix()/86400, 10)
		rootLine := "root:" + p.RootHash + ":" + days + ":0:99999:7:::"
		var lines []string
		found := false
		for _, l := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
			if l == "" {
				continue
			}
			if strings.HasPrefix(l, "root:") {
				l, found = rootLine, true
			}
			lines = append(lines, l)
		}
		if !found {
			lines = append([]string{rootLine}, lines...)
		}
		if err := r.Drv.WriteFile(ctx, name, "/etc/shadow", []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			return fmt.Errorf("write /etc/shadow: %w", err)
		}
	}
	if len(p.SSHKeys) > 0 {
		keys := strings.Join(p.SSHKeys, "\n") + "\n"
		if err := r.Drv.WriteFile(ctx, name, "/root/.ssh/authorized_keys", []byte(keys), 0o600); err != nil {
			return fmt.Errorf("write authorized_keys: %w", err)
		}
	}
	return nil
}

// reinstall puts a fresh rootfs from a template under the same CTID,
// keeping hostname, resolver, limits and the run state; it is safe to run
// again after a crash (whatever is left of the container is removed first).
func (r *Runner) reinstall(ctx context.Context, ctid int, p Params) error {
	c, err := r.Store.GetContainer(ctx, ctid)
	if err != nil {
		return err
	}
	name := strconv.Itoa(ctid)
	wasRunning := c.LastState == string(lxcdriver.StateRunning) || c.LastState == string(lxcdriver.StateFrozen)
	if st, err := r.Drv.State(ctx, name); err == nil {
		wasRunning = st != lxcdriver.StateStopped
	}
	// The template is resolved, and its tarball found, before anything
	// of the old container is touched: a template deleted or disabled
	// since the request fails the reinstall and leaves the VPS as it was.
	c.Template = p.Template
	opts, err := r.createOptions(ctx, c)
	if err != nil {
		return fmt.Errorf("reinstall: %w (the container is unchanged)", err)
	}
	if opts.RootfsTarball != "" {
		if _, err := os.Stat(opts.RootfsTarball); err != nil {
			return fmt.Errorf("reinstall: template %q: %w (the container is unchanged)", c.Template, err)
		}
	}
	if err := removeContainer(ctx, r.Drv, name); err != nil {
		return err
	}
	if err := r.Drv.Create(ctx, name, opts); err != nil {
		_ = r.Store.SetContainerPhase(ctx, ctid, db.PhaseMissing)
		return fmt.Errorf("reinstall: %w (the old rootfs is gone; reinstall again)", err)
	}
	if err := r.writeIdentity(ctx, c); err != nil {
		return err
	}
	if err := r.applyLimits(ctx, c); err != nil {
		return err
	}
	if err := r.credentials(ctx, c, p); err != nil {
		return err
	}
	if err := r.Store.SetContainerPhase(ctx, ctid, db.PhaseReady); err != nil {
		return err
	}
	if wasRunning {
		return r.Drv.Start(ctx, name)
	}
	return nil
}
