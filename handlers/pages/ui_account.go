package pages

import (
	"encoding/base64"
	"html/template"
	"net/http"

	"github.com/ctpanel/ctpanel/domain/twofactor"
	"github.com/ctpanel/ctpanel/handlers/auth"
)

// AccountPage is GET /account: who you are, a form to change your
// password, and two-factor sign-in (set up, turn off, recovery codes;
// for staff, whether staff must use it).
func (u *UI) AccountPage(w http.ResponseWriter, r *http.Request) {
	u.accountPage(w, r, http.StatusOK, view{})
}

// accountPage renders the page with v's keys: Errors and Message, and
// ErrForm naming the form they belong to ("password", "enable",
// "disable", "recovery", "policy"); RecoveryCodes to show once.
func (u *UI) accountPage(w http.ResponseWriter, r *http.Request, status int, v view) {
	acc, err := u.Store.GetAccount(r.Context(), auth.SessionOf(r).UserID)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	st, err := u.TwoFactor.StatusOf(r.Context(), principal(r))
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	v["Account"], v["TwoFactor"] = acc, st
	if _, ok := v["Done"]; !ok {
		v["Done"] = r.URL.Query().Get("done")
	}
	v["SetupRequired"] = st.SetupDue || r.URL.Query().Get("setup") == "required"
	v["MayStopRequiring"] = acc.Role == "admin"
	if st.Pending {
		setup, err := u.TwoFactor.PendingSetup(r.Context(), principal(r))
		if err != nil {
			u.pageError(w, r, err)
			return
		}
		v["Setup"] = map[string]any{"Secret": setup.Secret, "URI": setup.URI,
			// A data: URL (the page's CSP allows data: images): the
			// secret never leaves in a request of its own.
			"QR": template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(setup.QRPNG))}
	}
	u.render(w, r, status, "account", v)
}

// accountRefusal shows a refused account form again with its errors.
func (u *UI) accountRefusal(w http.ResponseWriter, r *http.Request, form string, err error) {
	fields, msg, status, ok := u.formRefusal(w, r, err)
	if !ok {
		return
	}
	u.accountPage(w, r, status, view{"Errors": fields, "Message": msg, "ErrForm": form})
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
		u.accountPage(w, r, status, view{"Errors": fields, "ErrForm": "password",
			"Message": "Your password was not changed: correct the fields marked below."})
		return
	}
	http.Redirect(w, r, "/account?done=password", http.StatusSeeOther)
}

// TwoFactorSetup is POST /account/two-factor/setup: a new secret to
// confirm with a code.
func (u *UI) TwoFactorSetup(w http.ResponseWriter, r *http.Request) {
	if _, err := u.TwoFactor.BeginSetup(r.Context(), principal(r)); err != nil {
		u.accountRefusal(w, r, "enable", err)
		return
	}
	http.Redirect(w, r, "/account#two-factor", http.StatusSeeOther)
}

// TwoFactorEnable is POST /account/two-factor/enable {code}: the first
// code turns it on; the recovery codes are shown on this answer only.
func (u *UI) TwoFactorEnable(w http.ResponseWriter, r *http.Request) {
	codes, err := u.TwoFactor.Enable(r.Context(), principal(r), r.PostFormValue("code"))
	if err != nil {
		u.accountRefusal(w, r, "enable", err)
		return
	}
	u.accountPage(w, r, http.StatusOK, view{"RecoveryCodes": codes, "Done": "2fa-on"})
}

// TwoFactorCancel is POST /account/two-factor/cancel: drops a setup not
// yet confirmed.
func (u *UI) TwoFactorCancel(w http.ResponseWriter, r *http.Request) {
	if err := u.TwoFactor.CancelSetup(r.Context(), principal(r)); err != nil {
		u.accountRefusal(w, r, "enable", err)
		return
	}
	http.Redirect(w, r, "/account#two-factor", http.StatusSeeOther)
}

// checkSecretLimit counts an attempt at the password or a code on the
// account page against the sign-in limits (a session left open is no way
// to guess codes); false when refused, answered.
func (u *UI) checkSecretLimit(w http.ResponseWriter, r *http.Request, form string) (func(), bool) {
	ip, name := auth.ClientIP(r), auth.SessionOf(r).Username
	ok, _, at := u.logins.attempt(ip, name)
	if !ok {
		u.accountPage(w, r, http.StatusTooManyRequests, view{"ErrForm": form,
			"Message": "Too many wrong passwords or codes: wait a few minutes and try again."})
		return nil, false
	}
	return func() { u.logins.succeeded(ip, name, at) }, true
}

// TwoFactorDisable is POST /account/two-factor/disable {password, code}:
// either confirms it is you.
func (u *UI) TwoFactorDisable(w http.ResponseWriter, r *http.Request) {
	succeeded, ok := u.checkSecretLimit(w, r, "disable")
	if !ok {
		return
	}
	if err := u.TwoFactor.Disable(r.Context(), principal(r), r.PostFormValue("password"), r.PostFormValue("code")); err != nil {
		u.accountRefusal(w, r, "disable", err)
		return
	}
	succeeded()
	http.Redirect(w, r, "/account?done=2fa-off#two-factor", http.StatusSeeOther)
}

// TwoFactorRecoveryCodes is POST /account/two-factor/recovery-codes
// {password, code}: new recovery codes, shown on this answer only; the
// old ones stop working.
func (u *UI) TwoFactorRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	succeeded, ok := u.checkSecretLimit(w, r, "recovery")
	if !ok {
		return
	}
	codes, err := u.TwoFactor.RegenerateRecoveryCodes(r.Context(), principal(r), r.PostFormValue("password"), r.PostFormValue("code"))
	if err != nil {
		u.accountRefusal(w, r, "recovery", err)
		return
	}
	succeeded()
	u.accountPage(w, r, http.StatusOK, view{"RecoveryCodes": codes, "Done": "2fa-codes"})
}

// TwoFactorPolicy is POST /account/two-factor/policy {required} (staff):
// whether staff accounts must use two-factor sign-in.
func (u *UI) TwoFactorPolicy(w http.ResponseWriter, r *http.Request) {
	on := r.PostFormValue("required") == "on"
	if err := u.TwoFactor.SetStaffRequired(r.Context(), principal(r), on); err != nil {
		u.accountRefusal(w, r, "policy", err)
		return
	}
	http.Redirect(w, r, "/account?done=2fa-policy#two-factor-policy", http.StatusSeeOther)
}

// twoFactorSetupPaths are what a user who must set up two-factor sign-in
// may still reach.
var twoFactorSetupPaths = map[string]bool{
	"GET /account": true, "HEAD /account": true, "POST /account/two-factor/setup": true,
	"POST /account/two-factor/enable": true, "POST /account/two-factor/cancel": true,
	"POST /logout": true, "GET /session.json": true,
}

// RequireTwoFactorSetup sends a staff user who must use two-factor
// sign-in and has not set it up to their account page to do so, before
// any other page; a form elsewhere is refused.
func (u *UI) RequireTwoFactorSetup(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := auth.SessionOf(r)
		if s == nil || !twofactor.SetupDue(s.Role, s.StaffTOTPRequired, s.TOTPEnabled) || twoFactorSetupPaths[r.Method+" "+r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			http.Redirect(w, r, "/account?setup=required#two-factor", http.StatusSeeOther)
			return
		}
		u.renderError(w, r, http.StatusForbidden, "Set up two-factor sign-in first",
			"Staff accounts must use two-factor sign-in. Set it up on your account page, then repeat what you were doing.")
	})
}
