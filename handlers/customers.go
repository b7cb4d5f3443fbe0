package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"

	"github.com/ctpanel/ctpanel/db"
)

func checkPassword(f FieldErrors, field, pw string) {
	switch {
	case len(pw) < 8 || len(pw) > 72: // bcrypt reads no more than 72 bytes
		f.Add(field, "must be 8 to 72 bytes")
	case strings.IndexFunc(pw, unicode.IsControl) >= 0:
		f.Add(field, "must not contain control characters")
	}
}

func checkEmail(f FieldErrors, field, e string) {
	if e == "" {
		return
	}
	if a, err := mail.ParseAddress(e); err != nil || a.Address != e || len(e) > 254 {
		f.Add(field, "must be an e-mail address such as alice@example.com")
	}
}

func checkExternalID(f FieldErrors, field, id string) {
	if id == "" || len(id) > 128 || strings.IndexFunc(id, unicode.IsControl) >= 0 {
		f.Add(field, "must be 1 to 128 printable characters")
	}
}

// hashPassword is how panel passwords are stored (bcrypt).
func hashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	return string(h), err
}

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
	f := FieldErrors{}
	checkName(f, "username", req.Username)
	if req.ExternalID != nil {
		checkExternalID(f, "external_id", *req.ExternalID)
	}
	checkEmail(f, "email", req.Email)
	checkDescription(f, "name", req.Name)
	hash := ""
	if req.Password != nil {
		checkPassword(f, "password", *req.Password)
	}
	if err := f.Err(); err != nil {
		a.smartError(w, r, err)
		return
	}
	if req.Password != nil {
		var err error
		if hash, err = hashPassword(*req.Password); err != nil {
			a.smartError(w, r, err)
			return
		}
	}
	c, err := a.Store.CreateCustomer(r.Context(), db.Customer{Username: req.Username, ExternalID: req.ExternalID, Email: req.Email, Name: req.Name}, hash)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/customers/"+strconv.FormatInt(c.ID, 10))
	writeJSON(w, http.StatusCreated, c)
}

func (a *API) customerFromURL(r *http.Request) (db.Customer, error) {
	id, err := strconv.ParseInt(urlParam(r, "id"), 10, 64)
	if err != nil {
		return db.Customer{}, notFound("customer %q does not exist", urlParam(r, "id"))
	}
	c, err := a.Store.GetCustomer(r.Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return c, notFound("customer %d does not exist", id)
	}
	return c, err
}

// ListCustomers is GET /api/v1/customers[?external_id=].
func (a *API) ListCustomers(w http.ResponseWriter, r *http.Request) {
	list, err := a.Store.ListCustomers(r.Context(), r.URL.Query().Get("external_id"))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"customers": list})
}

// GetCustomer is GET /api/v1/customers/{id}.
func (a *API) GetCustomer(w http.ResponseWriter, r *http.Request) {
	c, err := a.customerFromURL(r)
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
	f := FieldErrors{}
	if req.Email != nil {
		checkEmail(f, "email", *req.Email)
	}
	if req.Name != nil {
		checkDescription(f, "name", *req.Name)
	}
	if req.ExternalID != nil {
		checkExternalID(f, "external_id", *req.ExternalID)
	}
	if req.Password != nil {
		checkPassword(f, "password", *req.Password)
	}
	if err := f.Err(); err != nil {
		a.smartError(w, r, err)
		return
	}
	c, err := a.customerFromURL(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	u := db.CustomerUpdate{Email: req.Email, Name: req.Name, ExternalID: req.ExternalID, Disabled: req.Disabled}
	if req.Password != nil {
		h, err := hashPassword(*req.Password)
		if err != nil {
			a.smartError(w, r, err)
			return
		}
		u.PasswordHash = &h
	}
	if err := a.Store.UpdateCustomer(r.Context(), c.ID, u); err != nil {
		a.smartError(w, r, err)
		return
	}
	c, err = a.Store.GetCustomer(r.Context(), c.ID)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// DeleteCustomer is DELETE /api/v1/customers/{id}: refused while they
// own containers (terminate those first).
func (a *API) DeleteCustomer(w http.ResponseWriter, r *http.Request) {
	c, err := a.customerFromURL(r)
	if err == nil {
		err = a.Store.DeleteCustomer(r.Context(), c.ID)
		if errors.Is(err, db.ErrInUse) {
			err = conflict("customer %d owns %d container(s); terminate them first", c.ID, c.Containers)
		}
	}
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// CreateToken is POST /api/v1/tokens {"name","role","user","expires_in"}
// (admin): the secret is answered once and stored only hashed.
func (a *API) CreateToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name      string `json:"name"`
		Role      string `json:"role"`
		User      string `json:"user"`
		ExpiresIn string `json:"expires_in"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	f := FieldErrors{}
	checkName(f, "name", req.Name)
	switch req.Role {
	case db.RoleAdmin, db.RoleStaff, db.RoleBilling, db.RoleCustomer:
	default:
		f.Add("role", "must be admin, staff, billing or customer")
	}
	var userID *int64
	if req.User != "" {
		u, err := a.Store.GetUserByName(r.Context(), req.User)
		switch {
		case errors.Is(err, db.ErrNotFound):
			f.Add("user", fmt.Sprintf("no user %q", req.User))
		case err != nil:
			a.smartError(w, r, err)
			return
		case req.Role == db.RoleCustomer && u.Role != db.RoleCustomer:
			f.Add("user", "a customer token must act as a customer")
		default:
			userID = &u.ID
		}
	} else if req.Role == db.RoleCustomer {
		f.Add("user", "a customer token needs the customer it acts as")
	}
	var expires *time.Time
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			f.Add("expires_in", "must be a positive duration such as 720h")
		} else {
			t := time.Now().Add(d)
			expires = &t
		}
	}
	if err := f.Err(); err != nil {
		a.smartError(w, r, err)
		return
	}
	id, secret, err := a.Store.CreateToken(r.Context(), req.Name, req.Role, userID, expires)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	markSecret(r, "token")
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "name": req.Name, "role": req.Role, "user": req.User,
		"expires_at": expires, "token": secret})
}

// ListTokens is GET /api/v1/tokens (admin): never the secrets.
func (a *API) ListTokens(w http.ResponseWriter, r *http.Request) {
	list, err := a.Store.ListTokens(r.Context())
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": list})
}

// RevokeToken is DELETE /api/v1/tokens/{id} (admin).
func (a *API) RevokeToken(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(urlParam(r, "id"), 10, 64)
	if err == nil {
		err = a.Store.RevokeToken(r.Context(), id)
	}
	if err != nil && !isStoreError(err) {
		err = notFound("token %q does not exist", urlParam(r, "id"))
	}
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// isStoreError: an error that is neither not-found nor a parse error.
func isStoreError(err error) bool {
	return !errors.Is(err, db.ErrNotFound) && !errors.Is(err, strconv.ErrSyntax) && !errors.Is(err, strconv.ErrRange)
}

// RequireAdmin limits a route to admin tokens.
func (a *API) RequireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if principal(r).Role != db.RoleAdmin {
			a.smartError(w, r, apiErr(http.StatusForbidden, "forbidden", "this needs an admin token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
