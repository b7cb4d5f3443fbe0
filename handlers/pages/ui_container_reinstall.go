package pages

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/domain/containers"
)

// ReinstallPage is GET /containers/{ref}/reinstall: a fresh root file
// system from an enabled template, confirmed by typing the CTID.
func (u *UI) ReinstallPage(w http.ResponseWriter, r *http.Request) {
	u.reinstallForm(w, r, http.StatusOK, nil, nil, "")
}

func (u *UI) reinstallForm(w http.ResponseWriter, r *http.Request, status int, form map[string]string, errs FieldErrors, msg string) {
	c, err := u.Containers.Get(r.Context(), principal(r), ref(r))
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	all, err := u.Templates.List(r.Context(), principal(r))
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	// Each enabled image, its newest version first, then its older ones
	// ("name@version").
	var enabled []imageChoice
	for _, t := range all {
		if !t.Enabled {
			continue
		}
		label := t.Name
		if t.Version != nil {
			label += " (newest: " + *t.Version + ")"
		}
		enabled = append(enabled, imageChoice{Value: t.Name, Label: label})
		for i, v := range t.Versions {
			if i > 0 {
				enabled = append(enabled, imageChoice{Value: t.Name + "@" + v.Version, Label: t.Name + ", version " + v.Version})
			}
		}
	}
	if form == nil {
		form = map[string]string{"template": c.Template}
	}
	u.render(w, r, status, "container_reinstall", view{"C": u.Containers.Describe(r.Context(), c), "Templates": enabled,
		"Form": form, "Errors": errs, "Message": msg})
}

// imageChoice is an option of the reinstall form's image list.
type imageChoice struct{ Value, Label string }

// Reinstall is POST /containers/{ref}/reinstall: the API's reinstall.
func (u *UI) Reinstall(w http.ResponseWriter, r *http.Request) {
	c, err := u.Containers.Get(r.Context(), principal(r), ref(r))
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	form := map[string]string{"template": strings.TrimSpace(r.PostFormValue("template"))}
	name, version, _ := strings.Cut(form["template"], "@")
	in := containers.ReinstallInput{Template: name, Version: version}
	if pw := r.PostFormValue("root_password"); pw != "" {
		in.RootPassword = &pw
	}
	if strings.TrimSpace(r.PostFormValue("confirm")) != strconv.Itoa(c.CTID) {
		// Not confirmed: nothing is done, but the other fields are
		// checked too, to name every wrong one at once.
		errs := FieldErrors{"confirm": "type " + strconv.Itoa(c.CTID) + " to confirm"}
		if err := errs.Merge(u.Containers.CheckReinstall(r.Context(), in)); err != nil {
			u.serverError(w, r, err)
			return
		}
		u.reinstallForm(w, r, http.StatusUnprocessableEntity, form, errs, "Nothing was reinstalled.")
		return
	}
	op, err := u.Containers.Reinstall(r.Context(), principal(r), strconv.Itoa(c.CTID), in)
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.reinstallForm(w, r, status, form, fields, msg)
		return
	}
	opRedirect(w, r, "/containers/"+strconv.Itoa(c.CTID), op)
}
