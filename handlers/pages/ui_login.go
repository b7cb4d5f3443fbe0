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
	if err := u.Sessions.Start(w, r, acc); err != nil {
		u.serverError(w, r, err)
		return
	}
	u.logins.succeeded(ip, username, at)
	_ = u.Store.Audit(r.Context(), db.AuditEntry{Actor: acc.Username + " (web)", ActorRole: acc.Role, Action: "session.login",
		Details: map[string]any{"ip": ip}})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// Logout is POST /logout.
func (u *UI) Logout(w http.ResponseWriter, r *http.Request) {
	if err := u.Sessions.End(w, r); err != nil {
		u.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
