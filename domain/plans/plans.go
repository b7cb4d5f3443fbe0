// Package plans is the domain of plans: named limit presets a container is
// created on or moved to. Editing a plan's limits re-applies them, live,
// to every container on it.
package plans

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ctpanel/ctpanel/backup"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/ops"
	"github.com/ctpanel/ctpanel/ubc"
)

// Service is the plans domain.
type Service struct {
	Store *db.Store
	Queue *ops.Queue
	Log   *slog.Logger
	Host  ubc.Host
}

// View is a plan as both front ends show it.
type View struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Limits      ubc.Spec       `json:"limits"`
	Network     db.PlanNetwork `json:"network"`
	Backups     backup.Policy  `json:"backups"`
	Alerts      Alerts         `json:"alerts"`
	Containers  int            `json:"containers"`
}

// Alerts is how a plan's containers raise failcnt alerts: Thresholds by
// resource (ubc.AlertThreshold); a resource not named alerts on any
// growth.
type Alerts struct {
	Thresholds ubc.AlertThresholds `json:"thresholds"`
}

// parseAlerts reads a request's {"thresholds": {...}}, naming every bad
// field under "alerts.".
func parseAlerts(f domain.FieldErrors, raw json.RawMessage) *Alerts {
	if raw == nil || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		f.Add("alerts", `must be an object: {"thresholds": {resource: "none" or {"failures": N, "window_seconds": S}}}`)
		return nil
	}
	out := &Alerts{Thresholds: ubc.AlertThresholds{}}
	for k, v := range obj {
		if k != "thresholds" {
			f.Add("alerts."+k, `unknown field: alerts has "thresholds"`)
			continue
		}
		ts, errs := ubc.ParseAlertThresholds(v, "alerts.thresholds.")
		for field, msg := range errs {
			f.Add(field, msg)
		}
		out.Thresholds = ts
	}
	return out
}

// ViewOf decodes a plan's row.
func ViewOf(p db.Plan) (View, error) {
	spec, err := ubc.Decode(p.Limits)
	v := View{Name: p.Name, Description: p.Description, Limits: spec, Network: p.Network, Containers: p.Containers}
	if len(p.BackupPolicy) > 0 {
		if perr := json.Unmarshal(p.BackupPolicy, &v.Backups); perr != nil && err == nil {
			err = perr
		}
	}
	ts, terr := ubc.DecodeAlertThresholds(p.AlertThresholds)
	if terr != nil && err == nil {
		err = terr
	}
	v.Alerts.Thresholds = ts
	return v, err
}

// checkBackups refuses a bad backup policy, naming its fields.
func checkBackups(f domain.FieldErrors, b *backup.Policy) {
	if b == nil {
		return
	}
	for field, msg := range b.Check("backups.") {
		f.Add(field, msg)
	}
}

// parseLimits reads a plan's limits, adding their field errors to f so
// that they are reported with the plan's other fields; err is only for a
// refusal that is not about fields.
func parseLimits(f domain.FieldErrors, limits json.RawMessage, host ubc.Host) (ubc.Spec, error) {
	spec, err := containers.ParseLimits(limits, "limits.", host)
	if ae := domain.AsError(err); ae != nil && len(ae.Fields) > 0 {
		for k, v := range ae.Fields {
			f.Add(k, v)
		}
		return spec, nil
	}
	return spec, err
}

// MaxRateMbit is the highest rate a plan may set (100 Gbit/s).
const MaxRateMbit = 100_000

// CheckNetwork refuses a plan network with a negative address count or
// a rate out of range, naming the field under prefix.
func CheckNetwork(f domain.FieldErrors, prefix string, n db.PlanNetwork) {
	if n.IPAddresses != nil && (*n.IPAddresses < 0 || *n.IPAddresses > 65536) {
		f.Add(prefix+"ip_addresses", "must be between 0 and 65536 (null: no limit)")
	}
	for name, r := range map[string]*int{"rate_in_mbit": n.RateInMbit, "rate_out_mbit": n.RateOutMbit} {
		if r != nil && (*r < 1 || *r > MaxRateMbit) {
			f.Add(prefix+name, fmt.Sprintf("must be between 1 and %d Mbit/s (null: unlimited)", MaxRateMbit))
		}
	}
}

