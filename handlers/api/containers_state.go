package api

import (
	"net/http"

	"github.com/ctpanel/ctpanel/db"
)

// ContainerAction serves POST /api/v1/containers/{ref}/{start|stop|shutdown|
// restart|freeze|unfreeze}: it records the action and answers 202.
func (a *API) ContainerAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Timeout *int `json:"timeout"`
		}
		if err := decodeJSON(w, r, &req, true); err != nil {
			a.smartError(w, r, err)
			return
		}
		op, err := a.Containers.Act(r.Context(), principal(r), ref(r), action, req.Timeout)
		a.answerOp(w, r, op, err)
	}
}

// answerOp answers 202 with the operation, or the error.
func (a *API) answerOp(w http.ResponseWriter, r *http.Request, op db.Operation, err error) {
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	accepted(w, op)
}

// UnprivilegeContainer serves POST /api/v1/containers/{ref}/unprivilege:
// the conversion of a privileged container, answered 202.
func (a *API) UnprivilegeContainer(w http.ResponseWriter, r *http.Request) {
	if err := decodeJSON(w, r, &struct{}{}, true); err != nil {
		a.smartError(w, r, err)
		return
	}
	op, err := a.Containers.Unprivilege(r.Context(), principal(r), ref(r))
	a.answerOp(w, r, op, err)
}
