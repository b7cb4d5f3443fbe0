package handlers

import (
	"net/http"

	"golang.org/x/crypto/bcrypt"
)

// AccountPage is GET /account: who you are and a form to change your
// password.
func (u *UI) AccountPage(w http.ResponseWriter, r *http.Request) {
	u.accountPage(w, r, http.StatusOK, nil, "")
}

func (u *UI) accountPage(w http.ResponseWriter, r *http.Request, status int, errs FieldErrors, msg string) {
	acc, err := u.api.Store.GetAccount(r.Context(), sessionOf(r).UserID)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	u.render(w, r, status, "account", view{"Account": acc, "Errors": errs, "Message": msg, "Done": r.URL.Query().Get("done")})
}

// ChangePassword is POST /account/password {current, password, confirm}:
// every other session of the user is signed out.
func (u *UI) ChangePassword(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	current, pw, confirm := r.PostFormValue("current"), r.PostFormValue("password"), r.PostFormValue("confirm")
	f := FieldErrors{}
	hash, err := u.api.Store.PasswordHash(r.Context(), s.UserID)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	if current == "" {
		f.Add("current", "enter your current password")
	} else if bcrypt.CompareHashAndPassword([]byte(hash), []byte(current)) != nil {
		f.Add("current", "this is not your current password")
	}
	checkNewPassword(f, "password", pw)
	if pw != confirm {
		f.Add("confirm", "does not match the new password")
	}
	if len(f) > 0 {
		u.accountPage(w, r, http.StatusUnprocessableEntity, f, "Your password was not changed: correct the fields marked below.")
		return
	}
	newHash, err := hashPassword(pw)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	if err := u.api.Store.SetPassword(r.Context(), s.UserID, newHash); err != nil {
		u.serverError(w, r, err)
		return
	}
	if err := u.api.Store.DeleteUserSessions(r.Context(), s.UserID, s.idHash); err != nil {
		u.serverError(w, r, err)
		return
	}
	u.audit(r, "user.password", map[string]any{"user": s.Username})
	http.Redirect(w, r, "/account?done=password", http.StatusSeeOther)
}
