package handlers

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// ContainerLimits is POST /containers/{ref}/limits (staff): the filled-in
// limits, in vzctl's forms, merged into the container's and applied live
// by the API's set_limits operation.
func (u *UI) ContainerLimits(w http.ResponseWriter, r *http.Request) {
	body := limitsBody(r.PostFormValue)
	ref := chi.URLParam(r, "ref")
	ans, err := u.callAPI(r, u.api.PatchLimits, http.MethodPatch, "/api/v1/containers/"+ref+"/limits", refParam(r), body)
	if err != nil {
		fields, msg, status, other := formError(err)
		if other != nil {
			u.pageError(w, r, other)
			return
		}
		if status == http.StatusNotFound {
			u.NotFound(w, r)
			return
		}
		if _, ok := fields["body"]; ok {
			msg = "Fill in at least one limit."
		}
		u.showContainer(w, r, status, view{"Limits": formFields(r.PostFormValue), "Errors": fields, "LimitsError": msg})
		return
	}
	u.containerOpRedirect(w, r, ans, "?done=limits#limits")
}
