package pages

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/domain/containers"
)

// ClonePage is GET /containers/{ref}/clone (staff).
func (u *UI) ClonePage(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{}
	if id, err := u.suggestCTID(r); err == nil {
		form["ctid"] = strconv.Itoa(id)
	}
	u.cloneForm(w, r, http.StatusOK, form, nil, "")
}

func (u *UI) cloneForm(w http.ResponseWriter, r *http.Request, status int, form map[string]string, errs FieldErrors, msg string) {
	c, err := u.Containers.Get(r.Context(), principal(r), ref(r))
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	u.render(w, r, status, "container_clone", view{"C": u.Containers.Describe(r.Context(), c), "Form": form, "Errors": errs, "Message": msg})
}

// Clone is POST /containers/{ref}/clone: the API's clone (lxc-copy) of a
// stopped container; the new container's page follows the operation.
func (u *UI) Clone(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{}
	for _, k := range []string{"ctid", "name", "hostname"} {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	form["start"] = strconv.FormatBool(r.PostFormValue("start") != "")
	in := containers.CloneInput{Hostname: form["hostname"], Start: form["start"] == "true"}
	errs := FieldErrors{}
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
	op, err := u.Containers.Clone(r.Context(), principal(r), ref(r), in)
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, withFormErrors(err, errs))
		if !ok {
			return
		}
		if len(fields) > 0 {
			msg = "Nothing was cloned: correct the fields marked below."
		}
		u.cloneForm(w, r, status, form, fields, msg)
		return
	}
	containerOpRedirect(w, r, op, "")
}
