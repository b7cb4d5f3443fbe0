package pages

import (
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/domain/templates"
	"github.com/ctpanel/ctpanel/ubc"
)

// templateRow is an OS template as the templates page lists it.
type templateRow struct {
	templates.View
	Size string
}

// TemplatesPage is GET /templates (staff): the OS templates with their
// switches, and the upload form.
func (u *UI) TemplatesPage(w http.ResponseWriter, r *http.Request) {
	u.templatesPage(w, r, http.StatusOK, view{})
}

func (u *UI) templatesPage(w http.ResponseWriter, r *http.Request, status int, v view) {
	list, err := u.Templates.List(r.Context(), principal(r))
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	rows := make([]templateRow, 0, len(list))
	for _, tv := range list {
		row := templateRow{View: tv}
		if tv.SizeBytes != nil {
			row.Size = ubc.FormatBytes(uint64(*tv.SizeBytes))
		}
		rows = append(rows, row)
	}
	v["Templates"] = rows
	v["Done"] = r.URL.Query().Get("done")
	v["DoneName"] = r.URL.Query().Get("name")
	v["MaxSize"] = ubc.FormatBytes(templates.MaxBytes)
	u.render(w, r, status, "templates", v)
}

// SetTemplateEnabled is POST /templates/{name}/enable and .../disable.
func (u *UI) SetTemplateEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := chi.URLParam(r, "name")
		_, err := u.Templates.Update(r.Context(), principal(r), name, nil, &enabled)
		if err != nil {
			u.pageError(w, r, err)
			return
		}
		done := "disabled"
		if enabled {
			done = "enabled"
		}
		http.Redirect(w, r, "/templates?done="+done+"&name="+url.QueryEscape(name), http.StatusSeeOther)
	}
}

// DeleteTemplate is POST /templates/{name}/delete.
func (u *UI) DeleteTemplate(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	err := u.Templates.Delete(r.Context(), principal(r), name)
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/templates?done=deleted&name="+url.QueryEscape(name), http.StatusSeeOther)
}
