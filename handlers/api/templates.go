package api

import (
	"net/http"

	"github.com/ctpanel/ctpanel/domain/templates"
)

// TemplateView is an OS template as the API shows it.
type TemplateView = templates.View

// ListTemplates is GET /api/v1/templates: the OS templates to create from.
// Customers see only the enabled ones.
func (a *API) ListTemplates(w http.ResponseWriter, r *http.Request) {
	out, err := a.Templates.List(r.Context(), principal(r))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"templates": out})
}

// GetTemplate is GET /api/v1/templates/{name}.
func (a *API) GetTemplate(w http.ResponseWriter, r *http.Request) {
	v, err := a.Templates.Get(r.Context(), principal(r), urlParam(r, "name"))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// PutTemplate is PUT /api/v1/templates/{name} with a gzip-compressed tar
// of a root file system as the body (staff): it is checked, stored in the
// template cache as NAME.tar.gz (OpenVZ's template cache) and becomes
// template NAME, enabled unless ?enabled=false. An existing tarball
// template of that name is replaced (201 for a new template, 200 for a
// replaced one); containers already made from it keep their files.
func (a *API) PutTemplate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	in := templates.Upload{Size: r.ContentLength}
	if q.Has("description") {
		d := q.Get("description")
		in.Description = &d
	}
	switch q.Get("enabled") {
	case "":
	case "true", "false":
		on := q.Get("enabled") == "true"
		in.Enabled = &on
	default:
		a.smartError(w, r, FieldErrors{"enabled": "must be true or false"}.Err())
		return
	}
	body := http.MaxBytesReader(w, r.Body, templates.MaxBytes)
	v, created, err := a.Templates.Put(r.Context(), principal(r), urlParam(r, "name"), in, body)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/api/v1/templates/"+v.Name)
	}
	writeJSON(w, status, v)
}

// PatchTemplate is PATCH /api/v1/templates/{name} {"description":..,
// "enabled":..} (staff). A disabled template stays on disk and its
// containers are untouched; new containers and reinstalls cannot use it.
func (a *API) PatchTemplate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Description *string `json:"description"`
		Enabled     *bool   `json:"enabled"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	v, err := a.Templates.Update(r.Context(), principal(r), urlParam(r, "name"), req.Description, req.Enabled)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// DeleteTemplate is DELETE /api/v1/templates/{name} (staff): the template
// and, for a tarball, its file in the template cache. Containers made
// from it keep running and keep its name as their template. liblxc's
// template scripts (busybox) cannot be deleted, only disabled.
func (a *API) DeleteTemplate(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.Templates.Delete(r.Context(), principal(r), urlParam(r, "name")))
}

// AddTemplateVersion is POST /api/v1/templates/{name}/versions with a
// root file system archive (.tar.gz, .tar.xz or .tar.zst) as the body
// (staff): checked, hashed and stored as the image's newest version (the
// image made when missing). 201 with the image and the new version.
func (a *API) AddTemplateVersion(w http.ResponseWriter, r *http.Request) {
	in := templates.Upload{Size: r.ContentLength}
	if q := r.URL.Query(); q.Has("description") {
		d := q.Get("description")
		in.Description = &d
	}
	body := http.MaxBytesReader(w, r.Body, templates.MaxBytes)
	v, version, err := a.Templates.AddVersion(r.Context(), principal(r), urlParam(r, "name"), in, body)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/templates/"+v.Name)
	writeJSON(w, http.StatusCreated, map[string]any{"template": v, "version": version})
}

// DeleteTemplateVersion is DELETE /api/v1/templates/{name}/versions/{version}
// (staff): refused while containers were made from it, and for the only
// version.
func (a *API) DeleteTemplateVersion(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.Templates.DeleteVersion(r.Context(), principal(r), urlParam(r, "name"), urlParam(r, "version")))
}

// ImageRecipes is GET /api/v1/image-recipes (staff): the images the
// panel builds and the archive it builds them from.
func (a *API) ImageRecipes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.Templates.Recipes())
}

// BuildImage is POST /api/v1/image-builds {"recipe":"debian-12",
// "name":..,"mirror":..} (staff): 202 with the task.
func (a *API) BuildImage(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Recipe string `json:"recipe"`
		Name   string `json:"name"`
		Mirror string `json:"mirror"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	t, err := a.Templates.Build(r.Context(), principal(r), templates.BuildInput{Recipe: req.Recipe, Name: req.Name, Mirror: req.Mirror})
	a.answerTask(w, r, t, err)
}

// ImportImage is POST /api/v1/image-imports {"source":..,"product":..,
// "version":..,"name":..} (staff): 202 with the task.
func (a *API) ImportImage(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Source  string `json:"source"`
		Product string `json:"product"`
		Version string `json:"version"`
		Name    string `json:"name"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	t, err := a.Templates.Import(r.Context(), principal(r), templates.ImportInput{Source: req.Source, Product: req.Product,
		Version: req.Version, Name: req.Name})
	a.answerTask(w, r, t, err)
}

func (a *API) answerTask(w http.ResponseWriter, r *http.Request, t templates.TaskView, err error) {
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/image-tasks/"+t.ID)
	writeJSON(w, http.StatusAccepted, t)
}

// ImageSources is GET /api/v1/image-sources?source=URL (staff): the
// products of a simplestreams tree.
func (a *API) ImageSources(w http.ResponseWriter, r *http.Request) {
	list, err := a.Templates.Products(r.Context(), principal(r), r.URL.Query().Get("source"))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"products": list})
}

// ListImageTasks is GET /api/v1/image-tasks (staff): the latest builds
// and imports.
func (a *API) ListImageTasks(w http.ResponseWriter, r *http.Request) {
	list, err := a.Templates.Tasks(r.Context(), principal(r))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": list})
}

// GetImageTask is GET /api/v1/image-tasks/{id} (staff).
func (a *API) GetImageTask(w http.ResponseWriter, r *http.Request) {
	t, err := a.Templates.Task(r.Context(), principal(r), urlParam(r, "id"))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}
