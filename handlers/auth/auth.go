// Package auth is what both front ends (handlers/api, handlers/pages)
// share about who is calling: the principal on a request's context, the
// web panel's session cookie and its CSRF token, and the security headers
// of every HTML answer. Neither front end imports the other; both
// import this.
package auth

import (
	"context"
	"net"
	"net/http"
	"strings"
	"unicode"

	"github.com/ctpanel/ctpanel/db"
)

type principalKey struct{}

// Principal is who the authenticated request is from.
func Principal(r *http.Request) db.Principal {
	p, _ := r.Context().Value(principalKey{}).(db.Principal)
	return p
}

// WithPrincipal puts p on ctx (tests and other authenticators use it).
func WithPrincipal(ctx context.Context, p db.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// ClientIP is the request's remote address without its port.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// SafeMethod: a request that changes nothing (no CSRF check needed).
func SafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// ControlCharIn names the part of a request's URL that holds a control
// character (a NUL byte, a tab, a newline): "path", or the query
// parameter's name; "" when none does. No name, reference or value the
// panel takes in a URL has one.
func ControlCharIn(r *http.Request) string {
	if strings.IndexFunc(r.URL.Path, unicode.IsControl) >= 0 {
		return "path"
	}
	for k, vs := range r.URL.Query() {
		if strings.IndexFunc(k, unicode.IsControl) >= 0 {
			return "query"
		}
		for _, v := range vs {
			if strings.IndexFunc(v, unicode.IsControl) >= 0 {
				return k
			}
		}
	}
	return ""
}

// RequestOrigin is the scheme and host the request came to, as a client
// would link back to the panel (X-Forwarded-Proto from a TLS proxy in
// front is believed for the scheme only).
func RequestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
