package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/GehirnInc/crypt"
	_ "github.com/GehirnInc/crypt/sha512_crypt" // registers SHA-512 crypt

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/ops"
)

// credentialFields validates a root password and SSH keys and turns them
// into operation params: the password only as a SHA-512 crypt hash, so it
// is never stored.
func credentialFields(f FieldErrors, password *string, keys []string, p *ops.Params) {
	if password != nil {
		pw := *password
		switch {
		case len(pw) < 8 || len(pw) > 128:
			f.Add("root_password", "must be 8 to 128 characters")
		case strings.IndexFunc(pw, unicode.IsControl) >= 0:
			f.Add("root_password", "must not contain control characters")
		default:
			hash, err := crypt.SHA512.New().Generate([]byte(pw), nil)
			if err != nil {
				f.Add("root_password", "could not be hashed")
				return
			}
			p.RootHash = hash
		}
	}
	if len(keys) > 20 {
		f.Add("ssh_keys", "at most 20 keys")
	}
	for i, k := range keys {
		k = strings.TrimSpace(k)
		fields := strings.Fields(k)
		ok := len(fields) >= 2 && len(k) <= 16384 && !strings.ContainsAny(k, "\n\r\x00") &&
			(strings.HasPrefix(fields[0], "ssh-") || strings.HasPrefix(fields[0], "ecdsa-sha2-") || strings.HasPrefix(fields[0], "sk-"))
		if _, err := base64.StdEncoding.DecodeString(safeField(fields, 1)); !ok || err != nil {
			f.Add("ssh_keys", fmt.Sprintf("entry %d is not an OpenSSH public key line (type base64 [comment])", i))
			continue
		}
		p.SSHKeys = append(p.SSHKeys, k)
	}
}

func safeField(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return "!"
}

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
	if req.Mode == "" {
		req.Mode = "stop"
	}
	f := FieldErrors{}
	if req.Mode != "stop" && req.Mode != "freeze" {
		f.Add("mode", `must be "stop" (stop and lock) or "freeze"`)
	}
	checkDescription(f, "reason", req.Reason)
	if err := f.Err(); err != nil {
		a.smartError(w, r, err)
		return
	}
	a.enqueueOnTx(w, r, ops.ActionSuspend, ops.Params{Mode: req.Mode}, func(q *db.Queries, c db.Container) error {
		if c.Phase != db.PhaseReady {
			return conflict("container %d is %s", c.CTID, c.Phase)
		}
		if c.SuspendedAt != nil {
			return &APIError{Status: http.StatusConflict, Code: "already_suspended", Message: fmt.Sprintf("container %d is already suspended (%s)", c.CTID, *c.SuspendMode)}
		}
		mode := req.Mode
		return q.SetSuspended(r.Context(), c.CTID, &mode, req.Reason)
	})
}

// Unsuspend is POST /api/v1/containers/{ref}/unsuspend: undoes suspend
// (starts or thaws the container).
func (a *API) Unsuspend(w http.ResponseWriter, r *http.Request) {
	if err := decodeJSON(w, r, &struct{}{}, true); err != nil {
		a.smartError(w, r, err)
		return
	}
	var mode string
	a.enqueueOnTx(w, r, ops.ActionUnsuspend, ops.Params{}, func(q *db.Queries, c db.Container) error {
		if c.SuspendedAt == nil || c.SuspendMode == nil {
			return &APIError{Status: http.StatusConflict, Code: "not_suspended", Message: fmt.Sprintf("container %d is not suspended", c.CTID)}
		}
		mode = *c.SuspendMode
		return q.SetSuspended(r.Context(), c.CTID, nil, "")
	}, func(p *ops.Params) { p.Mode = mode })
}

// Terminate is POST /api/v1/containers/{ref}/terminate: destroy, running
// or not, and release everything (history, alerts, the CTID).
func (a *API) Terminate(w http.ResponseWriter, r *http.Request) {
	if err := decodeJSON(w, r, &struct{}{}, true); err != nil {
		a.smartError(w, r, err)
		return
	}
	q := r.URL.Query()
	q.Set("force", "true")
	r.URL.RawQuery = q.Encode()
	a.DeleteContainer(w, r)
}

// ChangePlan is POST /api/v1/containers/{ref}/change-plan {"plan":"name"}:
// the plan's limits replace the container's and are applied live; they are
// saved in its config, so no restart resets them.
func (a *API) ChangePlan(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Plan string `json:"plan"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	if req.Plan == "" {
		a.smartError(w, r, FieldErrors{"plan": "is required"}.Err())
		return
	}
	a.changePlan(w, r, req.Plan)
}

// Reinstall is POST /api/v1/containers/{ref}/reinstall {"template":..,
// "root_password":..,"ssh_keys":[..]}: a fresh rootfs, same CTID, hostname,
// limits and addresses.
func (a *API) Reinstall(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Template     string   `json:"template"`
		RootPassword *string  `json:"root_password"`
		SSHKeys      []string `json:"ssh_keys"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	f := FieldErrors{}
	p := ops.Params{Template: req.Template}
	if err := a.checkTemplate(r, f, req.Template); err != nil {
		a.smartError(w, r, err)
		return
	}
	credentialFields(f, req.RootPassword, req.SSHKeys, &p)
	if err := f.Err(); err != nil {
		a.smartError(w, r, err)
		return
	}
	a.enqueueOnTx(w, r, ops.ActionReinstall, p, func(q *db.Queries, c db.Container) error {
		if c.Phase != db.PhaseReady && c.Phase != db.PhaseMissing {
			return conflict("container %d is %s", c.CTID, c.Phase)
		}
		if c.SuspendedAt != nil && !principal(r).IsStaff() {
			return suspendedErr(c)
		}
		return q.SetContainerTemplate(r.Context(), c.CTID, req.Template)
	})
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
	generated := ""
	if req.RootPassword == nil {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		generated = base64.RawURLEncoding.EncodeToString(b)
		req.RootPassword = &generated
	}
	f := FieldErrors{}
	var p ops.Params
	credentialFields(f, req.RootPassword, req.SSHKeys, &p)
	if err := f.Err(); err != nil {
		a.smartError(w, r, err)
		return
	}
	op, err := a.queueOn(r, ops.ActionPassword, p, func(q *db.Queries, c db.Container) error {
		if c.Phase != db.PhaseReady {
			return conflict("container %d is %s", c.CTID, c.Phase)
		}
		return nil
	})
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

func suspendedErr(c db.Container) error {
	return &APIError{Status: http.StatusConflict, Code: "suspended",
		Message: fmt.Sprintf("container %d is suspended; it can be started again once the account is unsuspended", c.CTID)}
}
