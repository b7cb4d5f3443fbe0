package ops

import (
	"context"
	"strconv"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ActionFreeze is OpenVZ's chkpnt --suspend: every task of the container
// stops where it is (the cgroup freezer).
const ActionFreeze = "freeze"

// Freeze freezes a running container.
type Freeze struct{}

func init() { register(ActionFreeze, func() Action { return &Freeze{} }) }

// ActionName is "freeze".
func (*Freeze) ActionName() string { return ActionFreeze }

func (*Freeze) run(ctx context.Context, r *Runner, op db.Operation) error {
	return r.Drv.Freeze(ctx, strconv.Itoa(op.CTID))
}

func (*Freeze) settledState() lxcdriver.State { return lxcdriver.StateFrozen }
