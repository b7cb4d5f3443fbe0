package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/db"
)

// UsersPage is GET /users (admin): the staff accounts and a form for a
// new one.
func (u *UI) UsersPage(w http.ResponseWriter, r *http.Request) {
	u.usersPage(w, r, http.StatusOK, view{"Form": map[string]string{"role": db.RoleStaff}})
}

func (u *UI) usersPage(w http.ResponseWriter, r *http.Request, status int, v view) {
	list, err := u.api.Store.ListStaffAccounts(r.Context())
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	v["Users"] = list
	v["Done"] = r.URL.Query().Get("done")
	u.render(w, r, status, "users", v)
}

func (u *UI) audit(r *http.Request, action string, details map[string]any) {
	p := principal(r)
	if err := u.api.Store.Audit(r.Context(), db.AuditEntry{Actor: p.Actor(), ActorRole: p.Role, Action: action, Details: details}); err != nil {
		u.api.Log.Warn("audit", "action", action, "err", err)
	}
}

// CreateUser is POST /users: a staff or admin account with a password.
func (u *UI) CreateUser(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{}
	for _, k := range []string{"username", "name", "email", "role"} {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	pw := r.PostFormValue("password")
	f := FieldErrors{}
	checkName(f, "username", form["username"])
	checkEmail(f, "email", form["email"])
	checkDescription(f, "name", form["name"])
	if form["role"] != db.RoleAdmin && form["role"] != db.RoleStaff {
		f.Add("role", "must be admin or staff")
	}
	checkNewPassword(f, "password", pw)
	again := func(status int, f FieldErrors, msg string) {
		u.usersPage(w, r, status, view{"Form": form, "Errors": f, "Message": msg})
	}
	if len(f) > 0 {
		again(http.StatusUnprocessableEntity, f, "Nothing was changed: correct the fields marked below.")
		return
	}
	hash, err := hashPassword(pw)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	acc, err := u.api.Store.CreateAccount(r.Context(), db.Account{Username: form["username"], Email: form["email"],
		Name: form["name"], Role: form["role"]}, hash)
	var ce *db.ConflictError
	if errors.As(err, &ce) {
		again(http.StatusConflict, FieldErrors{"username": "already taken"}, "Nothing was changed: correct the fields marked below.")
		return
	}
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	u.audit(r, "user.create", map[string]any{"user": acc.Username, "role": acc.Role})
	http.Redirect(w, r, "/users?done=created", http.StatusSeeOther)
}

// SetUserDisabled is POST /users/{id}/disable and /enable. An admin
// cannot disable themself, so there is always someone to undo it.
func (u *UI) SetUserDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
		if err != nil {
			u.NotFound(w, r)
			return
		}
		acc, err := u.api.Store.GetAccount(r.Context(), id)
		if err != nil || (acc.Role != db.RoleAdmin && acc.Role != db.RoleStaff) {
			u.NotFound(w, r)
			return
		}
		if disabled && sessionOf(r).UserID == id {
			u.usersPage(w, r, http.StatusConflict, view{"Form": map[string]string{"role": db.RoleStaff},
				"Message": "You cannot disable your own account."})
			return
		}
		if err := u.api.Store.SetAccountDisabled(r.Context(), id, disabled); err != nil {
			u.serverError(w, r, err)
			return
		}
		action := "user.enable"
		if disabled {
			action = "user.disable"
			_ = u.api.Store.DeleteUserSessions(r.Context(), id, nil)
		}
		u.audit(r, action, map[string]any{"user": acc.Username})
		http.Redirect(w, r, "/users?done="+strings.TrimPrefix(action, "user."), http.StatusSeeOther)
	}
}
