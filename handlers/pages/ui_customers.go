package pages

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/domain/customers"
)

// CustomersPage is GET /customers (staff): the customers, a form for a new
// one, and per customer: enable/disable, set password, delete.
func (u *UI) CustomersPage(w http.ResponseWriter, r *http.Request) {
	u.customersPage(w, r, http.StatusOK, view{})
}

func (u *UI) customersPage(w http.ResponseWriter, r *http.Request, status int, v view) {
	list, err := u.Store.ListCustomers(r.Context(), "")
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	ids := make([]int64, 0, len(list))
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	on, err := u.Store.TOTPEnabledAmong(r.Context(), ids)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	v["Customers"], v["TwoFactorOn"] = list, on
	v["Done"] = r.URL.Query().Get("done")
	v["MailOn"] = u.Mailing.Enabled()
	v["Mailed"] = r.URL.Query().Get("mailed")
	v["NotMailed"] = notMailedReasons[r.URL.Query().Get("notmailed")]
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
	in := customers.NewCustomer{Username: form["username"], Name: form["name"], Email: form["email"]}
	if form["external_id"] != "" {
		id := form["external_id"]
		in.ExternalID = &id
	}
	if pw := r.PostFormValue("password"); pw != "" {
		in.Password = &pw
		form["had_password"] = "yes"
	}
	_, note, err := u.Customers.CreateWelcomed(r.Context(), principal(r), in, u.Origins.LinkBase(r))
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.customersPage(w, r, status, view{"Form": form, "Errors": fields, "Message": msg})
		return
	}
	// One made without a password cannot sign in: said, not left to be
	// found (a form that came back empties the password field).
	done := "created"
	if in.Password == nil && note.To == "" {
		done = "created-nopassword"
	}
	http.Redirect(w, r, "/customers?done="+done+"&"+mailQuery(note), http.StatusSeeOther)
}

// UpdateCustomer is POST /customers/{id}/disable, /enable and /password:
// the API's customer PATCH.
func (u *UI) UpdateCustomer(change string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		var in customers.Change
		switch change {
		case "disable", "enable":
			disabled := change == "disable"
			in.Disabled = &disabled
		case "password":
			pw := r.PostFormValue("password")
			in.Password = &pw
		}
		if _, err := u.Customers.Update(r.Context(), principal(r), id, in); err != nil {
			fields, msg, status, ok := u.formRefusal(w, r, err)
			if !ok {
				return
			}
			v := view{"Message": msg}
			if fields["password"] != "" {
				v["RowErrors"] = map[string]string{id: "password " + fields["password"]}
				v["Message"] = "The password was not changed."
			}
			u.customersPage(w, r, status, v)
			return
		}
		http.Redirect(w, r, "/customers?done="+change, http.StatusSeeOther)
	}
}

// DeleteCustomer is POST /customers/{id}/delete: refused while they own
// containers.
func (u *UI) DeleteCustomer(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	err := u.Customers.Delete(r.Context(), principal(r), id)
	if err != nil {
		_, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.customersPage(w, r, status, view{"Message": msg})
		return
	}
	http.Redirect(w, r, "/customers?done=deleted", http.StatusSeeOther)
}

// notMailedReasons are why a mail was not sent, by the code a redirect
// carries (not the text: a link cannot make the page say anything).
var notMailedReasons = map[string]string{"off": "SMTP is not set up", "noaddress": "the customer has no e-mail address"}

// mailQuery is what a redirect tells the page of a mail: mailed=address,
// or notmailed=code.
func mailQuery(n customers.MailNote) string {
	if n.To != "" {
		return "mailed=" + url.QueryEscape(n.To)
	}
	for code, reason := range notMailedReasons {
		if reason == n.Reason {
			return "notmailed=" + code
		}
	}
	return ""
}

// ResetCustomerTwoFactor is POST /customers/{id}/two-factor/reset
// (staff): turns off the two-factor sign-in of a customer who lost their
// authenticator and recovery codes; they sign in with the password alone.
func (u *UI) ResetCustomerTwoFactor(w http.ResponseWriter, r *http.Request) {
	if _, err := u.TwoFactor.Reset(r.Context(), principal(r), chi.URLParam(r, "id")); err != nil {
		_, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.customersPage(w, r, status, view{"Message": msg})
		return
	}
	http.Redirect(w, r, "/customers?done=2fa-reset", http.StatusSeeOther)
}
