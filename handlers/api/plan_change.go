package api

import "net/http"

// ChangePlan is POST /api/v1/containers/{ref}/change-plan {"plan":"name"}:
// the plan's limits replace the container's and are applied live; they are
// saved in its config, so no restart resets them.
func (a *API) ChangePlan(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Plan string `json:"plan"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	op, err := a.Containers.ChangePlan(r.Context(), principal(r), ref(r), req.Plan)
	a.answerOp(w, r, op, err)
}

// ChangeOwner is POST /api/v1/containers/{ref}/change-owner
// {"owner":"username"}: the container goes to another customer; every
// console and shell session on it ends.
func (a *API) ChangeOwner(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Owner string `json:"owner"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	ch, err := a.Containers.ChangeOwner(r.Context(), principal(r), ref(r), req.Owner)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.Containers.Describe(r.Context(), ch.Container))
}
