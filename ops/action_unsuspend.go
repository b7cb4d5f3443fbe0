package ops

import (
	"context"
	"strconv"

	"github.com/ctpanel/ctpanel/db"
)

// ActionUnsuspend undoes a suspend.
const ActionUnsuspend = "unsuspend"

// Unsuspend starts (or thaws) a suspended container.
type Unsuspend struct {
	// Mode is the suspend's: "stop" or "freeze".
	Mode string `json:"mode,omitempty"`
}

func init() { register(ActionUnsuspend, func() Action { return &Unsuspend{} }) }

// ActionName is "unsuspend".
func (*Unsuspend) ActionName() string { return ActionUnsuspend }

func (a *Unsuspend) run(ctx context.Context, r *Runner, op db.Operation) error {
	if a.Mode == "freeze" {
		return r.Drv.Unfreeze(ctx, strconv.Itoa(op.CTID))
	}
	return r.start(ctx, op.CTID)
}
