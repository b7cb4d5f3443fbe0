package ops

import (
	"context"
	"encoding/json"

	"github.com/ctpanel/ctpanel/db"
)

// ActionSetLimits applies a container's stored limits.
const ActionSetLimits = "set_limits"

// SetLimits applies the limits the request stored on the row, live when
// the container runs and saved in its config; if liblxc refuses them, the
// previous limits are stored and applied again, so nothing changes.
type SetLimits struct {
	PreviousLimits json.RawMessage `json:"previous_limits,omitempty"`
	PreviousPlanID *int64          `json:"previous_plan_id,omitempty"`
}

func init() { register(ActionSetLimits, func() Action { return &SetLimits{} }) }

// ActionName is "set_limits".
func (*SetLimits) ActionName() string { return ActionSetLimits }

func (a *SetLimits) run(ctx context.Context, r *Runner, op db.Operation) error {
	c, err := r.Store.GetContainer(ctx, op.CTID)
	if err != nil {
		return err
	}
	err = r.applyLimits(ctx, c)
	if err == nil {
		err = r.applyDisk(ctx, c)
	}
	if err == nil {
		// A plan's rates come with it.
		err = r.applyNetwork(ctx, op.CTID)
	}
	if err == nil {
		return nil
	}
	if a.PreviousLimits != nil {
		if serr := r.Store.SetContainerLimits(ctx, op.CTID, a.PreviousLimits, a.PreviousPlanID, true); serr != nil {
			r.Log.Error("restore previous limits", "ctid", op.CTID, "err", serr)
		} else {
			c.Limits = a.PreviousLimits
			_ = r.applyLimits(ctx, c)
		}
	}
	return err
}
