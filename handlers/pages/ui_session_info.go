package pages

import (
	"encoding/json"
	"net/http"

	"github.com/ctpanel/ctpanel/handlers/auth"
)

// SessionInfo is GET /session.json: who is signed in and the session's
// CSRF token, for the panel's own scripts (the console page) that call the
// API with the cookie. Other sites cannot read it: it is same-origin
// JSON with no CORS.
func (u *UI) SessionInfo(w http.ResponseWriter, r *http.Request) {
	s := auth.SessionOf(r)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"username": s.Username, "role": s.Role, "csrf_token": s.CSRFToken})
}
