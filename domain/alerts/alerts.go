// Package alerts is the domain of failcnt alerts: raised when a
// container's beancounter failcnt grows, seen by the container's owner and
// staff, acknowledged by staff.
package alerts

import (
	"context"
	"errors"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
)

// Service is the alerts domain.
type Service struct {
	Store *db.Store
}

// List is the alerts p may see, only the unacknowledged ones when open.
func (s *Service) List(ctx context.Context, p db.Principal, open bool, limit int) ([]db.Alert, error) {
	list, err := s.Store.ListAlerts(ctx, open, policy.OwnerScope(p), limit)
	if list == nil {
		list = []db.Alert{}
	}
	return list, err
}

// Ack acknowledges alert id (hosting staff).
func (s *Service) Ack(ctx context.Context, p db.Principal, id string) error {
	if err := policy.RequireOperator(p); err != nil {
		return err
	}
	n, err := domain.ParseID("alert", id)
	if err != nil {
		return err
	}
	err = s.Store.AckAlert(ctx, n, p.Actor())
	if errors.Is(err, db.ErrNotFound) {
		return domain.NotFound("alert %q does not exist", id)
	}
	return err
}

// OpenCount is how many alerts wait for acknowledgement, farm-wide.
func (s *Service) OpenCount(ctx context.Context) (int, error) {
	var n int
	err := s.Store.Pool.QueryRow(ctx, `SELECT count(*) FROM alerts WHERE acknowledged_at IS NULL`).Scan(&n)
	return n, err
}
