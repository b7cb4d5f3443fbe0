package pages

import (
	"net/http"

	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/ops"
)

// ContainerAction is POST /containers/{ref}/start|stop|restart|freeze|
// unfreeze: the API's action, then back to the container page following
// the operation. Freeze and unfreeze are for staff, as in the API.
func (u *UI) ContainerAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if (action == ops.ActionFreeze || action == ops.ActionUnfreeze) && !policy.MayFreeze(principal(r)) {
			u.renderError(w, r, http.StatusForbidden, "Staff only", "Only the hosting staff can freeze or unfreeze a container.")
			return
		}
		op, err := u.Containers.Act(r.Context(), principal(r), ref(r), action, nil)
		if err != nil {
			u.pageError(w, r, err)
			return
		}
		containerOpRedirect(w, r, op, "")
	}
}
