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

// Reservations: staff (or billing) set an address aside for a customer
// without putting it on a container, as a hosting company sells an extra
// address; the customer then puts it on any of their containers (by
// address), and it comes back to them, not to the pool, when it comes off
// or the container goes.

// HeldAddress is a share with who holds it: the farm's list of addresses
// in use and reserved.
type HeldAddress struct {
	AddressView
	CTID     *int   `json:"ctid"`
	Customer string `json:"customer,omitempty"`
}

// ReserveInput is a reservation: Address "auto" (the Pool's, else the
// default IPv4 pool's next free share) or an address; Customer a
// customer's username.
type ReserveInput struct {
	Address  string
	Pool     string
	Customer string
}

// HeldAddresses lists the shares given and reserved: all of them for
// staff, a customer's own (reserved for them or on their containers).
func (s *Service) HeldAddresses(ctx context.Context, p db.Principal) ([]HeldAddress, error) {
	list, err := s.Store.HeldAddresses(ctx, policy.OwnerScope(p))
	if err != nil {
		return nil, err
	}
	out := make([]HeldAddress, 0, len(list))
	for _, h := range list {
		out = append(out, HeldAddress{AddressView: addressView(h.IPAddress), CTID: h.CTID, Customer: h.Customer})
	}
	return out, nil
}

// Reserve sets a share aside for a customer (staff).
func (s *Service) Reserve(ctx context.Context, p db.Principal, in ReserveInput) (HeldAddress, error) {
	if err := policy.RequireStaff(p); err != nil {
		return HeldAddress{}, err
	}
	f := domain.FieldErrors{}
	var customer db.User
	if in.Customer == "" {
		f.Add("customer", "is required: the customer the address is reserved for")
	} else {
		u, err := s.Store.GetUserByName(ctx, in.Customer)
		switch {
		case errors.Is(err, db.ErrNotFound):
			f.Add("customer", fmt.Sprintf("no user %q", in.Customer))
		case err != nil:
			return HeldAddress{}, err
		case u.Role != db.RoleCustomer:
			f.Add("customer", fmt.Sprintf("user %q is %s, not a customer", in.Customer, u.Role))
		case p.ScopeOwner != nil && *p.ScopeOwner != u.ID:
			f.Add("customer", fmt.Sprintf("this token is narrowed to customer %q", p.ScopeOwnerName))
		default:
			customer = u
		}
	}
	var held db.IPAddress
	err := s.Store.InTx(ctx, func(_ pgx.Tx, q *db.Queries) error {
		// The address and pool are checked even when the customer is
		// wrong, so that every wrong field is named at once.
		pool, want, auto, err := choosePool(ctx, q, "address", AddressRequest{Address: in.Address, Pool: in.Pool})
		if err == nil && !auto {
			if reason := fitShare(pool, &want); reason != "" {
				f.Add("address", reason)
			}
		}
		if err := f.Merge(err); err != nil {
			return err
		}
		if err := f.Err(); err != nil {
			return err
		}
		held = db.IPAddress{PoolID: pool.ID, PoolName: pool.Name, CustomerID: &customer.ID}
		if auto {
			used, err := q.PoolAddresses(ctx, pool.ID)
			if err != nil {
				return err
			}
			share, ok := nextFree(pool, used)
			if !ok {
				return domain.ConflictField("address", "IP pool %s has no free address left", pool.Name)
			}
			held.Share = share
		} else {
			held.Share = want
		}
		if err := q.InsertAddress(ctx, held); err != nil {
			var ce *db.ConflictError
			if errors.As(err, &ce) {
				return domain.ConflictField("address", "%s is in use", shareString(held.Share))
			}
			return err
		}
		return domain.Audit(ctx, q, p, "ip_address.reserve", nil, map[string]any{"address": shareString(held.Share), "customer": in.Customer})
	})
	if err != nil {
		return HeldAddress{}, err
	}
	return HeldAddress{AddressView: addressView(held), Customer: customer.Username}, nil
}

// Unreserve gives a reservation up (staff): an address on no container
// goes back to the pool; one on a container stays there, its customer's
// no longer.
func (s *Service) Unreserve(ctx context.Context, p db.Principal, address string) error {
	if err := policy.RequireStaff(p); err != nil {
		return err
	}
	want, err := parseShare(address)
	if err != nil {
		return domain.NotFound("%s", err.Error())
	}
	return s.Store.InTx(ctx, func(_ pgx.Tx, q *db.Queries) error {
		a, err := q.AddressOf(ctx, want.Addr())
		if errors.Is(err, db.ErrNotFound) || (err == nil && a.CustomerID == nil) {
			return domain.NotFound("%s is not reserved", address)
		}
		if err != nil {
			return err
		}
		if s := policy.OwnerScope(p); s != nil && *s != *a.CustomerID {
			return domain.NotFound("%s is not reserved", address)
		}
		if err := q.SetAddressCustomer(ctx, a.ID, nil); err != nil {
			return err
		}
		return domain.Audit(ctx, q, p, "ip_address.unreserve", nil, map[string]any{"address": shareString(a.Share)})
	})
}
