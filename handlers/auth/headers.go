package auth

import "net/http"

// CSP is the Content-Security-Policy of every HTML page: its own scripts,
// styles and connections only (websockets included), framed only by the
// panel itself (the container page embeds the console page).
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " +
	"script-src 'self'; connect-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'"

// SetPageHeaders sets the security headers every HTML answer gets.
func SetPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}
