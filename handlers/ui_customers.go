package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// CustomersPage is GET /customers (staff): the customers, a form for a new
// one, and per customer: enable/disable, set password, delete.
func (u *UI) CustomersPage(w http.ResponseWriter, r *http.Request) {
	u.customersPage(w, r, http.StatusOK, view{})
}

func (u *UI) customersPage(w http.ResponseWriter, r *http.Request, status int, v view) {
	list, err := u.api.Store.ListCustomers(r.Context(), "")
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	v["Customers"] = list
	v["Done"] = r.URL.Query().Get("done")
	if _, ok := v["Form"]; !ok {
		v["Form"] = map[string]string{}
	}
	u.render(w, r, status, "customers", v)
}

// CreateCustomer is POST /customers: the API's customer create.
func (u *UI) CreateCustomer(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{}
	for _, k := range []string{"username", "name", "email", "external_id"} {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	body := map[string]any{"username": form["username"], "name": form["name"], "email": form["email"]}
	if form["external_id"] != "" {
		body["external_id"] = form["external_id"]
	}
	f := FieldErrors{}
	if pw := r.PostFormValue("password"); pw != "" {
		bcryptLimit(f, "password", pw) // the API checks the rest
		body["password"] = pw
	}
	if len(f) == 0 {
		if _, err := u.callAPI(r, u.api.CreateCustomer, http.MethodPost, "/api/v1/customers", nil, body); err != nil {
			fields, msg, status, other := formError(err)
			if other != nil {
				u.serverError(w, r, other)
				return
			}
			u.customersPage(w, r, status, view{"Form": form, "Errors": fields, "Message": msg})
			return
		}
		http.Redirect(w, r, "/customers?done=created", http.StatusSeeOther)
		return
	}
	u.customersPage(w, r, http.StatusUnprocessableEntity, view{"Form": form, "Errors": f,
		"Message": "Nothing was changed: correct the fields marked below."})
}

// UpdateCustomer is POST /customers/{id}/disable, /enable and /password:
// the API's customer PATCH.
func (u *UI) UpdateCustomer(change string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		body := map[string]any{}
		switch change {
		case "disable":
			body["disabled"] = true
		case "enable":
			body["disabled"] = false
		case "password":
			pw := r.PostFormValue("password")
			f := FieldErrors{}
			checkNewPassword(f, "password", pw)
			if len(f) > 0 {
				u.customersPage(w, r, http.StatusUnprocessableEntity, view{"RowErrors": map[string]string{id: "password " + f["password"]},
					"Message": "The password was not changed."})
				return
			}
			body["password"] = pw
		}
		_, err := u.callAPI(r, u.api.PatchCustomer, http.MethodPatch, "/api/v1/customers/"+id, map[string]string{"id": id}, body)
		if err != nil {
			u.pageError(w, r, err)
			return
		}
		if change == "disable" {
			if n, err := strconv.ParseInt(id, 10, 64); err == nil {
				_ = u.api.Store.DeleteUserSessions(r.Context(), n, nil)
			}
		}
		http.Redirect(w, r, "/customers?done="+change, http.StatusSeeOther)
	}
}

// DeleteCustomer is POST /customers/{id}/delete: refused while they own
// containers.
func (u *UI) DeleteCustomer(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	_, err := u.callAPI(r, u.api.DeleteCustomer, http.MethodDelete, "/api/v1/customers/"+id, map[string]string{"id": id}, nil)
	if err != nil {
		_, msg, status, other := formError(err)
		if other != nil {
			u.serverError(w, r, other)
			return
		}
		if status == http.StatusNotFound {
			u.NotFound(w, r)
			return
		}
		u.customersPage(w, r, status, view{"Message": msg})
		return
	}
	http.Redirect(w, r, "/customers?done=deleted", http.StatusSeeOther)
}

// checkNewPassword is checkPassword within bcrypt's 72 bytes.
func checkNewPassword(f FieldErrors, field, pw string) {
	checkPassword(f, field, pw)
	bcryptLimit(f, field, pw)
}

// bcryptLimit: bcrypt hashes at most 72 bytes and refuses longer ones.
func bcryptLimit(f FieldErrors, field, pw string) {
	if len(pw) > 72 {
		f.Add(field, "must be at most 72 bytes")
	}
}
