package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/ops"
	"github.com/ctpanel/ctpanel/ubc"
)

// ParseLimits reads a limits object (vzctl's values: "200:200", "512M",
// "unlimited"); prefix starts the field names in errors ("limits."). A
// whole plan (prefix set) is also held to the cross-resource rules.
func ParseLimits(raw json.RawMessage, prefix string, host ubc.Host) (ubc.Spec, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		field := "body"
		if prefix != "" {
			field = prefix[:len(prefix)-1]
		}
		return ubc.Spec{}, domain.FieldErrors{field: "must be an object such as {\"numproc\":\"200:200\",\"physpages\":\"512M\"}"}.Err()
	}
	spec, errs := ubc.Parse(m, host)
	if len(errs) == 0 && prefix != "" {
		errs = spec.Check(host)
	}
	return spec, LimitErrors(errs, prefix)
}

func (s *Service) parseLimits(raw json.RawMessage, prefix string) (ubc.Spec, error) {
	return ParseLimits(raw, prefix, s.Host)
}

// LimitErrors turns ubc's per-resource errors into a 422, the field
// names prefixed (for "limits.numproc"); nil when there are none.
func LimitErrors(errs ubc.Errors, prefix string) error {
	f := domain.FieldErrors{}
	for k, v := range errs {
		f.Add(prefix+k, v)
	}
	return f.Err()
}

// Limits are a container's configured limits.
type Limits struct {
	CTID   int      `json:"ctid"`
	Plan   *string  `json:"plan"`
	Limits ubc.Spec `json:"limits"`
}

// Limits reads the limits of the container ref.
func (s *Service) Limits(ctx context.Context, p db.Principal, ref string) (Limits, error) {
	c, err := s.Get(ctx, p, ref)
	if err != nil {
		return Limits{}, err
	}
	spec, err := ubc.Decode(c.Limits)
	if err != nil {
		return Limits{}, err
	}
	v := Limits{CTID: c.CTID, Limits: spec}
	if c.PlanID != nil {
		if pl, err := s.Store.GetPlanByID(ctx, *c.PlanID); err == nil {
			v.Plan = &pl.Name
		}
	}
	return v, nil
}

// SetLimits (staff) validates raw, merges it into the container's limits
// and records set_limits, which applies them live (vzctl set --save).
func (s *Service) SetLimits(ctx context.Context, p db.Principal, ref string, raw json.RawMessage) (db.Operation, error) {
	if err := policy.RequireOperator(p); err != nil {
		return db.Operation{}, err
	}
	spec, err := s.parseLimits(raw, "")
	if err != nil {
		return db.Operation{}, err
	}
	if spec.Empty() {
		return db.Operation{}, domain.FieldErrors{"body": "no limits given"}.Err()
	}
	return s.storeLimits(ctx, p, ref, func(cur ubc.Spec) ubc.Spec { return cur.Merge(spec) }, nil, false)
}

// ChangePlan (staff) moves the container ref to plan name: its limits
// become the plan's and are applied live; they are saved in its config,
// so no restart resets them.
func (s *Service) ChangePlan(ctx context.Context, p db.Principal, ref, name string) (db.Operation, error) {
	if err := policy.RequireStaff(p); err != nil {
		return db.Operation{}, err
	}
	if name == "" {
		return db.Operation{}, domain.FieldErrors{"plan": "is required"}.Err()
	}
	pl, err := s.Store.GetPlan(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return db.Operation{}, domain.FieldErrors{"plan": fmt.Sprintf("no plan %q", name)}.Err()
	}
	if err != nil {
		return db.Operation{}, err
	}
	spec, err := ubc.Decode(pl.Limits)
	if err != nil {
		return db.Operation{}, err
	}
	return s.storeLimits(ctx, p, ref, func(ubc.Spec) ubc.Spec { return spec }, &pl.ID, true)
}

// storeLimits stores the limits next(current) on the container ref and
// records set_limits, in one transaction.
func (s *Service) storeLimits(ctx context.Context, p db.Principal, ref string, next func(ubc.Spec) ubc.Spec, planID *int64, setPlan bool) (db.Operation, error) {
	var op db.Operation
	err := s.Store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		c, err := s.getForUpdate(ctx, q, p, ref)
		if err != nil {
			return err
		}
		if c.Phase != db.PhaseReady {
			return domain.Conflict("container %d is %s; its limits can change once it is ready", c.CTID, c.Phase)
		}
		cur, err := ubc.Decode(c.Limits)
		if err != nil {
			return err
		}
		spec := next(cur)
		if spec.DiskSpace != nil && cur.DiskSpace == nil {
			return domain.FieldErrors{"diskspace": "this container was created without a disk of its own; clone it with a diskspace to give it one"}.Err()
		}
		if err := LimitErrors(spec.Check(s.Host), ""); err != nil {
			return err
		}
		raw, err := json.Marshal(spec)
		if err != nil {
			return err
		}
		if err := q.SetContainerLimits(ctx, c.CTID, raw, planID, setPlan); err != nil {
			return err
		}
		op, err = s.Queue.Enqueue(ctx, tx, q, c.CTID, &ops.SetLimits{PreviousLimits: c.Limits, PreviousPlanID: c.PlanID},
			domain.Entry(p, "container.set_limits", &c.CTID, map[string]any{"limits": spec}))
		return err
	})
	return op, err
}