// List is every plan. Containers counts the farm's containers on each for
// staff, and only the caller's own for a customer.
func (s *Service) List(ctx context.Context, p db.Principal) ([]View, error) {
	list, err := s.Store.ListPlans(ctx)
	if err != nil {
		return nil, err
	}
	mine, err := s.ownCounts(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(list))
	for _, pl := range list {
		v, err := ViewOf(pl)
		if err != nil {
			return nil, err
		}
		if mine != nil {
			v.Containers = mine[pl.ID]
		}
		out = append(out, v)
	}
	return out, nil
}

// Get finds plan name, counted as List counts.
func (s *Service) Get(ctx context.Context, p db.Principal, name string) (View, error) {
	pl, err := s.Store.GetPlan(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return View{}, domain.NotFound("plan %q does not exist", name)
	}
	if err != nil {
		return View{}, err
	}
	v, err := ViewOf(pl)
	if err != nil {
		return v, err
	}
	mine, err := s.ownCounts(ctx, p)
	if mine != nil {
		v.Containers = mine[pl.ID]
	}
	return v, err
}

// ownCounts is how many of a customer's containers are on each plan; nil
// for staff, who see the farm's counts.
func (s *Service) ownCounts(ctx context.Context, p db.Principal) (map[int64]int, error) {
	if p.IsStaff() {
		return nil, nil
	}
	list, err := s.Store.ListContainers(ctx, policy.OwnerScope(p))
	if err != nil {
		return nil, err
	}
	counts := map[int64]int{}
	for _, c := range list {
		if c.PlanID != nil {
			counts[*c.PlanID]++
		}
	}
	return counts, nil
}

// Create makes plan name (staff) with limits (a JSON object of vzctl
// values, nil for none).
func (s *Service) Create(ctx context.Context, p db.Principal, name string, description *string, limits json.RawMessage, network *db.PlanNetwork, backups *backup.Policy) (View, error) {
	return s.CreateWithAlerts(ctx, p, name, description, limits, network, backups, nil)
}

// CreateWithAlerts is Create with the plan's alert settings (a JSON
// object {"thresholds": {...}}, nil for none: any growth alerts).
func (s *Service) CreateWithAlerts(ctx context.Context, p db.Principal, name string, description *string, limits json.RawMessage, network *db.PlanNetwork, backups *backup.Policy, alerts json.RawMessage) (View, error) {
	if err := policy.RequireStaff(p); err != nil {
		return View{}, err
	}
	f := domain.FieldErrors{}
	policy.CheckName(f, "name", name)
	if description != nil {
		policy.CheckDescription(f, "description", *description)
	}
	if network != nil {
		CheckNetwork(f, "network.", *network)
	}
	checkBackups(f, backups)
	al := parseAlerts(f, alerts)
	spec := ubc.Spec{}
	if limits != nil {
		var err error
		if spec, err = parseLimits(f, limits, s.Host); err != nil {
			return View{}, err
		}
	}
	if err := f.Err(); err != nil {
		return View{}, err
	}
	raw, _ := json.Marshal(spec)
	desc := ""
	if description != nil {
		desc = *description
	}
	var pl db.Plan
	err := s.Store.InTx(ctx, func(_ pgx.Tx, q *db.Queries) error {
		var err error
		if pl, err = q.CreatePlan(ctx, name, desc, raw); err != nil {
			return err
		}
		if backups != nil {
			pol, _ := json.Marshal(backups)
			if err := q.SetPlanBackupPolicy(ctx, pl.ID, pol); err != nil {
				return err
			}
			pl.BackupPolicy = pol
		}
		if al != nil {
			raw, _ := json.Marshal(al.Thresholds)
			if err := q.SetPlanAlertThresholds(ctx, pl.ID, raw); err != nil {
				return err
			}
			pl.AlertThresholds = raw
		}
		if network == nil {
			return nil
		}
		if err := q.SetPlanNetwork(ctx, pl.ID, *network); err != nil {
			return err
		}
		pl.Network = *network
		return nil
	})
	if err != nil {
		return View{}, err
	}
	details := map[string]any{"plan": name, "limits": spec, "network": pl.Network}
	if al != nil {
		details["alerts"] = al
	}
	s.audit(ctx, p, "plan.create", details)
	return ViewOf(pl)
}

