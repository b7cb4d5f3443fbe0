package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// ContainerSettings is POST /containers/{ref}/settings: hostname and
// nameservers, and for staff name, description and onboot (vzctl set
// --save). Errors come back next to the fields and nothing is changed.
func (u *UI) ContainerSettings(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{
		"hostname":    strings.TrimSpace(r.PostFormValue("hostname")),
		"nameserver":  strings.TrimSpace(r.PostFormValue("nameserver")),
		"name":        strings.TrimSpace(r.PostFormValue("name")),
		"description": r.PostFormValue("description"),
		"onboot":      strconv.FormatBool(r.PostFormValue("onboot") != ""),
	}
	ns := strings.FieldsFunc(form["nameserver"], func(c rune) bool { return c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t' })
	body := map[string]any{"hostname": form["hostname"], "nameserver": append([]string{}, ns...)}
	if principal(r).IsStaff() {
		body["name"] = form["name"]
		body["description"] = form["description"]
		body["onboot"] = form["onboot"] == "true"
	}
	ref := chi.URLParam(r, "ref")
	ans, err := u.callAPI(r, u.api.PatchContainer, http.MethodPatch, "/api/v1/containers/"+ref, refParam(r), body)
	if err != nil {
		fields, msg, status, other := formError(err)
		if other != nil {
			u.pageError(w, r, other)
			return
		}
		if status == http.StatusNotFound {
			u.NotFound(w, r)
			return
		}
		u.showContainer(w, r, status, view{"Form": form, "Errors": fields, "SettingsError": msg})
		return
	}
	var cur struct {
		CTID int `json:"ctid"`
	}
	_ = ans.decode(&cur)
	if ans.Status == http.StatusAccepted {
		var op OperationView
		_ = ans.decode(&op)
		cur.CTID = op.CTID
	}
	opRedirect(w, r, "/containers/"+strconv.Itoa(cur.CTID)+"?done=settings#settings", ans)
}
