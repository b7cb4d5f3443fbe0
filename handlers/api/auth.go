package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/domain/twofactor"
	"github.com/ctpanel/ctpanel/handlers/auth"
)

// Authenticate requires Authorization: Bearer <token> on every request,
// or the web panel's session cookie (see authenticateSession).
func (a *API) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" && auth.HasSessionCookie(r) {
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
		if err := tokenScopeAllows(p, r); err != nil {
			a.smartError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// tokenScopeAllows checks a token's narrowing against the request: a
// read-only token reads (GET, HEAD, and tickets for read-only terminal
// views); a token narrowed to one customer reaches that customer's
// containers and their operations, its own customer record, and the
// plans and templates it may pick, nothing farm-wide. Which containers
// and operations it sees is the domain's (policy.OwnerScope, CanSee).
func tokenScopeAllows(p db.Principal, r *http.Request) error {
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	path := r.URL.Path
	if p.ReadOnly && !read && !strings.HasSuffix(path, "/console/ticket") && !strings.HasSuffix(path, "/shell/ticket") {
		return apiErr(http.StatusForbidden, "read_only", "this token is read-only: %s is refused", r.Method)
	}
	if p.ScopeOwner == nil {
		return nil
	}
	own := strconv.FormatInt(*p.ScopeOwner, 10)
	switch {
	case path == "/api/v1/containers", strings.HasPrefix(path, "/api/v1/containers/"),
		strings.HasPrefix(path, "/api/v1/operations/"),
		path == "/api/v1/ip-addresses", strings.HasPrefix(path, "/api/v1/ip-addresses/"),
		strings.HasPrefix(path, "/api/v1/backups/"):
		return nil
	case read && (path == "/api/v1/plans" || strings.HasPrefix(path, "/api/v1/plans/") ||
		path == "/api/v1/templates" || strings.HasPrefix(path, "/api/v1/templates/")):
		return nil
	case path == "/api/v1/customers/"+own || strings.HasPrefix(path, "/api/v1/customers/"+own+"/"),
		path == "/api/v1/customers/"+p.ScopeOwnerName || strings.HasPrefix(path, "/api/v1/customers/"+p.ScopeOwnerName+"/"):
		return nil
	}
	return apiErr(http.StatusForbidden, "scoped_token", "this token is narrowed to customer %q's containers: %s %s is refused", p.ScopeOwnerName, r.Method, path)
}

// authenticateSession is Authenticate's path for a browser signed in to
// the panel: the session cookie instead of a bearer token. A call that
// changes something must also pass Go's cross-origin protection and carry
// the session's CSRF token in the X-CSRF-Token header, since a browser
// sends the cookie along with requests other sites make.
func (a *API) authenticateSession(w http.ResponseWriter, r *http.Request, next http.Handler) {
	s, err := a.Sessions.Load(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	if s == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ctpanel"`)
		a.smartError(w, r, apiErr(http.StatusUnauthorized, "unauthorized", "the session has ended; sign in again or send Authorization: Bearer <token>"))
		return
	}
	if twofactor.SetupDue(s.Role, s.StaffTOTPRequired, s.TOTPEnabled) {
		// Not signed in enough for the API yet: the session of a staff
		// user who must set up two-factor sign-in opens the account page
		// only.
		w.Header().Set("WWW-Authenticate", `Bearer realm="ctpanel"`)
		a.smartError(w, r, apiErr(http.StatusUnauthorized, "two_factor_setup", "staff accounts must use two-factor sign-in: set it up on the panel's account page first, or send Authorization: Bearer <token>"))
		return
	}
	if !auth.SafeMethod(r.Method) {
		if err := http.NewCrossOriginProtection().Check(r); err != nil {
			a.smartError(w, r, apiErr(http.StatusForbidden, "cross_origin", "cross-origin request refused"))
			return
		}
		if !auth.ValidCSRF(s, r.Header.Get(auth.CSRFHeader)) {
			a.smartError(w, r, apiErr(http.StatusForbidden, "csrf", "missing or wrong %s header: a call made with the session cookie must send the page's CSRF token", auth.CSRFHeader))
			return
		}
	}
	// Idempotency keys are kept per API token; a session has none.
	r.Header.Del("Idempotency-Key")
	next.ServeHTTP(w, auth.WithSession(r, s))
}

// RefuseControlChars answers 400 naming the path or query parameter that
// holds a control character, before anything looks it up.
func (a *API) RefuseControlChars(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if field := auth.ControlCharIn(r); field != "" {
			a.smartError(w, r, invalidParam(field, "must not contain control characters"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RequireStaff refuses customers before the handler runs: the route runs
// the farm, not one VPS. (The domain checks again: this only answers
// early, and before a body is read.)
func (a *API) RequireStaff(next http.Handler) http.Handler {
	return a.require(policy.RequireStaff, next)
}

// RequireOperator limits a route to the hosting staff: staff and admin
// tokens, not billing or customer ones.
func (a *API) RequireOperator(next http.Handler) http.Handler {
	return a.require(policy.RequireOperator, next)
}

// RequireAdmin limits a route to admin tokens.
func (a *API) RequireAdmin(next http.Handler) http.Handler {
	return a.require(policy.RequireAdmin, next)
}

func (a *API) require(rule func(db.Principal) error, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := rule(principal(r)); err != nil {
			a.smartError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
