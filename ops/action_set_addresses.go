package ops

import (
	"context"

	"github.com/ctpanel/ctpanel/db"
)

// ActionSetAddresses is vzctl set --ipadd/--ipdel: the container's shares
// changed in the database; a running container carries them at once, a
// stopped one from its next start.
const ActionSetAddresses = "set_addresses"

// SetAddresses applies a container's addresses as the database holds
// them (so running it again, or after another change, is harmless).
type SetAddresses struct {
	// Added and Removed are what the call changed, for the record.
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

func init() { register(ActionSetAddresses, func() Action { return &SetAddresses{} }) }

// ActionName is "set_addresses".
func (*SetAddresses) ActionName() string { return ActionSetAddresses }

func (*SetAddresses) run(ctx context.Context, r *Runner, op db.Operation) error {
	if err := r.applyNetwork(ctx, op.CTID); err != nil {
		return err
	}
	// The guest's network files (its next start reads them) and the
	// pools' nameservers, for a container without its own.
	c, err := r.Store.GetContainer(ctx, op.CTID)
	if err != nil {
		return err
	}
	note, err := r.setupGuest(ctx, c, false)
	r.noteOp(ctx, op, note)
	return err
}
