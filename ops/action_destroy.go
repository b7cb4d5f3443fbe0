package ops

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ActionDestroy is vzctl destroy (and billing's terminate).
const ActionDestroy = "destroy"

// Destroy removes the container from liblxc and then its row.
type Destroy struct {
	// Force stops a running container first.
	Force bool `json:"force,omitempty"`
}

func init() { register(ActionDestroy, func() Action { return &Destroy{} }) }

// ActionName is "destroy".
func (*Destroy) ActionName() string { return ActionDestroy }

func (a *Destroy) run(ctx context.Context, r *Runner, op db.Operation) error {
	ctid := op.CTID
	name := strconv.Itoa(ctid)
	// The driver refuses a container that is not stopped, so the common
	// case (stopped) costs one liblxc lookup, not two.
	err := r.Drv.Destroy(ctx, name)
	if errors.Is(err, lxcdriver.ErrRunning) {
		if !a.Force {
			_ = r.Store.SetContainerPhase(ctx, ctid, db.PhaseReady)
			state := "running"
			if st, serr := r.Drv.State(ctx, name); serr == nil {
				state = string(st)
			}
			return fmt.Errorf("container %d is %s; destroy it with force", ctid, state)
		}
		// A start a killed panel left going can bring it up again
		// right after the stop: a few tries.
		for try := 0; try < 3 && errors.Is(err, lxcdriver.ErrRunning); try++ {
			if err := r.Drv.Stop(ctx, name); err != nil {
				return err
			}
			err = r.Drv.Destroy(ctx, name)
		}
	}
	if err != nil && !errors.Is(err, lxcdriver.ErrNotFound) {
		return err
	}
	if r.Net != nil {
		// Its pair, routes and filter entries; its shares go back to
		// the pool with the row (and its traffic, folded in last, stays
		// until the row goes).
		if err := r.foldTraffic(ctx); err != nil {
			return err
		}
		if err := r.Net.Down(ctx, ctid); err != nil {
			return err
		}
	}
	return r.Store.DeleteContainer(ctx, ctid)
}
