package handlers

import (
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"
)

// templateRow is an OS template as the templates page lists it.
type templateRow struct {
	TemplateView
	Size string
}

// TemplatesPage is GET /templates (staff): the OS templates with their
// switches, and the upload form.
func (u *UI) TemplatesPage(w http.ResponseWriter, r *http.Request) {
	u.templatesPage(w, r, http.StatusOK, view{})
}

func (u *UI) templatesPage(w http.ResponseWriter, r *http.Request, status int, v view) {
	list, err := u.api.Store.ListTemplates(r.Context())
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	rows := make([]templateRow, 0, len(list))
	for _, t := range list {
		tv := u.api.templateView(t, true)
		row := templateRow{TemplateView: tv}
		if tv.SizeBytes != nil {
			row.Size = humanBytes(uint64(*tv.SizeBytes))
		}
		rows = append(rows, row)
	}
	v["Templates"] = rows
	v["Done"] = r.URL.Query().Get("done")
	v["DoneName"] = r.URL.Query().Get("name")
	v["MaxSize"] = humanBytes(MaxTemplateBytes)
	u.render(w, r, status, "templates", v)
}

// SetTemplateEnabled is POST /templates/{name}/enable and .../disable.
func (u *UI) SetTemplateEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := chi.URLParam(r, "name")
		_, err := u.callAPI(r, u.api.PatchTemplate, http.MethodPatch, "/api/v1/templates/"+url.PathEscape(name),
			map[string]string{"name": name}, map[string]any{"enabled": enabled})
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
	_, err := u.callAPI(r, u.api.DeleteTemplate, http.MethodDelete, "/api/v1/templates/"+url.PathEscape(name),
		map[string]string{"name": name}, nil)
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/templates?done=deleted&name="+url.QueryEscape(name), http.StatusSeeOther)
}
