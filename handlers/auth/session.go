package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
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
	// JavaScript makes with the cookie; forms send it as CSRFField.
	CSRFHeader = "X-CSRF-Token"
	CSRFField  = "csrf_token"
)

type sessionKey struct{}

// Session is the signed-in session of a request.
type Session struct {
	db.Session
	// IDHash is the stored hash of the cookie's secret.
	IDHash []byte
}

// SessionOf is the request's session, nil when it has none.
func SessionOf(r *http.Request) *Session {
	s, _ := r.Context().Value(sessionKey{}).(*Session)
	return s
}

// SessionPrincipal is who a session acts as: the user's own role, so the
// REST routes and websockets treat a signed-in person exactly as a token
// of their role.
func SessionPrincipal(s db.Session) db.Principal {
	id := s.UserID
	return db.Principal{Role: s.Role, UserID: &id, Username: s.Username, TokenName: "web session", Session: true}
}

// WithSession puts the session and its principal on the request.
func WithSession(r *http.Request, s *Session) *http.Request {
	ctx := context.WithValue(r.Context(), sessionKey{}, s)
	return r.WithContext(WithPrincipal(ctx, SessionPrincipal(s.Session)))
}

// Sessions keeps web panel sessions in PostgreSQL (only a hash of the
// cookie's secret) and their cookies.
type Sessions struct {
	Store *db.Store
	Log   *slog.Logger
	// CookieSecure marks the cookie Secure even on plain HTTP requests
	// (TLS ends at a proxy in front).
	CookieSecure bool
}

func randomSecret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Load resolves the session cookie: nil with no error when there is no
// cookie or it names no live session.
func (ss *Sessions) Load(r *http.Request) (*Session, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil, nil
	}
	hash := db.HashToken(c.Value)
	s, err := ss.Store.UseSession(r.Context(), hash, SessionIdle)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &Session{Session: s, IDHash: hash}, nil
}

// SetCookie sets (or, with maxAge -1, clears) the session cookie.
func (ss *Sessions) SetCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil || ss.CookieSecure, SameSite: http.SameSiteLaxMode})
}

// Start signs acc in: a new session (never one the browser brought
// along) and its cookie.
func (ss *Sessions) Start(w http.ResponseWriter, r *http.Request, acc db.Account) error {
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
	if err := ss.Store.CreateSession(r.Context(), db.NewSession{IDHash: db.HashToken(secret), UserID: acc.ID,
		CSRFToken: csrf, UserAgent: ua, IP: ClientIP(r), ExpiresAt: time.Now().Add(SessionLifetime)}); err != nil {
		return err
	}
	if _, err := ss.Store.DeleteStaleSessions(r.Context(), SessionIdle); err != nil {
		ss.Log.Warn("delete stale sessions", "err", err)
	}
	ss.SetCookie(w, r, secret, int(SessionLifetime/time.Second))
	return nil
}

// End signs the request's session out and clears the cookie.
func (ss *Sessions) End(w http.ResponseWriter, r *http.Request) error {
	ss.SetCookie(w, r, "", -1)
	if s := SessionOf(r); s != nil {
		return ss.Store.DeleteSession(r.Context(), s.IDHash)
	}
	return nil
}

// ValidCSRF: got is the session's CSRF token.
func ValidCSRF(s *Session, got string) bool {
	return s != nil && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRFToken)) == 1
}

// HasSessionCookie: the request brought a session cookie, live or not.
func HasSessionCookie(r *http.Request) bool {
	c, err := r.Cookie(SessionCookie)
	return err == nil && c.Value != ""
}
