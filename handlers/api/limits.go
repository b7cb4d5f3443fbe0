package api

import (
	"encoding/json"
	"net/http"

	"github.com/ctpanel/ctpanel/backup"

	"github.com/ctpanel/ctpanel/db"

	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/domain/plans"
)

// LimitsView is a container's configured limits.
type LimitsView = containers.Limits

// GetLimits is GET /api/v1/containers/{ref}/limits.
func (a *API) GetLimits(w http.ResponseWriter, r *http.Request) {
	v, err := a.Containers.Limits(r.Context(), principal(r), ref(r))
	if err != nil {
		a.smartError(w, r, err)
		return
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
	op, err := a.Containers.SetLimits(r.Context(), principal(r), ref(r), raw)
	a.answerOp(w, r, op, err)
}

// PlanView is a plan as the API shows it.
type PlanView = plans.View

// ListPlans is GET /api/v1/plans.
func (a *API) ListPlans(w http.ResponseWriter, r *http.Request) {
	out, err := a.Plans.List(r.Context(), principal(r))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"plans": out})
}

// GetPlan is GET /api/v1/plans/{name}.
func (a *API) GetPlan(w http.ResponseWriter, r *http.Request) {
	v, err := a.Plans.Get(r.Context(), principal(r), urlParam(r, "name"))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// CreatePlan is POST /api/v1/plans.
func (a *API) CreatePlan(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name        string          `json:"name"`
		Description *string         `json:"description"`
		Limits      json.RawMessage `json:"limits"`
		Network     *db.PlanNetwork `json:"network"`
		Backups     *backup.Policy  `json:"backups"`
		Alerts      json.RawMessage `json:"alerts"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	v, err := a.Plans.CreateWithAlerts(r.Context(), principal(r), req.Name, req.Description, req.Limits, req.Network, req.Backups, req.Alerts)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/plans/"+v.Name)
	writeJSON(w, http.StatusCreated, v)
}

// PatchPlan is PATCH /api/v1/plans/{name}: new limits replace the plan's
// and are applied, live, to every container on it whose limits change
// (202 with the list of operations), so a plan change is never reset
// later; a container's own overrides stay unless reset_overrides.
func (a *API) PatchPlan(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Description    *string         `json:"description"`
		Limits         json.RawMessage `json:"limits"`
		Network        *db.PlanNetwork `json:"network"`
		Backups        *backup.Policy  `json:"backups"`
		Alerts         json.RawMessage `json:"alerts"`
		ResetOverrides bool            `json:"reset_overrides"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	v, ch, err := a.Plans.UpdateWithAlerts(r.Context(), principal(r), urlParam(r, "name"), req.Description, req.Limits, req.Network, req.Backups, req.Alerts, req.ResetOverrides)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	status := http.StatusOK
	if len(ch.Operations) > 0 {
		status = http.StatusAccepted
	}
	out := make([]OperationView, 0, len(ch.Operations))
	for _, op := range ch.Operations {
		out = append(out, opView(op))
	}
	writeJSON(w, status, map[string]any{"plan": v, "operations": out, "containers_changed": ch.Changed,
		"containers_keeping_overrides": ch.KeptOverrides})
}

// DeletePlan is DELETE /api/v1/plans/{name}; refused while containers use it.
func (a *API) DeletePlan(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.Plans.Delete(r.Context(), principal(r), urlParam(r, "name")))
}

// noContent answers 204, or the error.
func (a *API) noContent(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
