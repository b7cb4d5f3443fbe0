package handlers

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/ubc"
)

// changePlan moves the container of {ref} to a plan: its limits become the
// plan's and are applied live (202 with the set_limits operation).
func (a *API) changePlan(w http.ResponseWriter, r *http.Request, name string) {
	p, err := a.Store.GetPlan(r.Context(), name)
	if errors.Is(err, db.ErrNotFound) {
		a.smartError(w, r, FieldErrors{"plan": fmt.Sprintf("no plan %q", name)}.Err())
		return
	}
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	spec, err := decodeSpec(p.Limits)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	a.enqueueLimits(w, r, func(ubc.Spec) ubc.Spec { return spec }, &p.ID, true)
}
