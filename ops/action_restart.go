package ops

import (
	"context"
	"strconv"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ActionRestart is vzctl restart.
const ActionRestart = "restart"

// Restart shuts the container down cleanly (killed after Timeout) and
// starts it again.
type Restart struct {
	// Timeout in seconds; 0 is DefaultShutdownTimeout.
	Timeout int `json:"timeout,omitempty"`
}

func init() { register(ActionRestart, func() Action { return &Restart{} }) }

// ActionName is "restart".
func (*Restart) ActionName() string { return ActionRestart }

func (a *Restart) run(ctx context.Context, r *Runner, op db.Operation) error {
	if err := r.Drv.Shutdown(ctx, strconv.Itoa(op.CTID), timeoutOf(a.Timeout)); err != nil {
		return err
	}
	return r.start(ctx, op.CTID)
}

func (*Restart) settledState() lxcdriver.State { return lxcdriver.StateRunning }
