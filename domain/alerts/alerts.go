// Package alerts is the domain of failcnt alerts: raised when a
// container's beancounter failcnt grows (past its plan's threshold), one
// open alert per container and resource that later growths add to, seen by
// the container's owner and staff, acknowledged by the hosting staff (one,
// several or all at once).
package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/monitor"
)

// Notifier is told of each alert as it opens (not of its repeats): the
// monitor calls it where an alert is raised. Add one to the monitor's
// Notifiers (server wiring); webhooks keep their own path through the
// bus and the outbox.
type Notifier = monitor.Notifier

// Service is the alerts domain.
type Service struct {
	Store *db.Store
	Log   *slog.Logger
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

// MaxAckIDs bounds the ids of one bulk acknowledgement.
const MaxAckIDs = 1000

// AckRequest picks the open alerts to acknowledge at once: exactly one of
// IDs, CTID (every open alert of that container) or All (every open
// alert).
type AckRequest struct {
	IDs  []int64 `json:"ids,omitempty"`
	CTID *int    `json:"ctid,omitempty"`
	All  bool    `json:"all,omitempty"`
}

// AckMany acknowledges the open alerts req picks (hosting staff, as Ack)
// in one statement and returns the ids it closed, ascending. Ids that are
// unknown, already acknowledged, or outside what p may see (a token
// narrowed to one customer) are ignored, not refused: two people clearing
// the same list at once both succeed. A customer may not acknowledge at
// all (403), their own alerts included, as with Ack.
func (s *Service) AckMany(ctx context.Context, p db.Principal, req AckRequest) ([]int64, error) {
	if err := policy.RequireOperator(p); err != nil {
		return nil, err
	}
	f := domain.FieldErrors{}
	given := 0
	if req.IDs != nil {
		given++
		switch {
		case len(req.IDs) == 0:
			f.Add("ids", "must list at least one alert id")
		case len(req.IDs) > MaxAckIDs:
			f.Add("ids", fmt.Sprintf("at most %d ids at once (or ctid, or all: true)", MaxAckIDs))
		}
		for _, id := range req.IDs {
			if id < 1 {
				f.Add("ids", "alert ids are whole numbers from 1")
			}
		}
	}
	if req.CTID != nil {
		given++
		if *req.CTID < 1 {
			f.Add("ctid", "must be a CTID (a whole number from 1)")
		}
	}
	if req.All {
		given++
	}
	switch {
	case given == 0:
		f.Add("ids", `give the alerts to acknowledge: "ids", "ctid" or "all": true`)
	case given > 1:
		for field, set := range map[string]bool{"ids": req.IDs != nil, "ctid": req.CTID != nil, "all": req.All} {
			if set {
				f.Add(field, `give only one of "ids", "ctid" and "all"`)
			}
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	ids, err := s.Store.AckAlerts(ctx, db.AlertSelection{IDs: req.IDs, CTID: req.CTID, All: req.All, OwnerID: policy.OwnerScope(p)}, p.Actor())
	if err != nil {
		return nil, err
	}
	details := map[string]any{"acknowledged": ids}
	switch {
	case req.CTID != nil:
		details["ctid"] = *req.CTID
	case req.All:
		details["all"] = true
	}
	if len(ids) > 0 && s.Log != nil {
		domain.AuditOutside(ctx, s.Store, s.Log, p, "alerts.acknowledge", details)
	}
	return ids, nil
}

// AckForm is AckMany for a web form: id values (the checked boxes), a
// ctid, or all ("1"), as text.
func (s *Service) AckForm(ctx context.Context, p db.Principal, ids []string, ctid, all string) ([]int64, error) {
	var req AckRequest
	f := domain.FieldErrors{}
	for _, v := range ids {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			f.Add("ids", fmt.Sprintf("%q is not an alert id", v))
			continue
		}
		req.IDs = append(req.IDs, n)
	}
	if ids != nil && req.IDs == nil && len(f) == 0 {
		req.IDs = []int64{}
	}
	if ctid != "" {
		n, err := strconv.Atoi(strings.TrimSpace(ctid))
		if err != nil {
			f.Add("ctid", fmt.Sprintf("%q is not a CTID", ctid))
		} else {
			req.CTID = &n
		}
	}
	req.All = all != ""
	if err := f.Err(); err != nil {
		return nil, err
	}
	return s.AckMany(ctx, p, req)
}

// OpenCount is how many alerts wait for acknowledgement, farm-wide.
func (s *Service) OpenCount(ctx context.Context) (int, error) {
	return s.Store.OpenAlerts(ctx)
}
