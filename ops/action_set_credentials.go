package ops

import (
	"context"

	"github.com/ctpanel/ctpanel/db"
)

// ActionPassword sets root's password and SSH keys (reset-password).
const ActionPassword = "set_credentials"

// SetCredentials writes root's password hash into /etc/shadow and, when
// it has any, root's authorized SSH keys.
type SetCredentials struct {
	// RootHash is a crypt(3) hash for root's password (never the password).
	RootHash string   `json:"root_hash,omitempty"`
	SSHKeys  []string `json:"ssh_keys,omitempty"`
}

func init() { register(ActionPassword, func() Action { return &SetCredentials{} }) }

// ActionName is "set_credentials".
func (*SetCredentials) ActionName() string { return ActionPassword }

func (a *SetCredentials) run(ctx context.Context, r *Runner, op db.Operation) error {
	c, err := r.Store.GetContainer(ctx, op.CTID)
	if err != nil {
		return err
	}
	return r.writeCredentials(ctx, c, credentials{a.RootHash, a.SSHKeys})
}
