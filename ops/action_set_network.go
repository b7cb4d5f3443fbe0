package ops

import (
	"context"

	"github.com/ctpanel/ctpanel/db"
)

// ActionSetNetwork applies a container's network as the database holds
// it (addresses, and its plan's rates) after its plan's network changed.
const ActionSetNetwork = "set_network"

// SetNetwork is set_addresses for a change that came from the plan.
type SetNetwork struct {
	Plan string `json:"plan,omitempty"`
}

func init() { register(ActionSetNetwork, func() Action { return &SetNetwork{} }) }

// ActionName is "set_network".
func (*SetNetwork) ActionName() string { return ActionSetNetwork }

func (*SetNetwork) run(ctx context.Context, r *Runner, op db.Operation) error {
	return r.applyNetwork(ctx, op.CTID)
}
