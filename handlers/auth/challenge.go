package auth

import (
	"errors"
	"net/http"
	"time"

	"github.com/ctpanel/ctpanel/db"
)

// A sign-in half done (the password was right, the second factor is
// awaited) is a challenge: a cookie of its own, scoped to /login, naming
// a row that grants nothing but entering a code, ChallengeAttempts times
// within ChallengeLifetime. The session cookie is only set once the code
// is right.
const (
	ChallengeCookie   = "ctpanel_signin"
	ChallengeLifetime = 5 * time.Minute
	ChallengeAttempts = 3
	challengePath     = "/login"
)

func (ss *Sessions) setChallengeCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: ChallengeCookie, Value: value, Path: challengePath, MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil || ss.CookieSecure, SameSite: http.SameSiteStrictMode})
}

func challengeHash(r *http.Request) []byte {
	c, err := r.Cookie(ChallengeCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil
	}
	return db.HashToken(c.Value)
}

// StartChallenge begins the second step of userID's sign-in, to go on to
// next when it is passed.
func (ss *Sessions) StartChallenge(w http.ResponseWriter, r *http.Request, userID int64, next string) error {
	secret, err := randomSecret(32)
	if err != nil {
		return err
	}
	if err := ss.Store.CreateLoginChallenge(r.Context(), db.HashToken(secret), userID, next, time.Now().Add(ChallengeLifetime)); err != nil {
		return err
	}
	ss.setChallengeCookie(w, r, secret, int(ChallengeLifetime/time.Second))
	return nil
}

// Challenge is the browser's live challenge, nil when it has none (or it
// expired, or its attempts are spent).
func (ss *Sessions) Challenge(r *http.Request) (*db.LoginChallenge, error) {
	h := challengeHash(r)
	if h == nil {
		return nil, nil
	}
	c, err := ss.Store.GetLoginChallenge(r.Context(), h, ChallengeAttempts)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// AttemptChallenge counts an attempt at the browser's challenge before
// its code is checked; nil when there is no live one. Left is how many
// attempts remain after this one.
func (ss *Sessions) AttemptChallenge(r *http.Request) (c *db.LoginChallenge, left int, err error) {
	h := challengeHash(r)
	if h == nil {
		return nil, 0, nil
	}
	got, err := ss.Store.AttemptLoginChallenge(r.Context(), h, ChallengeAttempts)
	if errors.Is(err, db.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return &got, ChallengeAttempts - got.Attempts, nil
}

// FinishChallenge spends the browser's challenge after its code was
// right and clears its cookie: false when it was gone meanwhile (another
// request spent it, or it expired).
func (ss *Sessions) FinishChallenge(w http.ResponseWriter, r *http.Request) (db.LoginChallenge, bool, error) {
	ss.setChallengeCookie(w, r, "", -1)
	h := challengeHash(r)
	if h == nil {
		return db.LoginChallenge{}, false, nil
	}
	c, err := ss.Store.TakeLoginChallenge(r.Context(), h)
	if errors.Is(err, db.ErrNotFound) {
		return c, false, nil
	}
	return c, err == nil, err
}

// DropChallenge forgets the browser's challenge (cancelled, or its
// attempts spent) and clears its cookie.
func (ss *Sessions) DropChallenge(w http.ResponseWriter, r *http.Request) error {
	ss.setChallengeCookie(w, r, "", -1)
	if h := challengeHash(r); h != nil {
		return ss.Store.DeleteLoginChallenge(r.Context(), h)
	}
	return nil
}
