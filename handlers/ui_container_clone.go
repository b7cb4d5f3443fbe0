package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
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
	c, err := u.api.lookup(r)
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	u.render(w, r, status, "container_clone", view{"C": u.api.view(r.Context(), c), "Form": form, "Errors": errs, "Message": msg})
}

// Clone is POST /containers/{ref}/clone: the API's clone (lxc-copy) of a
// stopped container; the new container's page follows the operation.
func (u *UI) Clone(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{}
	for _, k := range []string{"ctid", "name", "hostname"} {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	form["snapshot"] = strconv.FormatBool(r.PostFormValue("snapshot") != "")
	form["start"] = strconv.FormatBool(r.PostFormValue("start") != "")
	body := map[string]any{"hostname": form["hostname"], "snapshot": form["snapshot"] == "true", "start": form["start"] == "true"}
	if form["ctid"] != "" {
		id, err := strconv.Atoi(form["ctid"])
		if err != nil {
			u.cloneForm(w, r, http.StatusUnprocessableEntity, form, FieldErrors{"ctid": "must be a whole number from 101, or empty for the next free one"},
				"Nothing was cloned: correct the fields marked below.")
			return
		}
		body["ctid"] = id
	}
	if form["name"] != "" {
		body["name"] = form["name"]
	}
	ref := chi.URLParam(r, "ref")
	ans, err := u.callAPI(r, u.api.CloneContainer, http.MethodPost, "/api/v1/containers/"+ref+"/clone", refParam(r), body)
	if err != nil {
		fields, msg, status, other := formError(err)
		if other != nil {
			u.serverError(w, r, other)
			return
		}
		if status == http.StatusNotFound {
			u.NotFound(w, r)
			return
		}
		if len(fields) > 0 {
			msg = "Nothing was cloned: correct the fields marked below."
		}
		u.cloneForm(w, r, status, form, fields, msg)
		return
	}
	u.containerOpRedirect(w, r, ans, "")
}
