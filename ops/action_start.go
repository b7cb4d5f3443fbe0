package ops

import (
	"context"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ActionStart is vzctl start.
const ActionStart = "start"

// Start starts a stopped container.
type Start struct{}

func init() { register(ActionStart, func() Action { return &Start{} }) }

// ActionName is "start".
func (*Start) ActionName() string { return ActionStart }

func (*Start) run(ctx context.Context, r *Runner, op db.Operation) error {
	return r.start(ctx, op.CTID)
}

func (*Start) settledState() lxcdriver.State { return lxcdriver.StateRunning }
