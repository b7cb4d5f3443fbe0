package ops

import (
	"context"
	"strconv"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ActionShutdown is vzctl stop: a clean shutdown, killed after Timeout.
const ActionShutdown = "shutdown"

// DefaultShutdownTimeout is how long a clean shutdown may take before the
// container is killed, when the request does not say.
const DefaultShutdownTimeout = 30 * time.Second

// Shutdown asks the container's init to stop.
type Shutdown struct {
	// Timeout in seconds; 0 is DefaultShutdownTimeout.
	Timeout int `json:"timeout,omitempty"`
}

func init() { register(ActionShutdown, func() Action { return &Shutdown{} }) }

// ActionName is "shutdown".
func (*Shutdown) ActionName() string { return ActionShutdown }

func (a *Shutdown) run(ctx context.Context, r *Runner, op db.Operation) error {
	return r.Drv.Shutdown(ctx, strconv.Itoa(op.CTID), timeoutOf(a.Timeout))
}

func timeoutOf(seconds int) time.Duration {
	if seconds > 0 {
		return time.Duration(seconds) * time.Second
	}
	return DefaultShutdownTimeout
}

func (*Shutdown) settledState() lxcdriver.State { return lxcdriver.StateStopped }
