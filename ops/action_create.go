package ops

import (
	"context"
	"strconv"

	"github.com/ctpanel/ctpanel/db"
)

// ActionCreate is vzctl create: a container from an OS template.
const ActionCreate = "create"

// Create makes the container of a row in phase creating from its template,
// with its limits, hostname and resolver, and root's credentials.
type Create struct {
	// Start starts it once it is made.
	Start bool `json:"start,omitempty"`
	// RootHash is a crypt(3) hash for root's password (never the password).
	RootHash string   `json:"root_hash,omitempty"`
	SSHKeys  []string `json:"ssh_keys,omitempty"`
}

func init() { register(ActionCreate, func() Action { return &Create{} }) }

// ActionName is "create".
func (*Create) ActionName() string { return ActionCreate }

func (a *Create) run(ctx context.Context, r *Runner, op db.Operation) error {
	return r.makeContainer(ctx, op, a.Start, credentials{a.RootHash, a.SSHKeys}, func(c db.Container) error {
		opts, version, err := r.createOptions(ctx, c, "")
		if err != nil {
			return err
		}
		if err := r.Drv.Create(ctx, strconv.Itoa(c.CTID), opts); err != nil {
			return err
		}
		return r.Store.SetContainerImage(ctx, c.CTID, c.Template, version)
	})
}
