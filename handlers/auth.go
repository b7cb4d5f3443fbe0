package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/ctpanel/ctpanel/db"
)

type principalKey struct{}

// principal is who the authenticated request is from.
func principal(r *http.Request) db.Principal {
	p, _ := r.Context().Value(principalKey{}).(db.Principal)
	return p
}

// WithPrincipal puts p on ctx (tests and other authenticators use it).
func WithPrincipal(ctx context.Context, p db.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// Authenticate requires Authorization: Bearer <token> on every request,
// or the web panel's session cookie (see authenticateSession).
func (a *API) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" && hasSessionCookie(r) {
			a.authenticateSession(w, r, next)
			return
		}
		scheme, secret, ok := strings.Cut(h, " ")
		ok = ok && strings.EqualFold(scheme, "Bearer")
		if !ok || strings.TrimSpace(secret) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ctpanel"`)
			a.smartError(w, r, apiErr(http.StatusUnauthorized, "unauthorized", "missing bearer token: send Authorization: Bearer <token>"))
			return
		}
		p, err := a.Store.LookupToken(r.Context(), strings.TrimSpace(secret))
		if errors.Is(err, db.ErrNotFound) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ctpanel", error="invalid_token"`)
			a.smartError(w, r, apiErr(http.StatusUnauthorized, "unauthorized", "token is unknown, revoked or expired"))
			return
		}
		if err != nil {
			a.smartError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// RequireStaff refuses customers: the route runs the farm, not one VPS.
func (a *API) RequireStaff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !principal(r).IsStaff() {
			a.smartError(w, r, apiErr(http.StatusForbidden, "forbidden", "this needs a staff, admin or billing token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ownerScope is the owner filter for listing: nil for staff.
func ownerScope(p db.Principal) *int64 {
	if p.IsStaff() {
		return nil
	}
	if p.UserID == nil {
		none := int64(-1)
		return &none
	}
	return p.UserID
}

// canSee: a customer sees only containers they own.
func canSee(p db.Principal, c db.Container) bool {
	if p.IsStaff() {
		return true
	}
	return p.UserID != nil && c.OwnerID != nil && *p.UserID == *c.OwnerID
}

func (a *API) audit(r *http.Request, q *db.Queries, action string, ctid int, details map[string]any) error {
	p := principal(r)
	id := ctid
	return q.Audit(r.Context(), db.AuditEntry{Actor: p.Actor(), ActorRole: p.Role, Action: action, CTID: &id, Details: details})
}
