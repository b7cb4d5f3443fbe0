package api

import (
	"net/http"

	"github.com/ctpanel/ctpanel/domain/containers"
)

// Suspend is POST /api/v1/containers/{ref}/suspend {"mode":"stop"|"freeze",
// "reason":"..."}: the billing system's suspend. A suspended container
// cannot be started, restarted or unfrozen by its customer.
func (a *API) Suspend(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Mode   string `json:"mode"`
		Reason string `json:"reason"`
	}
	if err := decodeJSON(w, r, &req, true); err != nil {
		a.smartError(w, r, err)
		return
	}
	op, err := a.Containers.Suspend(r.Context(), principal(r), ref(r), req.Mode, req.Reason)
	a.answerOp(w, r, op, err)
}

// Unsuspend is POST /api/v1/containers/{ref}/unsuspend: undoes suspend
// (starts or thaws the container).
func (a *API) Unsuspend(w http.ResponseWriter, r *http.Request) {
	if err := decodeJSON(w, r, &struct{}{}, true); err != nil {
		a.smartError(w, r, err)
		return
	}
	op, err := a.Containers.Unsuspend(r.Context(), principal(r), ref(r))
	a.answerOp(w, r, op, err)
}

// Terminate is POST /api/v1/containers/{ref}/terminate: destroy, running
// or not, and release everything (history, alerts, the CTID).
func (a *API) Terminate(w http.ResponseWriter, r *http.Request) {
	if err := decodeJSON(w, r, &struct{}{}, true); err != nil {
		a.smartError(w, r, err)
		return
	}
	op, err := a.Containers.Terminate(r.Context(), principal(r), ref(r))
	a.answerOp(w, r, op, err)
}

// Reinstall is POST /api/v1/containers/{ref}/reinstall {"template":..,
// "root_password":..,"ssh_keys":[..]}: a fresh rootfs, same CTID, hostname,
// limits and addresses.
func (a *API) Reinstall(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Template     string   `json:"template"`
		Version      string   `json:"version"`
		RootPassword *string  `json:"root_password"`
		SSHKeys      []string `json:"ssh_keys"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	op, err := a.Containers.Reinstall(r.Context(), principal(r), ref(r),
		containers.ReinstallInput{Template: req.Template, Version: req.Version, RootPassword: req.RootPassword, SSHKeys: req.SSHKeys})
	a.answerOp(w, r, op, err)
}

// ResetPassword is POST /api/v1/containers/{ref}/reset-password
// {"root_password":".."}: without one, a random password is made and
// answered once (it is not stored).
func (a *API) ResetPassword(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RootPassword *string  `json:"root_password"`
		SSHKeys      []string `json:"ssh_keys"`
	}
	if err := decodeJSON(w, r, &req, true); err != nil {
		a.smartError(w, r, err)
		return
	}
	op, generated, err := a.Containers.ResetPassword(r.Context(), principal(r), ref(r), req.RootPassword, req.SSHKeys)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	out := struct {
		OperationView
		RootPassword string `json:"root_password,omitempty"`
	}{opView(op), generated}
	w.Header().Set("Location", "/api/v1/operations/"+op.ID)
	markSecret(r, "root_password")
	writeJSON(w, http.StatusAccepted, out)
}
