package pages

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain/tokens"
)

// TokensPage is GET /tokens (admin): API tokens (never their secrets) and
// a form for a new one.
func (u *UI) TokensPage(w http.ResponseWriter, r *http.Request) {
	u.tokensPage(w, r, http.StatusOK, view{"Form": map[string]string{"role": db.RoleStaff}})
}

func (u *UI) tokensPage(w http.ResponseWriter, r *http.Request, status int, v view) {
	list, err := u.Store.ListTokens(r.Context())
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	v["Tokens"] = list
	v["Done"] = r.URL.Query().Get("done")
	u.render(w, r, status, "tokens", v)
}

// CreateToken is POST /tokens: the API's token create; the secret is
// shown on the answer page once and never again.
func (u *UI) CreateToken(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{}
	for _, k := range []string{"name", "role", "user", "expires_in"} {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	out, err := u.Tokens.Create(r.Context(), principal(r), tokens.NewToken{Name: form["name"], Role: form["role"],
		User: form["user"], ExpiresIn: form["expires_in"]})
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.tokensPage(w, r, status, view{"Form": form, "Errors": fields, "Message": msg})
		return
	}
	u.render(w, r, http.StatusCreated, "token_created", view{"T": out})
}

// RevokeToken is POST /tokens/{id}/revoke.
func (u *UI) RevokeToken(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := u.Tokens.Revoke(r.Context(), principal(r), id); err != nil {
		_, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.tokensPage(w, r, status, view{"Form": map[string]string{"role": db.RoleStaff}, "Message": msg})
		return
	}
	http.Redirect(w, r, "/tokens?done=revoked", http.StatusSeeOther)
}
