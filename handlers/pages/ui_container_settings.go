package pages

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/domain/policy"
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
	hostname, nameservers := form["hostname"], append([]string{}, ns...)
	in := containers.Update{Hostname: &hostname, Nameservers: &nameservers}
	if policy.MayChangeIdentity(principal(r)) {
		name, description, onboot := form["name"], form["description"], form["onboot"] == "true"
		namePtr := &name
		in.Name, in.Description, in.OnBoot = &namePtr, &description, &onboot
	}
	op, c, err := u.Containers.Update(r.Context(), principal(r), ref(r), in)
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.showContainer(w, r, status, view{"Form": form, "Errors": fields, "SettingsError": msg})
		return
	}
	if op != nil {
		opRedirect(w, r, "/containers/"+strconv.Itoa(c.CTID)+"?done=settings#settings", *op)
		return
	}
	http.Redirect(w, r, "/containers/"+strconv.Itoa(c.CTID)+"?done=settings#settings", http.StatusSeeOther)
}
