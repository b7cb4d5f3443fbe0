package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ctpanel/ctpanel/db"
)

// Bounds of a password link's life.
const (
	defaultLinkHours = 72
	maxLinkHours     = 30 * 24
)

// CreatePasswordLink is POST /api/v1/customers/{id}/password-link
// {"valid_hours":72} (staff): a one-time link with which the customer sets
// their own web panel password, for the billing system to send them. The
// secret is shown in this answer only.
func (a *API) CreatePasswordLink(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ValidHours *int `json:"valid_hours"`
	}
	if err := decodeJSON(w, r, &req, true); err != nil {
		a.smartError(w, r, err)
		return
	}
	hours := defaultLinkHours
	if req.ValidHours != nil {
		hours = *req.ValidHours
		if hours < 1 || hours > maxLinkHours {
			a.smartError(w, r, (FieldErrors{"valid_hours": "must be 1 to 720 (30 days)"}).Err())
			return
		}
	}
	c, err := a.customerFromURL(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	if c.Disabled {
		a.smartError(w, r, conflict("customer %d is disabled: enable them first", c.ID))
		return
	}
	secret, exp, err := a.Store.CreatePasswordLink(r.Context(), c.ID, time.Duration(hours)*time.Hour, principal(r).Actor())
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	path := "/set-password?" + url.Values{"token": {secret}}.Encode()
	markSecret(r, "token", "path", "url")
	writeJSON(w, http.StatusCreated, map[string]any{
		"customer":   c.ID,
		"username":   c.Username,
		"token":      secret,
		"path":       path,
		"url":        requestOrigin(r) + path,
		"expires_at": exp.UTC(),
	})
}

// requestOrigin is the scheme and host the request came to, as a client
// would link back to the panel (X-Forwarded-Proto from a TLS proxy in
// front is believed for the scheme only).
func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// SetPasswordPage is GET /set-password?token=...: the form a password link
// opens, or why the link no longer works.
func (u *UI) SetPasswordPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	l, err := u.api.Store.PasswordLinkFor(r.Context(), token)
	if err != nil {
		u.linkError(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "set_password", view{"Token": token, "Username": l.Username})
}

// SetPassword is POST /set-password {token, password, confirm}.
func (u *UI) SetPassword(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	token := r.PostFormValue("token")
	l, err := u.api.Store.PasswordLinkFor(r.Context(), token)
	if err != nil {
		u.linkError(w, r, err)
		return
	}
	pw, confirm := r.PostFormValue("password"), r.PostFormValue("confirm")
	f := FieldErrors{}
	checkNewPassword(f, "password", pw)
	if pw != confirm {
		f.Add("confirm", "does not match the password")
	}
	if len(f) > 0 {
		u.render(w, r, http.StatusUnprocessableEntity, "set_password", view{"Token": token, "Username": l.Username, "Errors": f,
			"Message": "The password was not set."})
		return
	}
	hash, err := hashPassword(pw)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	if _, err := u.api.Store.RedeemPasswordLink(r.Context(), token, hash); err != nil {
		u.linkError(w, r, err)
		return
	}
	id := l.UserID
	_ = u.api.Store.Audit(r.Context(), db.AuditEntry{Actor: l.Username + " (password link)", ActorRole: db.RoleCustomer,
		Action: "user.password_set", Details: map[string]any{"user_id": id}})
	http.Redirect(w, r, "/login?done=password", http.StatusSeeOther)
}

func (u *UI) linkError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, db.ErrLinkInvalid) {
		u.renderError(w, r, http.StatusGone, "Link no longer valid",
			"This link has been used already, has expired, or was never issued. Ask your provider for a new one, or sign in if you have set your password.")
		return
	}
	u.serverError(w, r, err)
}

// PasswordLinkUI is POST /customers/{id}/password-link (staff): the API's
// link, shown once to copy and send.
func (u *UI) PasswordLinkUI(w http.ResponseWriter, r *http.Request) {
	id := urlParam(r, "id")
	ans, err := u.callAPI(r, u.api.CreatePasswordLink, http.MethodPost, "/api/v1/customers/"+id+"/password-link",
		map[string]string{"id": id}, map[string]any{})
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	var out struct {
		Username  string    `json:"username"`
		Path      string    `json:"path"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := ans.decode(&out); err != nil {
		u.serverError(w, r, err)
		return
	}
	u.render(w, r, http.StatusCreated, "password_link", view{"L": out, "URL": requestOrigin(r) + out.Path})
}
