package ops

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ActionReinstall puts a fresh root filesystem under a container.
const ActionReinstall = "reinstall"

// Reinstall puts a fresh rootfs from Template under the same CTID, keeping
// hostname, resolver, limits and the run state, then sets root's
// credentials; it is safe to run again after a crash (whatever is left of
// the container is removed first).
type Reinstall struct {
	Template string `json:"template,omitempty"`
	// Version is the image version (the newest when empty).
	Version string `json:"version,omitempty"`
	// RootHash is a crypt(3) hash for root's password (never the password).
	RootHash string   `json:"root_hash,omitempty"`
	SSHKeys  []string `json:"ssh_keys,omitempty"`
}

func init() { register(ActionReinstall, func() Action { return &Reinstall{} }) }

// ActionName is "reinstall".
func (*Reinstall) ActionName() string { return ActionReinstall }

func (p *Reinstall) run(ctx context.Context, r *Runner, op db.Operation) error {
	ctid := op.CTID
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
	if c.Privileged {
		// A fresh rootfs is made unprivileged, like every new one.
		base, err := r.allocateIDMap(ctx, ctid)
		if err != nil {
			return err
		}
		c.IDMapBase, c.Privileged = &base, false
	}
	opts, version, err := r.createOptions(ctx, c, p.Version)
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
	if err := r.Store.SetContainerImage(ctx, ctid, c.Template, version); err != nil {
		return err
	}
	note, err := r.setupGuest(ctx, c, true)
	if err != nil {
		return err
	}
	r.noteOp(ctx, op, note)
	if err := r.applyLimits(ctx, c); err != nil {
		return err
	}
	if err := r.writeCredentials(ctx, c, credentials{p.RootHash, p.SSHKeys}); err != nil {
		return err
	}
	if err := r.Store.SetPrivileged(ctx, ctid, false); err != nil {
		return err
	}
	if err := r.Store.SetContainerPhase(ctx, ctid, db.PhaseReady); err != nil {
		return err
	}
	if wasRunning {
		return r.start(ctx, ctid)
	}
	return nil
}
