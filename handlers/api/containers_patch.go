package api

import (
	"encoding/json"
	"net/http"

	"github.com/ctpanel/ctpanel/domain/containers"
)

// PatchContainer is PATCH /api/v1/containers/{ref} (vzctl set --save) for
// name, hostname, nameserver, onboot, description and plan. Settings that
// live in the container (hostname, nameserver) are applied by a configure
// operation, live when it runs: then the answer is 202 with the operation.
// Otherwise it is 200 with the container.
func (a *API) PatchContainer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name        json.RawMessage `json:"name"`
		Hostname    *string         `json:"hostname"`
		Nameservers *stringList     `json:"nameserver"`
		OnBoot      *bool           `json:"onboot"`
		Description *string         `json:"description"`
		Plan        *string         `json:"plan"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	in := containers.Update{Hostname: req.Hostname, OnBoot: req.OnBoot, Description: req.Description, Plan: req.Plan}
	if req.Name != nil {
		var name *string
		if err := json.Unmarshal(req.Name, &name); err != nil {
			a.smartError(w, r, FieldErrors{"name": "must be a string or null"}.Err())
			return
		}
		in.Name = &name
	}
	if req.Nameservers != nil {
		ns := []string(*req.Nameservers)
		in.Nameservers = &ns
	}
	op, c, err := a.Containers.Update(r.Context(), principal(r), ref(r), in)
	switch {
	case err != nil:
		a.smartError(w, r, err)
	case op != nil:
		accepted(w, *op)
	default:
		writeJSON(w, http.StatusOK, a.Containers.Describe(r.Context(), c))
	}
}
