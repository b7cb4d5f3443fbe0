package pages

import (
	"net/http"
	"strings"

	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/ops"
)

// ContainerAction is POST /containers/{ref}/start|stop|restart|freeze|
// unfreeze: the API's action, then back to the container page following
// the operation. Freeze and unfreeze are for staff, as in the API.
func (u *UI) ContainerAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if (action == ops.ActionFreeze || action == ops.ActionUnfreeze) && !policy.MayFreeze(principal(r)) {
			u.actionRefused(w, r, domain.Forbidden("only the hosting staff can freeze or unfreeze a container"))
			return
		}
		op, err := u.Containers.Act(r.Context(), principal(r), ref(r), action, nil)
		if err != nil {
			u.actionRefused(w, r, err)
			return
		}
		containerOpRedirect(w, r, op, "")
	}
}

// actionRefused shows a refused action in the container page it came
// from, with the reason (a suspended VPS, an operation already running),
// rather than on a page of its own.
func (u *UI) actionRefused(w http.ResponseWriter, r *http.Request, err error) {
	fields, msg, status, ok := u.formRefusal(w, r, err)
	if !ok {
		return
	}
	u.showContainer(w, r, status, view{"Message": msg, "Errors": fields})
}

// Suspend is POST /containers/{ref}/suspend (staff): the billing
// system's suspend, with its mode and reason.
func (u *UI) Suspend(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{"mode": r.PostFormValue("mode"), "reason": strings.TrimSpace(r.PostFormValue("reason"))}
	op, err := u.Containers.Suspend(r.Context(), principal(r), ref(r), form["mode"], form["reason"])
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.showContainer(w, r, status, view{"Message": msg, "Errors": fields, "SuspendForm": form})
		return
	}
	containerOpRedirect(w, r, op, "")
}

// Unsuspend is POST /containers/{ref}/unsuspend (staff).
func (u *UI) Unsuspend(w http.ResponseWriter, r *http.Request) {
	op, err := u.Containers.Unsuspend(r.Context(), principal(r), ref(r))
	if err != nil {
		u.actionRefused(w, r, err)
		return
	}
	containerOpRedirect(w, r, op, "")
}
