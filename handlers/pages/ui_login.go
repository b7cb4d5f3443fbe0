package pages

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/handlers/auth"
)

// dummyHash is compared against when the username is unknown, so a wrong
// username takes as long as a wrong password.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("ctpanel-no-such-user"), bcrypt.DefaultCost)
	return h
})

// LoginPage is GET /login.
func (u *UI) LoginPage(w http.ResponseWriter, r *http.Request) {
	if auth.SessionOf(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	u.render(w, r, http.StatusOK, "login", view{"Next": safeNext(r.URL.Query().Get("next")), "Done": r.URL.Query().Get("done")})
}

// Login is POST /login {username, password, next}: attempts are limited
// per address and username, per address and per username (see
// loginLimiter); a refused one is a 429.
func (u *UI) Login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	username := strings.TrimSpace(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	ip := auth.ClientIP(r)
	again := func(status int, f FieldErrors, msg string) {
		u.render(w, r, status, "login", view{"Next": next, "Username": username, "Errors": f, "Message": msg})
	}
	f := FieldErrors{}
	if username == "" {
		f.Add("username", "enter your username")
	}
	if password == "" {
		f.Add("password", "enter your password")
	}
	if len(f) > 0 {
		again(http.StatusUnprocessableEntity, f, "")
		return
	}
	// Counted as failed before the password is compared: parallel guesses
	// cannot all slip past the limit.
	ok, wait, at := u.logins.attempt(ip, username)
	if !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		again(http.StatusTooManyRequests, FieldErrors{}, fmt.Sprintf(
			"Too many failed sign-ins. Wait %s and try again.", wait.Round(time.Second)))
		return
	}
	acc, hash, err := u.Store.AccountForLogin(r.Context(), username)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		u.serverError(w, r, err)
		return
	}
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
	}
	if hash == "" || bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		u.Log.Info("sign-in failed", "user", username, "ip", ip)
		again(http.StatusUnauthorized, FieldErrors{"password": "wrong username or password"}, "")
		return
	}
	if acc.Disabled {
		again(http.StatusForbidden, FieldErrors{}, "This account is disabled. Ask your hosting provider.")
		return
	}
	twoStep, err := u.TwoFactor.EnabledFor(r.Context(), acc.ID)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	if twoStep {
		// The password's attempt stays counted until the code is right:
		// knowing the password does not reset the count of wrong codes.
		if err := u.Sessions.StartChallenge(w, r, acc.ID, next); err != nil {
			u.serverError(w, r, err)
			return
		}
		http.Redirect(w, r, "/login/code", http.StatusSeeOther)
		return
	}
	if err := u.Sessions.Start(w, r, acc); err != nil {
		u.serverError(w, r, err)
		return
	}
	u.logins.succeeded(ip, username, at)
	_ = u.Store.Audit(r.Context(), db.AuditEntry{Actor: acc.Username + " (web)", ActorRole: acc.Role, Action: "session.login",
		Details: map[string]any{"ip": ip}})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// LoginCodePage is GET /login/code: the second step of a sign-in, for
// a browser whose password was right and whose user has two-factor
// sign-in on. Without a live challenge it is back to the password.
func (u *UI) LoginCodePage(w http.ResponseWriter, r *http.Request) {
	if auth.SessionOf(r) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c, err := u.Sessions.Challenge(r)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	if c == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	u.render(w, r, http.StatusOK, "login_code", view{"Username": c.Username})
}

// LoginCode is POST /login/code {code}: a current TOTP code (not one
// used before) or an unused recovery code (spent by this) ends the
// sign-in with a session. Wrong codes count against the challenge
// (ChallengeAttempts, then the password again) and against the sign-in
// limits of the address and username, as wrong passwords do.
func (u *UI) LoginCode(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	code := r.PostFormValue("code")
	ip := auth.ClientIP(r)
	expired := func() {
		_ = u.Sessions.DropChallenge(w, r)
		u.render(w, r, http.StatusUnauthorized, "login", view{"Next": "/",
			"Message": "Your sign-in expired or had too many wrong codes. Sign in again with your password."})
	}
	c, err := u.Sessions.Challenge(r)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	if c == nil {
		expired()
		return
	}
	again := func(status int, f FieldErrors, msg string) {
		u.render(w, r, status, "login_code", view{"Username": c.Username, "Errors": f, "Message": msg})
	}
	if strings.TrimSpace(code) == "" {
		again(http.StatusUnprocessableEntity, FieldErrors{"code": "enter the code from your authenticator app, or a recovery code"}, "")
		return
	}
	ok, wait, at := u.logins.attempt(ip, c.Username)
	if !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		again(http.StatusTooManyRequests, FieldErrors{}, fmt.Sprintf(
			"Too many wrong codes. Wait %s and try again.", wait.Round(time.Second)))
		return
	}
	c, left, err := u.Sessions.AttemptChallenge(r)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	if c == nil {
		expired()
		return
	}
	method, err := u.TwoFactor.VerifySignIn(r.Context(), c.UserID, code)
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.Log.Info("sign-in code refused", "user", c.Username, "ip", ip)
		if left <= 0 {
			expired()
			return
		}
		if fields["code"] != "" {
			msg = fmt.Sprintf("The code was refused: %d attempt(s) left before you must sign in again.", left)
		}
		again(status, fields, msg)
		return
	}
	done, live, err := u.Sessions.FinishChallenge(w, r)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	if !live {
		expired()
		return
	}
	acc, err := u.Store.GetAccount(r.Context(), done.UserID)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	if err := u.Sessions.Start(w, r, acc); err != nil {
		u.serverError(w, r, err)
		return
	}
	u.logins.succeeded(ip, acc.Username, at)
	_ = u.Store.Audit(r.Context(), db.AuditEntry{Actor: acc.Username + " (web)", ActorRole: acc.Role, Action: "session.login",
		Details: map[string]any{"ip": ip, "second_factor": string(method)}})
	http.Redirect(w, r, safeNext(done.Next), http.StatusSeeOther)
}

// Logout is POST /logout.
func (u *UI) Logout(w http.ResponseWriter, r *http.Request) {
	if err := u.Sessions.End(w, r); err != nil {
		u.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
