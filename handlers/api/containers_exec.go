package api

import (
	"net/http"

	"github.com/ctpanel/ctpanel/domain/containers"
)

// ExecContainer is POST /api/v1/containers/{ref}/exec (vzctl exec): it runs
// one command in the running container and answers its stdout, stderr and
// exit code.
func (a *API) ExecContainer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Command []string          `json:"command"`
		Env     map[string]string `json:"env"`
		Cwd     string            `json:"cwd"`
		Stdin   string            `json:"stdin"`
		Timeout int               `json:"timeout"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	res, err := a.Containers.Exec(r.Context(), principal(r), ref(r), containers.ExecInput(req))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
