package ops

import (
	"context"
	"strconv"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ActionUnfreeze thaws a frozen container (chkpnt --resume).
const ActionUnfreeze = "unfreeze"

// Unfreeze thaws a frozen container.
type Unfreeze struct{}

func init() { register(ActionUnfreeze, func() Action { return &Unfreeze{} }) }

// ActionName is "unfreeze".
func (*Unfreeze) ActionName() string { return ActionUnfreeze }

func (*Unfreeze) run(ctx context.Context, r *Runner, op db.Operation) error {
	return r.Drv.Unfreeze(ctx, strconv.Itoa(op.CTID))
}

func (*Unfreeze) settledState() lxcdriver.State { return lxcdriver.StateRunning }
