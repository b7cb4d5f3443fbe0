package pages

import (
	"net/http"
)

// ContainerLimits is POST /containers/{ref}/limits (staff): the filled-in
// limits, in vzctl's forms, merged into the container's and applied live
// by the API's set_limits operation.
func (u *UI) ContainerLimits(w http.ResponseWriter, r *http.Request) {
	op, err := u.Containers.SetLimits(r.Context(), principal(r), ref(r), limitsJSON(r.PostFormValue))
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		if _, ok := fields["body"]; ok {
			msg = "Fill in at least one limit."
		}
		u.showContainer(w, r, status, view{"Limits": formFields(r.PostFormValue), "Errors": fields, "LimitsError": msg})
		return
	}
	containerOpRedirect(w, r, op, "?done=limits#limits")
}
