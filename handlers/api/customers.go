package api

import (
	"net/http"
	"strconv"

	"github.com/ctpanel/ctpanel/domain/customers"
)

// CreateCustomer is POST /api/v1/customers {"username","external_id",
// "email","name","password"}: the account that owns VPSes and can log in
// to the panel.
func (a *API) CreateCustomer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username   string  `json:"username"`
		ExternalID *string `json:"external_id"`
		Email      string  `json:"email"`
		Name       string  `json:"name"`
		Password   *string `json:"password"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	c, err := a.Customers.Create(r.Context(), principal(r), customers.NewCustomer{Username: req.Username,
		ExternalID: req.ExternalID, Email: req.Email, Name: req.Name, Password: req.Password})
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/customers/"+strconv.FormatInt(c.ID, 10))
	writeJSON(w, http.StatusCreated, c)
}

// ListCustomers is GET /api/v1/customers[?external_id=].
func (a *API) ListCustomers(w http.ResponseWriter, r *http.Request) {
	list, err := a.Customers.List(r.Context(), principal(r), r.URL.Query().Get("external_id"))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"customers": list})
}

// GetCustomer is GET /api/v1/customers/{id}.
func (a *API) GetCustomer(w http.ResponseWriter, r *http.Request) {
	c, err := a.Customers.Get(r.Context(), principal(r), urlParam(r, "id"))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// PatchCustomer is PATCH /api/v1/customers/{id}: email, name,
// external_id, disabled, password.
func (a *API) PatchCustomer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email      *string `json:"email"`
		Name       *string `json:"name"`
		ExternalID *string `json:"external_id"`
		Disabled   *bool   `json:"disabled"`
		Password   *string `json:"password"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	c, err := a.Customers.Update(r.Context(), principal(r), urlParam(r, "id"), customers.Change{Email: req.Email,
		Name: req.Name, ExternalID: req.ExternalID, Disabled: req.Disabled, Password: req.Password})
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// DeleteCustomer is DELETE /api/v1/customers/{id}: refused while they
// own containers (terminate those first).
func (a *API) DeleteCustomer(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.Customers.Delete(r.Context(), principal(r), urlParam(r, "id")))
}

// CreatePasswordLink is POST /api/v1/customers/{id}/password-link
// {"valid_hours":72} (staff): a one-time link with which the customer sets
// their own web panel password, for the billing system to send them. The
// secret is shown in this answer only.
func (a *API) CreatePasswordLink(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ValidHours *int `json:"valid_hours"`
	}
	if err := decodeJSON(w, r, &req, true); err != nil {
		a.smartError(w, r, err)
		return
	}
	l, err := a.Customers.CreatePasswordLink(r.Context(), principal(r), urlParam(r, "id"), req.ValidHours)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	markSecret(r, "token", "path", "url")
	writeJSON(w, http.StatusCreated, map[string]any{
		"customer":   l.Customer.ID,
		"username":   l.Customer.Username,
		"token":      l.Token,
		"path":       l.Path,
		"url":        a.Origins.LinkBase(r) + l.Path,
		"expires_at": l.ExpiresAt,
	})
}