// Change is what a plan edit did to the containers on the plan.
type Change struct {
	// Operations are the set_limits and set_network operations queued.
	Operations []db.Operation
	// Changed is how many containers' limits change.
	Changed int
	// KeptOverrides is how many of them keep limits of their own (set
	// apart from the plan's) that the edit did not reset.
	KeptOverrides int
}

// Update changes plan name (staff): new limits replace the plan's and are
// applied, live, to every container on it whose limits change (the
// set_limits operations returned), so a plan change is never reset later.
// A container's own overrides (a resource set apart from the old plan's)
// stay unless resetOverrides.
func (s *Service) Update(ctx context.Context, p db.Principal, name string, description *string, limits json.RawMessage, network *db.PlanNetwork, backups *backup.Policy, resetOverrides bool) (View, Change, error) {
	return s.UpdateWithAlerts(ctx, p, name, description, limits, network, backups, nil, resetOverrides)
}

// UpdateWithAlerts is Update that may also replace the plan's alert
// settings (nil: kept). New thresholds apply to the plan's containers'
// next failcnt growth; no operation is needed.
func (s *Service) UpdateWithAlerts(ctx context.Context, p db.Principal, name string, description *string, limits json.RawMessage, network *db.PlanNetwork, backups *backup.Policy, alerts json.RawMessage, resetOverrides bool) (View, Change, error) {
	var ch Change
	if err := policy.RequireStaff(p); err != nil {
		return View{}, ch, err
	}
	f := domain.FieldErrors{}
	if description != nil {
		policy.CheckDescription(f, "description", *description)
	}
	if network != nil {
		CheckNetwork(f, "network.", *network)
	}
	checkBackups(f, backups)
	al := parseAlerts(f, alerts)
	var spec *ubc.Spec
	if limits != nil {
		sp, err := parseLimits(f, limits, s.Host)
		if err != nil {
			return View{}, ch, err
		}
		spec = &sp
	}
	if err := f.Err(); err != nil {
		return View{}, ch, err
	}
	var queued []db.Operation
	var plan db.Plan
	err := s.Store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		pl, err := q.GetPlan(ctx, name)
		if errors.Is(err, db.ErrNotFound) {
			return domain.NotFound("plan %q does not exist", name)
		}
		if err != nil {
			return err
		}
		desc, raw := pl.Description, pl.Limits
		if description != nil {
			desc = *description
		}
		if spec != nil {
			raw, _ = json.Marshal(spec)
		}
		if err := q.UpdatePlan(ctx, pl.ID, desc, raw); err != nil {
			return err
		}
		if network != nil {
			if err := q.SetPlanNetwork(ctx, pl.ID, *network); err != nil {
				return err
			}
		}
		if backups != nil {
			pol, _ := json.Marshal(backups)
			if err := q.SetPlanBackupPolicy(ctx, pl.ID, pol); err != nil {
				return err
			}
		}
		if al != nil {
			raw, _ := json.Marshal(al.Thresholds)
			if err := q.SetPlanAlertThresholds(ctx, pl.ID, raw); err != nil {
				return err
			}
		}
		// New rates reach the plan's containers live, unless their
		// limits' set_limits below applies them anyway.
		if network != nil && spec == nil && !sameRates(pl.Network, *network) {
			ids, err := q.ContainersOnPlan(ctx, pl.ID)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if _, err := q.LockContainer(ctx, id); err != nil {
					return err
				}
				op, err := s.Queue.Enqueue(ctx, tx, q, id, &ops.SetNetwork{Plan: name}, domain.Entry(p, "", nil, nil))
				if err != nil {
					return err
				}
				queued = append(queued, op)
			}
		}
		if spec != nil {
			ids, err := q.ContainersOnPlan(ctx, pl.ID)
			if err != nil {
				return err
			}
			oldSpec, err := ubc.Decode(pl.Limits)
			if err != nil {
				return err
			}
			for _, id := range ids {
				c, err := q.LockContainer(ctx, id)
				if err != nil {
					return err
				}
				cur, err := ubc.Decode(c.Limits)
				if err != nil {
					return err
				}
				next, kept := *spec, 0
				if !resetOverrides {
					next, kept = ubc.Rebase(cur, oldSpec, *spec)
				}
				if ubc.Same(cur, next) {
					continue
				}
				ch.Changed++
				if kept > 0 {
					ch.KeptOverrides++
				}
				nextRaw, err := json.Marshal(next)
				if err != nil {
					return err
				}
				if err := q.SetContainerLimits(ctx, id, nextRaw, &pl.ID, true); err != nil {
					return err
				}
				op, err := s.Queue.Enqueue(ctx, tx, q, id, &ops.SetLimits{PreviousLimits: c.Limits, PreviousPlanID: c.PlanID}, domain.Entry(p, "", nil, nil))
				if err != nil {
					return err
				}
				queued = append(queued, op)
			}
		}
		details := map[string]any{"plan": name, "operations": len(queued), "containers_changed": ch.Changed,
			"containers_keeping_overrides": ch.KeptOverrides, "reset_overrides": resetOverrides}
		if network != nil {
			details["network"] = network
		}
		if spec != nil {
			details["limits"] = spec
		}
		if al != nil {
			details["alerts"] = al
		}
		if err := domain.Audit(ctx, q, p, "plan.update", nil, details); err != nil {
			return err
		}
		plan, err = q.GetPlan(ctx, name)
		return err
	})
	ch.Operations = queued
	if err != nil {
		return View{}, ch, err
	}
	v, err := ViewOf(plan)
	return v, ch, err
}

