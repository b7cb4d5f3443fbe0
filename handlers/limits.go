package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/ops"
	"github.com/ctpanel/ctpanel/ubc"
)

// decodeSpec reads a stored limits column.
func decodeSpec(raw json.RawMessage) (ubc.Spec, error) {
	var s ubc.Spec
	if len(raw) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("stored limits: %w", err)
	}
	return s, nil
}

// parseLimits reads a limits object from a request field; field prefixes
// the names in errors ("limits.numproc").
func (a *API) parseLimits(raw json.RawMessage, prefix string) (ubc.Spec, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return ubc.Spec{}, FieldErrors{trimDot(prefix): "must be an object such as {\"numproc\":\"200:200\",\"physpages\":\"512M\"}"}.Err()
	}
	spec, errs := ubc.Parse(m, a.Host)
	if len(errs) == 0 && prefix != "" { // a whole plan: its own cross-resource rules
		errs = spec.Check(a.Host)
	}
	return spec, fieldErrorsOf(errs, prefix)
}

// fieldErrorsOf turns ubc's per-resource errors into the API's 422, the
// field names prefixed (for "limits.numproc"); nil when there are none.
func fieldErrorsOf(errs ubc.Errors, prefix string) error {
	f := FieldErrors{}
	for k, v := range errs {
		f.Add(prefix+k, v)
	}
	return f.Err()
}

func trimDot(s string) string {
	if s == "" {
		return "body"
	}
	return s[:len(s)-1]
}

// LimitsView is a container's configured limits.
type LimitsView struct {
	CTID   int      `json:"ctid"`
	Plan   *string  `json:"plan"`
	Limits ubc.Spec `json:"limits"`
}

