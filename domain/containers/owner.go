package containers

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
)

// Terminals ends the console and shell sessions on a container (the
// console manager); nil in tests without terminals.
type Terminals interface {
	EndContainer(ctid int, reason string)
}

// OwnerChange is what ChangeOwner did: the container and who owned it
// before ("" for nobody).
type OwnerChange struct {
	Container db.Container
	From      string
}

// ChangeOwner (staff and billing) gives the container ref to the
// customer named owner. The container, its addresses and its limits go
// with it; its backups and snapshots stay with the customer who had them
// made (the new owner does not see the old owner's past data, and the old
// owner, no longer seeing the container, cannot restore onto it). Every
// console and shell session on the container ends at once and unredeemed
// tickets for it are spent, so the old owner keeps no way in.
func (s *Service) ChangeOwner(ctx context.Context, p db.Principal, ref, owner string) (OwnerChange, error) {
	if err := policy.RequireStaff(p); err != nil {
		return OwnerChange{}, err
	}
	if p.ScopeOwner != nil {
		return OwnerChange{}, domain.Forbidden("this token is narrowed to customer %q: it cannot give containers to another", p.ScopeOwnerName)
	}
	f := domain.FieldErrors{}
	var to db.User
	if owner == "" {
		f.Add("owner", "is required: the username of the customer who gets the container")
	} else {
		u, err := s.Store.GetUserByName(ctx, owner)
		switch {
		case errors.Is(err, db.ErrNotFound):
			f.Add("owner", fmt.Sprintf("no user %q", owner))
		case err != nil:
			return OwnerChange{}, err
		case u.Role != db.RoleCustomer:
			f.Add("owner", fmt.Sprintf("user %q is %s, not a customer", owner, u.Role))
		default:
			to = u
		}
	}
	if err := f.Err(); err != nil {
		return OwnerChange{}, err
	}
	var out OwnerChange
	err := s.Store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		c, err := s.getForUpdate(ctx, q, p, ref)
		if err != nil {
			return err
		}
		if c.OwnerID != nil && *c.OwnerID == to.ID {
			return domain.FieldErrors{"owner": fmt.Sprintf("%q owns container %d already", owner, c.CTID)}.Err()
		}
		if c.Phase == db.PhaseCreating || c.Phase == db.PhaseDeleting {
			return domain.Conflict("container %d is %s; its owner can change once that is done", c.CTID, c.Phase)
		}
		if c.OwnerName != nil {
			out.From = *c.OwnerName
		}
		if err := q.SetContainerOwner(ctx, c.CTID, &to.ID); err != nil {
			return err
		}
		if err := domain.Audit(ctx, q, p, "container.change_owner", &c.CTID, map[string]any{"from": out.From, "to": owner}); err != nil {
			return err
		}
		c.OwnerID, c.OwnerName = &to.ID, &to.Username
		out.Container = c
		return nil
	})
	if err != nil {
		return OwnerChange{}, err
	}
	if s.Terminals != nil {
		s.Terminals.EndContainer(out.Container.CTID, "the container was given to another customer")
	}
	return out, nil
}
