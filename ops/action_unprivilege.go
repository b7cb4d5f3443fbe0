package ops

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ActionUnprivilege converts a privileged container, made before every
// container was unprivileged, to run with a block of host ids of its own.
const ActionUnprivilege = "unprivilege"

// Unprivilege converts the stopped container of the operation (see
// lxcdriver.Driver.Unprivilege). It is safe to run again after a crash:
// the block is allocated once and the driver's conversion finishes what
// an earlier run began.
type Unprivilege struct{}

func init() { register(ActionUnprivilege, func() Action { return &Unprivilege{} }) }

// ActionName is "unprivilege".
func (*Unprivilege) ActionName() string { return ActionUnprivilege }

func (*Unprivilege) run(ctx context.Context, r *Runner, op db.Operation) error {
	c, err := r.Store.GetContainer(ctx, op.CTID)
	if err != nil {
		return err
	}
	if !c.Privileged {
		return nil
	}
	name := strconv.Itoa(c.CTID)
	if st, err := r.Drv.State(ctx, name); err != nil {
		return err
	} else if st != lxcdriver.StateStopped {
		return fmt.Errorf("container %d is %s: stop it before converting it: %w", c.CTID, st, lxcdriver.ErrRunning)
	}
	// The request allocated the block with the operation; a row
	// converted some other way gets one here.
	var base int64
	if c.IDMapBase != nil {
		base = *c.IDMapBase
	} else if base, err = r.allocateIDMap(ctx, c.CTID); err != nil {
		return err
	}
	if err := r.Drv.Unprivilege(ctx, name, lxcdriver.IDMap{HostID: uint32(base), Size: db.IDMapSize}); err != nil {
		return err
	}
	return r.Store.SetPrivileged(ctx, c.CTID, false)
}

// allocateIDMap gives the container its block of host ids, or the one it
// has.
func (r *Runner) allocateIDMap(ctx context.Context, ctid int) (int64, error) {
	var base int64
	err := r.Store.InTx(ctx, func(_ pgx.Tx, q *db.Queries) error {
		var err error
		base, err = q.AllocateIDMap(ctx, ctid)
		return err
	})
	return base, err
}
