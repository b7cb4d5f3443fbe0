package pages

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/domain/containers"
)

// NewContainerPage is GET /containers/new (staff): template, plan, owner,
// hostname, with the next free CTID suggested.
func (u *UI) NewContainerPage(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{"template": "busybox", "start": "true"}
	if id, err := u.suggestCTID(r); err == nil {
		form["ctid"] = strconv.Itoa(id)
	}
	u.newContainerForm(w, r, http.StatusOK, form, nil, "")
}

// suggestCTID is the CTID a new container would get.
func (u *UI) suggestCTID(r *http.Request) (int, error) {
	return u.Containers.NextFreeCTID(r.Context())
}

func (u *UI) newContainerForm(w http.ResponseWriter, r *http.Request, status int, form map[string]string, errs FieldErrors, msg string) {
	ctx := r.Context()
	templates, err := u.Store.ListTemplates(ctx)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	plans, err := u.Store.ListPlans(ctx)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	customers, err := u.Store.ListCustomers(ctx, "")
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	u.render(w, r, status, "container_new", view{"Form": form, "Errors": errs, "Message": msg,
		"Templates": templates, "Plans": plans, "Customers": customers})
}

// CreateContainer is POST /containers/new: the API's create; on success
// the new container's page follows the operation until it is done.
func (u *UI) CreateContainer(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{}
	for _, k := range []string{"ctid", "name", "hostname", "template", "plan", "owner", "nameserver", "description", "root_password"} {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	form["start"] = strconv.FormatBool(r.PostFormValue("start") != "")
	form["onboot"] = strconv.FormatBool(r.PostFormValue("onboot") != "")
	errs := FieldErrors{}
	in := containers.CreateInput{Hostname: form["hostname"], Template: form["template"], Start: form["start"] == "true",
		OnBoot: form["onboot"] == "true", Owner: form["owner"], Plan: form["plan"], Description: form["description"]}
	if form["ctid"] != "" {
		id, err := strconv.Atoi(form["ctid"])
		if err != nil {
			// Passed on as 0, which the domain refuses, so that the other
			// fields are checked too; the reason shown is this one.
			errs.Add("ctid", "must be a whole number from 101, or empty for the next free one")
			id = 0
		}
		in.CTID = &id
	}
	if form["name"] != "" {
		name := form["name"]
		in.Name = &name
	}
	if ns := strings.Fields(strings.ReplaceAll(form["nameserver"], ",", " ")); len(ns) > 0 {
		in.Nameservers = ns
	}
	if form["root_password"] != "" {
		pw := form["root_password"]
		in.RootPassword = &pw
	}
	form["root_password"] = "" // never sent back to the browser
	op, err := u.Containers.Create(r.Context(), principal(r), in)
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, withFormErrors(err, errs))
		if !ok {
			return
		}
		if len(fields) > 0 {
			msg = "Nothing was created: correct the fields marked below."
		}
		u.newContainerForm(w, r, status, form, fields, msg)
		return
	}
	containerOpRedirect(w, r, op, "")
}
