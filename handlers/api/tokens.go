package api

import (
	"net/http"

	"github.com/ctpanel/ctpanel/domain/tokens"
)

// CreateToken is POST /api/v1/tokens {"name","role","user","expires_in"}
// (admin): the secret is answered once and stored only hashed.
func (a *API) CreateToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name      string `json:"name"`
		Role      string `json:"role"`
		User      string `json:"user"`
		ExpiresIn string `json:"expires_in"`
		ReadOnly  bool   `json:"read_only"`
		Customer  string `json:"customer"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	t, err := a.Tokens.Create(r.Context(), principal(r), tokens.NewToken{Name: req.Name, Role: req.Role, User: req.User,
		ExpiresIn: req.ExpiresIn, ReadOnly: req.ReadOnly, Customer: req.Customer})
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	markSecret(r, "token")
	writeJSON(w, http.StatusCreated, t)
}

// ListTokens is GET /api/v1/tokens (admin): never the secrets.
func (a *API) ListTokens(w http.ResponseWriter, r *http.Request) {
	list, err := a.Tokens.List(r.Context(), principal(r))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": list})
}

// RevokeToken is DELETE /api/v1/tokens/{id} (admin).
func (a *API) RevokeToken(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.Tokens.Revoke(r.Context(), principal(r), urlParam(r, "id")))
}
