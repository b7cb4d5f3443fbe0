package ops

import (
	"context"
	"strconv"

	"github.com/ctpanel/ctpanel/db"
)

// ActionSuspend is billing's suspend: the container is stopped (or
// frozen) and its customer may not start it.
const ActionSuspend = "suspend"

// Suspend stops or freezes the container.
type Suspend struct {
	// Mode is "stop" or "freeze".
	Mode string `json:"mode,omitempty"`
}

func init() { register(ActionSuspend, func() Action { return &Suspend{} }) }

// ActionName is "suspend".
func (*Suspend) ActionName() string { return ActionSuspend }

func (a *Suspend) run(ctx context.Context, r *Runner, op db.Operation) error {
	if a.Mode == "freeze" {
		return r.Drv.Freeze(ctx, strconv.Itoa(op.CTID))
	}
	return r.Drv.Stop(ctx, strconv.Itoa(op.CTID))
}
