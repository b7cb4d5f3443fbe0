package pages

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/domain/templates"
	"github.com/ctpanel/ctpanel/ubc"
)

// templateRow is an OS template as the templates page lists it.
type templateRow struct {
	templates.View
	Size     string
	Versions []versionRow
}

// versionRow is one version of an image.
type versionRow struct {
	templates.VersionView
	Size  string
	Short string // the sha256's first 12 digits
}

// TemplatesPage is GET /templates (staff): the OS templates with their
// switches, and the upload form.
func (u *UI) TemplatesPage(w http.ResponseWriter, r *http.Request) {
	u.templatesPage(w, r, http.StatusOK, view{})
}

func (u *UI) templatesPage(w http.ResponseWriter, r *http.Request, status int, v view) {
	// Tasks are read before the templates: a task that reads as done has
	// registered its version already, so the table shows it (read the
	// other way round, a task finishing in between showed as done with no
	// version listed, and the page stopped refreshing).
	tasks, err := u.Templates.Tasks(r.Context(), principal(r))
	if err != nil {
		u.serverError(w, r, err)
		return
	}
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
		for _, vv := range tv.Versions {
			row.Versions = append(row.Versions, versionRow{VersionView: vv, Size: ubc.FormatBytes(uint64(vv.SizeBytes)), Short: vv.SHA256[:12]})
		}
		rows = append(rows, row)
	}
	v["Templates"] = rows
	if len(tasks) > 10 {
		tasks = tasks[:10]
	}
	running := false
	for _, t := range tasks {
		running = running || t.Status == "running"
	}
	v["Tasks"], v["TaskRunning"] = tasks, running
	v["Recipes"] = u.Templates.Recipes()
	for _, k := range []string{"BuildForm", "ImportForm"} {
		if v[k] == nil {
			v[k] = map[string]string{}
		}
	}
	for _, k := range []string{"BuildErrors", "ImportErrors"} {
		if v[k] == nil {
			v[k] = FieldErrors{}
		}
	}
	v["Done"] = r.URL.Query().Get("done")
	v["DoneName"] = r.URL.Query().Get("name")
	v["MaxSize"] = ubc.FormatBytes(templates.MaxBytes)
	u.render(w, r, status, "templates", v)
}

// templatesRefused shows the templates page again with why a template's
// button was refused (a template in use, a version being built).
func (u *UI) templatesRefused(w http.ResponseWriter, r *http.Request, err error) {
	_, msg, status, ok := u.formRefusal(w, r, err)
	if !ok {
		return
	}
	u.templatesPage(w, r, status, view{"Message": msg})
}

// SetTemplateEnabled is POST /templates/{name}/enable and .../disable.
func (u *UI) SetTemplateEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := chi.URLParam(r, "name")
		if _, err := u.Templates.Update(r.Context(), principal(r), name, nil, &enabled); err != nil {
			u.templatesRefused(w, r, err)
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
	if err := u.Templates.Delete(r.Context(), principal(r), name); err != nil {
		u.templatesRefused(w, r, err)
		return
	}
	http.Redirect(w, r, "/templates?done=deleted&name="+url.QueryEscape(name), http.StatusSeeOther)
}

// BuildImage is POST /templates/build (staff): the API's image build;
// the page then shows the task's progress.
func (u *UI) BuildImage(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{}
	for _, k := range []string{"recipe", "name", "mirror"} {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	t, err := u.Templates.Build(r.Context(), principal(r), templates.BuildInput{Recipe: form["recipe"], Name: form["name"], Mirror: form["mirror"]})
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.templatesPage(w, r, status, view{"BuildForm": form, "BuildErrors": fields, "BuildError": msg})
		return
	}
	http.Redirect(w, r, "/templates?done=started&name="+url.QueryEscape(t.Template)+"#tasks", http.StatusSeeOther)
}

// ImportImage is POST /templates/import (staff): the API's simplestreams
// import.
func (u *UI) ImportImage(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{}
	for _, k := range []string{"source", "product", "version", "name"} {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	t, err := u.Templates.Import(r.Context(), principal(r), templates.ImportInput{Source: form["source"], Product: form["product"],
		Version: form["version"], Name: form["name"]})
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.templatesPage(w, r, status, view{"ImportForm": form, "ImportErrors": fields, "ImportError": msg})
		return
	}
	http.Redirect(w, r, "/templates?done=started&name="+url.QueryEscape(t.Template)+"#tasks", http.StatusSeeOther)
}

// DeleteImageVersion is POST /templates/{name}/versions/{version}/delete.
func (u *UI) DeleteImageVersion(w http.ResponseWriter, r *http.Request) {
	name, version := chi.URLParam(r, "name"), chi.URLParam(r, "version")
	if err := u.Templates.DeleteVersion(r.Context(), principal(r), name, version); err != nil {
		u.templatesRefused(w, r, err)
		return
	}
	http.Redirect(w, r, "/templates?done=version-deleted&name="+url.QueryEscape(name+" "+version), http.StatusSeeOther)
}
