package ops

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ActionConfigure applies saved settings that live in the container.
const ActionConfigure = "configure"

// Configure writes the row's hostname into the container's config and
// files, and live with hostname(1) when it runs (vzctl set --hostname
// --nameserver --save).
type Configure struct{}

func init() { register(ActionConfigure, func() Action { return &Configure{} }) }

// ActionName is "configure".
func (*Configure) ActionName() string { return ActionConfigure }

func (*Configure) run(ctx context.Context, r *Runner, op db.Operation) error {
	c, err := r.Store.GetContainer(ctx, op.CTID)
	if err != nil {
		return err
	}
	name := strconv.Itoa(c.CTID)
	if err := r.Drv.SetConfig(ctx, name, []lxcdriver.ConfigItem{{Key: "lxc.uts.name", Value: hostnameOf(c)}}); err != nil {
		return err
	}
	note, err := r.setupGuest(ctx, c, false)
	if err != nil {
		return err
	}
	r.noteOp(ctx, op, note)
	st, err := r.Drv.State(ctx, name)
	if err != nil {
		return err
	}
	if st == lxcdriver.StateRunning {
		res, err := r.Drv.Exec(ctx, name, []string{"hostname", hostnameOf(c)}, lxcdriver.ExecOptions{})
		if err != nil {
			return fmt.Errorf("set hostname live: %w", err)
		}
		if res.ExitCode != 0 {
			return fmt.Errorf("set hostname live: exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
		}
	}
	return nil
}
