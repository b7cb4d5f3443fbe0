package api

import (
	"net/http"
	"strconv"
)

// DeleteContainer is DELETE /api/v1/containers/{ref}[?force=true]: refused
// with 409 while the container runs unless forced, like lxc-destroy -f.
func (a *API) DeleteContainer(w http.ResponseWriter, r *http.Request) {
	force := false
	if s := r.URL.Query().Get("force"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			a.smartError(w, r, invalidParam("force", "must be true or false"))
			return
		}
		force = b
	}
	op, err := a.Containers.Destroy(r.Context(), principal(r), ref(r), force)
	a.answerOp(w, r, op, err)
}
