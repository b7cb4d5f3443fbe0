package ops

import (
	"context"
	"strconv"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ActionStop is vzctl stop --fast: the container is killed.
const ActionStop = "stop"

// Stop stops a container at once.
type Stop struct{}

func init() { register(ActionStop, func() Action { return &Stop{} }) }

// ActionName is "stop".
func (*Stop) ActionName() string { return ActionStop }

func (*Stop) run(ctx context.Context, r *Runner, op db.Operation) error {
	return r.Drv.Stop(ctx, strconv.Itoa(op.CTID))
}

func (*Stop) settledState() lxcdriver.State { return lxcdriver.StateStopped }
