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
