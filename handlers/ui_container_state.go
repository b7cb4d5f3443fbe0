package handlers

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/ops"
)

// ContainerAction is POST /containers/{ref}/start|stop|restart|freeze|
// unfreeze: the API's action, then back to the container page following
// the operation. Freeze and unfreeze are for staff, as in the API.
func (u *UI) ContainerAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if (action == ops.ActionFreeze || action == ops.ActionUnfreeze) && !principal(r).IsStaff() {
			u.renderError(w, r, http.StatusForbidden, "Staff only", "Only the hosting staff can freeze or unfreeze a container.")
			return
		}
		ref := chi.URLParam(r, "ref")
		ans, err := u.callAPI(r, u.api.ContainerAction(action), http.MethodPost,
			"/api/v1/containers/"+ref+"/"+action, refParam(r), nil)
		if err != nil {
			u.pageError(w, r, err)
			return
		}
		u.containerOpRedirect(w, r, ans, "")
	}
}
