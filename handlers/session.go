package handlers

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/ctpanel/ctpanel/db"
)

// The web panel's session cookie and how long a session lasts: it ends
// after SessionIdle without a request, and SessionLifetime after sign-in
// whatever happens.
const (
	SessionCookie   = "ctpanel_session"
	SessionIdle     = 12 * time.Hour
	SessionLifetime = 7 * 24 * time.Hour
	// CSRFHeader carries the session's CSRF token on API calls a page's
	// JavaScript makes with the cookie; forms send it as csrfField.
	CSRFHeader = "X-CSRF-Token"
	csrfField  = "csrf_token"
)

type sessionKey struct{}

// webSession is the signed-in session of a request.
type webSession struct {
	db.Session
	idHash []byte
}

func sessionOf(r *http.Request) *webSession {
	s, _ := r.Context().Value(sessionKey{}).(*webSession)
	return s
}

// sessionPrincipal is who a session acts as, in the API's terms: the
// user's own role, so the REST routes and websockets treat a signed-in
// person exactly as a token of their role.
func sessionPrincipal(s db.Session) db.Principal {
	id := s.UserID
	return db.Principal{Role: s.Role, UserID: &id, Username: s.Username, TokenName: "web session", Session: true}
}

func randomSecret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// loadSession resolves the session cookie: nil with no error when there is
// no cookie or it names no live session.
func (a *API) loadSession(r *http.Request) (*webSession, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil, nil
	}
	hash := db.HashToken(c.Value)
	s, err := a.Store.UseSession(r.Context(), hash, SessionIdle)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &webSession{Session: s, idHash: hash}, nil
}

// withSession puts the session and its principal on the request.
func withSession(r *http.Request, s *webSession) *http.Request {
	ctx := context.WithValue(r.Context(), sessionKey{}, s)
	return r.WithContext(WithPrincipal(ctx, sessionPrincipal(s.Session)))
}

// cookieSecure: Secure cookies over TLS, or always when configured (a
// TLS-terminating proxy in front).
func (a *API) cookieSecure(r *http.Request) bool { return r.TLS != nil || a.CookieSecure }

func (a *API) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: a.cookieSecure(r), SameSite: http.SameSiteLaxMode})
}

// startSession signs acc in: a new session (never one the browser brought
// along) and its cookie.
func (a *API) startSession(w http.ResponseWriter, r *http.Request, acc db.Account) error {
	secret, err := randomSecret(32)
	if err != nil {
		return err
	}
	csrf, err := randomSecret(32)
	if err != nil {
		return err
	}
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	if err := a.Store.CreateSession(r.Context(), db.NewSession{IDHash: db.HashToken(secret), UserID: acc.ID,
		CSRFToken: csrf, UserAgent: ua, IP: clientIP(r), ExpiresAt: time.Now().Add(SessionLifetime)}); err != nil {
		return err
	}
	if _, err := a.Store.DeleteStaleSessions(r.Context(), SessionIdle); err != nil {
		a.Log.Warn("delete stale sessions", "err", err)
	}
	a.setSessionCookie(w, r, secret, int(SessionLifetime/time.Second))
	return nil
}

// endSession signs the request's session out and clears the cookie.
func (a *API) endSession(w http.ResponseWriter, r *http.Request) error {
	a.setSessionCookie(w, r, "", -1)
	if s := sessionOf(r); s != nil {
		return a.Store.DeleteSession(r.Context(), s.idHash)
	}
	return nil
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func validCSRF(s *webSession, got string) bool {
	return s != nil && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRFToken)) == 1
}

func hasSessionCookie(r *http.Request) bool {
	c, err := r.Cookie(SessionCookie)
	return err == nil && c.Value != ""
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// authenticateSession is Authenticate's path for a browser signed in to
// the panel: the session cookie instead of a bearer token. A call that
// changes something must also pass Go's cross-origin protection and carry
// the session's CSRF token in the X-CSRF-Token header, since a browser
// sends the cookie along with requests other sites make.
func (a *API) authenticateSession(w http.ResponseWriter, r *http.Request, next http.Handler) {
	s, err := a.loadSession(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	if s == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ctpanel"`)
		a.smartError(w, r, apiErr(http.StatusUnauthorized, "unauthorized", "the session has ended; sign in again or send Authorization: Bearer <token>"))
		return
	}
	if !safeMethod(r.Method) {
		if err := http.NewCrossOriginProtection().Check(r); err != nil {
			a.smartError(w, r, apiErr(http.StatusForbidden, "cross_origin", "cross-origin request refused"))
			return
		}
		if !validCSRF(s, r.Header.Get(CSRFHeader)) {
			a.smartError(w, r, apiErr(http.StatusForbidden, "csrf", "missing or wrong %s header: a call made with the session cookie must send the page's CSRF token", CSRFHeader))
			return
		}
	}
	// Idempotency keys are kept per API token; a session has none.
	r.Header.Del("Idempotency-Key")
	next.ServeHTTP(w, withSession(r, s))
}
