package pages

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain/customers"
)

// UsersPage is GET /users (admin): the staff accounts and a form for a
// new one.
func (u *UI) UsersPage(w http.ResponseWriter, r *http.Request) {
	u.usersPage(w, r, http.StatusOK, view{"Form": map[string]string{"role": db.RoleStaff}})
}

func (u *UI) usersPage(w http.ResponseWriter, r *http.Request, status int, v view) {
	list, err := u.Store.ListStaffAccounts(r.Context())
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	ids := make([]int64, 0, len(list))
	for _, a := range list {
		ids = append(ids, a.ID)
	}
	on, err := u.Store.TOTPEnabledAmong(r.Context(), ids)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	v["Users"], v["TwoFactorOn"] = list, on
	v["Done"] = r.URL.Query().Get("done")
	u.render(w, r, status, "users", v)
}

// CreateUser is POST /users: a staff or admin account with a password.
func (u *UI) CreateUser(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{}
	for _, k := range []string{"username", "name", "email", "role"} {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	_, err := u.Customers.CreateStaff(r.Context(), principal(r), customers.NewStaff{Username: form["username"],
		Name: form["name"], Email: form["email"], Role: form["role"], Password: r.PostFormValue("password")})
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.usersPage(w, r, status, view{"Form": form, "Errors": fields, "Message": msg})
		return
	}
	http.Redirect(w, r, "/users?done=created", http.StatusSeeOther)
}

// SetUserDisabled is POST /users/{id}/disable and /enable. An admin
// cannot disable themself, so there is always someone to undo it.
func (u *UI) SetUserDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := u.Customers.SetStaffDisabled(r.Context(), principal(r), chi.URLParam(r, "id"), disabled); err != nil {
			_, msg, status, ok := u.formRefusal(w, r, err)
			if !ok {
				return
			}
			u.usersPage(w, r, status, view{"Form": map[string]string{"role": db.RoleStaff}, "Message": msg})
			return
		}
		done := "enable"
		if disabled {
			done = "disable"
		}
		http.Redirect(w, r, "/users?done="+done, http.StatusSeeOther)
	}
}

// ResetUserTwoFactor is POST /users/{id}/two-factor/reset (admin): turns
// off a staff user's two-factor sign-in (lost authenticator).
func (u *UI) ResetUserTwoFactor(w http.ResponseWriter, r *http.Request) {
	if _, err := u.TwoFactor.Reset(r.Context(), principal(r), chi.URLParam(r, "id")); err != nil {
		_, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.usersPage(w, r, status, view{"Message": msg, "Form": map[string]string{"role": db.RoleStaff}})
		return
	}
	http.Redirect(w, r, "/users?done=2fa-reset", http.StatusSeeOther)
}
