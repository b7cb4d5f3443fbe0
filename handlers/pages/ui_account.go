package pages

import (
	"net/http"

	"github.com/ctpanel/ctpanel/handlers/auth"
)

// AccountPage is GET /account: who you are and a form to change your
// password.
func (u *UI) AccountPage(w http.ResponseWriter, r *http.Request) {
	u.accountPage(w, r, http.StatusOK, nil, "")
}

func (u *UI) accountPage(w http.ResponseWriter, r *http.Request, status int, errs FieldErrors, msg string) {
	acc, err := u.Store.GetAccount(r.Context(), auth.SessionOf(r).UserID)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	u.render(w, r, status, "account", view{"Account": acc, "Errors": errs, "Message": msg, "Done": r.URL.Query().Get("done")})
}

// ChangePassword is POST /account/password {current, password, confirm}:
// every other session of the user is signed out.
func (u *UI) ChangePassword(w http.ResponseWriter, r *http.Request) {
	s := auth.SessionOf(r)
	err := u.Customers.ChangeOwnPassword(r.Context(), principal(r), s.UserID, s.IDHash,
		r.PostFormValue("current"), r.PostFormValue("password"), r.PostFormValue("confirm"))
	if err != nil {
		fields, _, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.accountPage(w, r, status, fields, "Your password was not changed: correct the fields marked below.")
		return
	}
	http.Redirect(w, r, "/account?done=password", http.StatusSeeOther)
}
