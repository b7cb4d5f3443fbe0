// Package tokens is the domain of API tokens: made and revoked by admins,
// shown once, stored only hashed.
package tokens

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
)

// Service is the tokens domain.
type Service struct {
	Store *db.Store
	Log   *slog.Logger
}

// NewToken is a token to make: its name, role, the user a customer token
// acts as, and how long it lives ("720h"; empty: for ever).
type NewToken struct {
	Name, Role, User, ExpiresIn string
	// ReadOnly narrows the token to reading; Customer (a customer's
	// username) narrows a staff or billing token to that customer's
	// containers and record.
	ReadOnly bool
	Customer string
}

// Created is a new token, with its secret shown once.
type Created struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	User      string     `json:"user"`
	ExpiresAt *time.Time `json:"expires_at"`
	ReadOnly  bool       `json:"read_only"`
	Customer  *string    `json:"customer"`
	Token     string     `json:"token"`
}

// Create makes a token (admin).
func (s *Service) Create(ctx context.Context, p db.Principal, in NewToken) (Created, error) {
	if err := policy.RequireAdmin(p); err != nil {
		return Created{}, err
	}
	f := domain.FieldErrors{}
	policy.CheckName(f, "name", in.Name)
	policy.CheckRole(f, "role", in.Role)
	var userID *int64
	if in.User != "" {
		u, err := s.Store.GetUserByName(ctx, in.User)
		switch {
		case errors.Is(err, db.ErrNotFound):
			f.Add("user", fmt.Sprintf("no user %q", in.User))
		case err != nil:
			return Created{}, err
		case in.Role == db.RoleCustomer && u.Role != db.RoleCustomer:
			f.Add("user", "a customer token must act as a customer")
		default:
			userID = &u.ID
		}
	} else if in.Role == db.RoleCustomer {
		f.Add("user", "a customer token needs the customer it acts as")
	}
	var scope *int64
	if in.Customer != "" {
		u, err := s.Store.GetUserByName(ctx, in.Customer)
		switch {
		case in.Role != db.RoleStaff && in.Role != db.RoleBilling:
			f.Add("customer", "only staff and billing tokens are narrowed to a customer (a customer token acts as its customer already)")
		case errors.Is(err, db.ErrNotFound):
			f.Add("customer", fmt.Sprintf("no customer %q", in.Customer))
		case err != nil:
			return Created{}, err
		case u.Role != db.RoleCustomer:
			f.Add("customer", fmt.Sprintf("user %q is %s, not a customer", in.Customer, u.Role))
		default:
			scope = &u.ID
		}
	}
	var expires *time.Time
	if in.ExpiresIn != "" {
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil || d <= 0 {
			f.Add("expires_in", "must be a positive duration such as 720h")
		} else {
			t := time.Now().Add(d)
			expires = &t
		}
	}
	if err := f.Err(); err != nil {
		return Created{}, err
	}
	id, secret, err := s.Store.CreateScopedToken(ctx, in.Name, in.Role, userID, expires, in.ReadOnly, scope)
	if err != nil {
		return Created{}, err
	}
	domain.AuditOutside(ctx, s.Store, s.Log, p, "token.create", map[string]any{"token": in.Name, "role": in.Role, "id": id,
		"read_only": in.ReadOnly, "customer": in.Customer})
	var customer *string
	if scope != nil {
		customer = &in.Customer
	}
	return Created{ID: id, Name: in.Name, Role: in.Role, User: in.User, ExpiresAt: expires, ReadOnly: in.ReadOnly, Customer: customer, Token: secret}, nil
}

// List is every token, never the secrets (admin).
func (s *Service) List(ctx context.Context, p db.Principal) ([]db.Token, error) {
	if err := policy.RequireAdmin(p); err != nil {
		return nil, err
	}
	return s.Store.ListTokens(ctx)
}

// Revoke ends token id (admin).
func (s *Service) Revoke(ctx context.Context, p db.Principal, id string) error {
	if err := policy.RequireAdmin(p); err != nil {
		return err
	}
	n, err := domain.ParseID("token", id)
	if err != nil {
		return err
	}
	err = s.Store.RevokeToken(ctx, n)
	if errors.Is(err, db.ErrNotFound) {
		return domain.NotFound("token %q does not exist", id)
	}
	if err == nil {
		domain.AuditOutside(ctx, s.Store, s.Log, p, "token.revoke", map[string]any{"id": n})
	}
	return err
}
