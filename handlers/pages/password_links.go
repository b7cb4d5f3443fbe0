package pages

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/domain/customers"
)

// SetPasswordPage is GET /set-password?token=...: the form a password link
// opens, or why the link no longer works.
func (u *UI) SetPasswordPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	l, err := u.Customers.PasswordLinkFor(r.Context(), token)
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
	l, err := u.Customers.PasswordLinkFor(r.Context(), token)
	if err != nil {
		u.linkError(w, r, err)
		return
	}
	err = u.Customers.RedeemPasswordLink(r.Context(), token, r.PostFormValue("password"), r.PostFormValue("confirm"))
	if fields, _, _, other := formError(err); err != nil && other == nil {
		u.render(w, r, http.StatusUnprocessableEntity, "set_password", view{"Token": token, "Username": l.Username, "Errors": fields,
			"Message": "The password was not set."})
		return
	}
	if err != nil {
		u.linkError(w, r, err)
		return
	}
	http.Redirect(w, r, "/login?done=password", http.StatusSeeOther)
}

func (u *UI) linkError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, customers.ErrLinkInvalid) {
		u.renderError(w, r, http.StatusGone, "Link no longer valid",
			"This link has been used already, has expired, or was never issued. Ask your provider for a new one, or sign in if you have set your password.")
		return
	}
	u.serverError(w, r, err)
}

// PasswordLinkUI is POST /customers/{id}/password-link (staff): a
// one-time link, shown once to copy and send.
func (u *UI) PasswordLinkUI(w http.ResponseWriter, r *http.Request) {
	base := u.Origins.LinkBase(r)
	l, err := u.Customers.SendPasswordLink(r.Context(), principal(r), chi.URLParam(r, "id"), base)
	if err != nil {
		_, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.customersPage(w, r, status, view{"Message": msg})
		return
	}
	out := struct {
		Username  string
		Path      string
		ExpiresAt time.Time
		Mail      customers.MailNote
	}{l.Customer.Username, l.Path, l.ExpiresAt, l.Mail}
	u.render(w, r, http.StatusCreated, "password_link", view{"L": out, "URL": base + out.Path})
}