// Overrides counts the containers on plan name with limits of their own
// (staff): what an edit keeps unless told to reset them.
func (s *Service) Overrides(ctx context.Context, p db.Principal, name string) (int, error) {
	if err := policy.RequireStaff(p); err != nil {
		return 0, err
	}
	pl, err := s.Store.GetPlan(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return 0, domain.NotFound("plan %q does not exist", name)
	}
	if err != nil {
		return 0, err
	}
	planSpec, err := ubc.Decode(pl.Limits)
	if err != nil {
		return 0, err
	}
	// One read of the farm rather than one per container on the plan.
	list, err := s.Store.ListContainers(ctx, nil)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range list {
		if c.PlanID == nil || *c.PlanID != pl.ID || c.Phase != db.PhaseReady {
			continue
		}
		if cur, err := ubc.Decode(c.Limits); err == nil && ubc.Overrides(cur, planSpec) > 0 {
			n++
		}
	}
	return n, nil
}

func sameRates(a, b db.PlanNetwork) bool {
	eq := func(x, y *int) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return eq(a.RateInMbit, b.RateInMbit) && eq(a.RateOutMbit, b.RateOutMbit)
}

// Delete removes plan name (staff); refused while containers use it.
func (s *Service) Delete(ctx context.Context, p db.Principal, name string) error {
	if err := policy.RequireStaff(p); err != nil {
		return err
	}
	pl, err := s.Store.GetPlan(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return domain.NotFound("plan %q does not exist", name)
	}
	if err != nil {
		return err
	}
	err = s.Store.DeletePlan(ctx, pl.ID)
	if errors.Is(err, db.ErrInUse) {
		return domain.Conflict("plan %q is used by %d container(s); move them to another plan first", name, pl.Containers)
	}
	if err == nil {
		s.audit(ctx, p, "plan.delete", map[string]any{"plan": name})
	}
	return err
}

func (s *Service) audit(ctx context.Context, p db.Principal, action string, details map[string]any) {
	domain.AuditOutside(ctx, s.Store, s.Log, p, action, details)
}