// GetLimits is GET /api/v1/containers/{ref}/limits.
func (a *API) GetLimits(w http.ResponseWriter, r *http.Request) {
	c, err := a.lookup(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	spec, err := decodeSpec(c.Limits)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	v := LimitsView{CTID: c.CTID, Limits: spec}
	if c.PlanID != nil {
		if p, err := a.Store.GetPlanByID(r.Context(), *c.PlanID); err == nil {
			v.Plan = &p.Name
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// PatchLimits is PATCH /api/v1/containers/{ref}/limits (vzctl set --save
// --numproc ... ): the values are validated, merged into the container's
// limits and applied live by a set_limits operation (202).
func (a *API) PatchLimits(w http.ResponseWriter, r *http.Request) {
	raw := json.RawMessage{}
	if err := decodeJSON(w, r, &raw, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	spec, err := a.parseLimits(raw, "")
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	if spec.Empty() {
		a.smartError(w, r, FieldErrors{"body": "no limits given"}.Err())
		return
	}
	a.enqueueLimits(w, r, func(cur ubc.Spec) ubc.Spec { return cur.Merge(spec) }, nil, false)
}

// enqueueLimits stores the limits next(current) on the container of {ref}
// and queues set_limits, in one transaction.
func (a *API) enqueueLimits(w http.ResponseWriter, r *http.Request, next func(ubc.Spec) ubc.Spec, planID *int64, setPlan bool) {
	ctx := r.Context()
	var op db.Operation
	err := a.Store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		c, err := a.lookupForUpdate(r, q)
		if err != nil {
			return err
		}
		if c.Phase != db.PhaseReady {
			return conflict("container %d is %s; its limits can change once it is ready", c.CTID, c.Phase)
		}
		cur, err := decodeSpec(c.Limits)
		if err != nil {
			return err
		}
		spec := next(cur)
		if spec.DiskSpace != nil && cur.DiskSpace == nil {
			return FieldErrors{"diskspace": "this container was created without a disk of its own; clone it with a diskspace to give it one"}.Err()
		}
		if err := fieldErrorsOf(spec.Check(a.Host), ""); err != nil {
			return err
		}
		raw, err := json.Marshal(spec)
		if err != nil {
			return err
		}
		if err := q.SetContainerLimits(ctx, c.CTID, raw, planID, setPlan); err != nil {
			return err
		}
		op, err = a.Queue.Enqueue(ctx, tx, q, c.CTID, ops.ActionSetLimits,
			ops.Params{PreviousLimits: c.Limits, PreviousPlanID: c.PlanID}, principal(r).Actor())
		if err != nil {
			return err
		}
		return a.audit(r, q, "container.set_limits", c.CTID, map[string]any{"operation": op.ID, "limits": spec})
	})
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	accepted(w, op)
}

// PlanView is a plan as the API shows it.
type PlanView struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Limits      ubc.Spec `json:"limits"`
	Containers  int      `json:"containers"`
}

func planView(p db.Plan) (PlanView, error) {
	spec, err := decodeSpec(p.Limits)
	return PlanView{Name: p.Name, Description: p.Description, Limits: spec, Containers: p.Containers}, err
}

// ListPlans is GET /api/v1/plans.
func (a *API) ListPlans(w http.ResponseWriter, r *http.Request) {
	list, err := a.Store.ListPlans(r.Context())
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	out := make([]PlanView, 0, len(list))
	for _, p := range list {
		v, err := planView(p)
		if err != nil {
			a.smartError(w, r, err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"plans": out})
}

// GetPlan is GET /api/v1/plans/{name}.
func (a *API) GetPlan(w http.ResponseWriter, r *http.Request) {
	p, err := a.Store.GetPlan(r.Context(), urlParam(r, "name"))
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("plan %q does not exist", urlParam(r, "name"))
	}
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	v, err := planView(p)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

type planRequest struct {
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	Limits      json.RawMessage `json:"limits"`
}

// CreatePlan is POST /api/v1/plans.
func (a *API) CreatePlan(w http.ResponseWriter, r *http.Request) {
	var req planRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	f := FieldErrors{}
	checkName(f, "name", req.Name)
	if req.Description != nil {
		checkDescription(f, "description", *req.Description)
	}
	if err := f.Err(); err != nil {
		a.smartError(w, r, err)
		return
	}
	spec := ubc.Spec{}
	if req.Limits != nil {
		var err error
		if spec, err = a.parseLimits(req.Limits, "limits."); err != nil {
			a.smartError(w, r, err)
			return
		}
	}
	raw, _ := json.Marshal(spec)
	desc := ""
	if req.Description != nil {
		desc = *req.Description
	}
	p, err := a.Store.CreatePlan(r.Context(), req.Name, desc, raw)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	v, _ := planView(p)
	w.Header().Set("Location", "/api/v1/plans/"+p.Name)
	writeJSON(w, http.StatusCreated, v)
}

// PatchPlan is PATCH /api/v1/plans/{name}: new limits replace the plan's
// and are re-applied, live, to every container on it (202 with the list of
// operations), so a plan change is never reset later.
func (a *API) PatchPlan(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Description *string         `json:"description"`
		Limits      json.RawMessage `json:"limits"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	if err := checkOptionalDescription(req.Description); err != nil {
		a.smartError(w, r, err)
		return
	}
	var spec *ubc.Spec
	if req.Limits != nil {
		s, err := a.parseLimits(req.Limits, "limits.")
		if err != nil {
			a.smartError(w, r, err)
			return
		}
		spec = &s
	}
	ctx := r.Context()
	name := urlParam(r, "name")
	var opsQueued []OperationView
	var plan db.Plan
	err := a.Store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		p, err := q.GetPlan(ctx, name)
		if errors.Is(err, db.ErrNotFound) {
			return notFound("plan %q does not exist", name)
		}
		if err != nil {
			return err
		}
		desc, limits := p.Description, p.Limits
		if req.Description != nil {
			desc = *req.Description
		}
		if spec != nil {
			limits, _ = json.Marshal(spec)
		}
		if err := q.UpdatePlan(ctx, p.ID, desc, limits); err != nil {
			return err
		}
		if spec != nil {
			ids, err := q.ContainersOnPlan(ctx, p.ID)
			if err != nil {
				return err
			}
			for _, id := range ids {
				c, err := q.LockContainer(ctx, id)
				if err != nil {
					return err
				}
				if err := q.SetContainerLimits(ctx, id, limits, &p.ID, true); err != nil {
					return err
				}
				op, err := a.Queue.Enqueue(ctx, tx, q, id, ops.ActionSetLimits,
					ops.Params{PreviousLimits: c.Limits, PreviousPlanID: c.PlanID}, principal(r).Actor())
				if err != nil {
					return err
				}
				opsQueued = append(opsQueued, opView(op))
			}
		}
		plan, err = q.GetPlan(ctx, name)
		return err
	})
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	v, _ := planView(plan)
	status := http.StatusOK
	if len(opsQueued) > 0 {
		status = http.StatusAccepted
	}
	if opsQueued == nil {
		opsQueued = []OperationView{}
	}
	writeJSON(w, status, map[string]any{"plan": v, "operations": opsQueued})
}

// DeletePlan is DELETE /api/v1/plans/{name}; refused while containers use it.
func (a *API) DeletePlan(w http.ResponseWriter, r *http.Request) {
	name := urlParam(r, "name")
	p, err := a.Store.GetPlan(r.Context(), name)
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("plan %q does not exist", name)
	}
	if err == nil {
		err = a.Store.DeletePlan(r.Context(), p.ID)
		if errors.Is(err, db.ErrInUse) {
			err = conflict("plan %q is used by %d container(s); move them to another plan first", name, p.Containers)
		}
	}
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
