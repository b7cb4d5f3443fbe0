package handlers

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/ctpanel/ctpanel/db"
)

// MaxTemplateBytes bounds an uploaded OS template (the compressed size).
const MaxTemplateBytes = 16 << 30

// TemplateUploadPrefix starts the names of template uploads in progress in the
// template cache; start-up removes what a crash left of them.
const TemplateUploadPrefix = ".upload-"

// TemplateView is an OS template as the API shows it.
type TemplateView struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
	SizeBytes   *int64 `json:"size_bytes"`
	// Containers counts the farm's containers made from it: staff only.
	Containers *int      `json:"containers"`
	CreatedAt  time.Time `json:"created_at"`
}

func (a *API) templateView(t db.Template, staff bool) TemplateView {
	v := TemplateView{Name: t.Name, Kind: t.Kind, Description: t.Description, Enabled: t.Enabled, CreatedAt: t.CreatedAt}
	if staff {
		n := t.Containers
		v.Containers = &n
	}
	if t.Kind == "tarball" && a.TemplateCacheDir != "" {
		if fi, err := os.Stat(filepath.Join(a.TemplateCacheDir, filepath.Base(t.Source))); err == nil {
			size := fi.Size()
			v.SizeBytes = &size
		}
	}
	return v
}

// ListTemplates is GET /api/v1/templates: the OS templates to create from.
// Customers see only the enabled ones.
func (a *API) ListTemplates(w http.ResponseWriter, r *http.Request) {
	list, err := a.Store.ListTemplates(r.Context())
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	staff := principal(r).IsStaff()
	out := make([]TemplateView, 0, len(list))
	for _, t := range list {
		if t.Enabled || staff {
			out = append(out, a.templateView(t, staff))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"templates": out})
}

// GetTemplate is GET /api/v1/templates/{name}.
func (a *API) GetTemplate(w http.ResponseWriter, r *http.Request) {
	t, err := a.Store.GetTemplate(r.Context(), urlParam(r, "name"))
	if errors.Is(err, db.ErrNotFound) || (err == nil && !t.Enabled && !principal(r).IsStaff()) {
		err = notFound("template %q does not exist", urlParam(r, "name"))
	}
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.templateView(t, principal(r).IsStaff()))
}

// PutTemplate is PUT /api/v1/templates/{name} with a gzip-compressed tar
// of a root file system as the body (staff): it is checked, stored in the
// template cache as NAME.tar.gz (OpenVZ's template cache) and becomes
// template NAME, enabled unless ?enabled=false. An existing tarball
// template of that name is replaced (201 for a new template, 200 for a
// replaced one); containers already made from it keep their files.
func (a *API) PutTemplate(w http.ResponseWriter, r *http.Request) {
	name := urlParam(r, "name")
	q := r.URL.Query()
	f := FieldErrors{}
	checkTemplateName(f, "name", name)
	desc, hasDesc := q.Get("description"), q.Has("description")
	checkDescription(f, "description", desc)
	enabled, setEnabled := true, q.Has("enabled")
	switch q.Get("enabled") {
	case "", "true":
	case "false":
		enabled = false
	default:
		f.Add("enabled", "must be true or false")
	}
	if err := f.Err(); err != nil {
		a.smartError(w, r, err)
		return
	}
	if r.ContentLength > MaxTemplateBytes {
		a.smartError(w, r, templateTooLarge())
		return
	}
	if a.TemplateCacheDir == "" {
		a.smartError(w, r, errors.New("no template cache dir configured"))
		return
	}
	old, err := a.Store.GetTemplate(r.Context(), name)
	exists := err == nil
	switch {
	case exists && old.Kind != "tarball":
		a.smartError(w, r, conflict("template %q is liblxc's %q template script and cannot be replaced by a tarball", name, old.Source))
		return
	case err != nil && !errors.Is(err, db.ErrNotFound):
		a.smartError(w, r, err)
		return
	}
	if !hasDesc && exists {
		desc = old.Description
	}
	n, err := a.receiveTemplate(w, r, name)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	t := db.Template{Name: name, Kind: "tarball", Source: name + ".tar.gz", Description: desc, Enabled: enabled}
	created, err := a.Store.UpsertTemplate(r.Context(), t, setEnabled)
	if err != nil {
		if !exists {
			// Not left for the next start's scan to register.
			_ = os.Remove(filepath.Join(a.TemplateCacheDir, t.Source))
		}
		a.smartError(w, r, err)
		return
	}
	if t, err = a.Store.GetTemplate(r.Context(), name); err != nil {
		a.smartError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/api/v1/templates/"+name)
	}
	a.Log.Info("template uploaded", "template", name, "bytes", n, "replaced", !created)
	writeJSON(w, status, a.templateView(t, true))
}

func templateTooLarge() error {
	return &APIError{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
		Message: fmt.Sprintf("a template may be at most %d bytes", int64(MaxTemplateBytes)), Fields: map[string]string{"body": "too large"}}
}

// readTracker remembers whether a copy failed reading the request (the
// client's fault) or writing the file (ours).
type readTracker struct {
	io.Reader
	err error
}

func (t *readTracker) Read(p []byte) (int, error) {
	n, err := t.Reader.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		t.err = err
	}
	return n, err
}

// receiveTemplate streams the body into a temporary file of the template
// cache, checks it is a root file system tarball, and puts it in place as
// NAME.tar.gz, synced to disk, so a crash leaves either the old file or
// the whole new one. Nothing is left behind when it fails.
func (a *API) receiveTemplate(w http.ResponseWriter, r *http.Request, name string) (int64, error) {
	if err := os.MkdirAll(a.TemplateCacheDir, 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(a.TemplateCacheDir, TemplateUploadPrefix+name+"-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	body := &readTracker{Reader: http.MaxBytesReader(w, r.Body, MaxTemplateBytes)}
	n, err := io.Copy(tmp, body)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(body.err, &tooBig):
		return 0, templateTooLarge()
	case body.err != nil:
		return 0, &APIError{Status: http.StatusBadRequest, Code: "bad_body", Message: "reading the upload: " + body.err.Error()}
	case err != nil:
		return 0, fmt.Errorf("storing the upload: %w", err)
	case n == 0:
		return 0, (FieldErrors{"body": "is empty: send the template's .tar.gz as the request body"}).Err()
	}
	if err := checkRootfsTarball(tmp.Name()); err != nil {
		return 0, (FieldErrors{"body": err.Error()}).Err()
	}
	if err := os.Rename(tmp.Name(), filepath.Join(a.TemplateCacheDir, name+".tar.gz")); err != nil {
		return 0, err
	}
	return n, syncDir(a.TemplateCacheDir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
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
	if err := checkOptionalDescription(req.Description); err != nil {
		a.smartError(w, r, err)
		return
	}
	name := urlParam(r, "name")
	t, err := a.Store.UpdateTemplate(r.Context(), name, req.Description, req.Enabled)
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("template %q does not exist", name)
	}
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.templateView(t, true))
}

// DeleteTemplate is DELETE /api/v1/templates/{name} (staff): the template
// and, for a tarball, its file in the template cache. Containers made
// from it keep running and keep its name as their template. liblxc's
// template scripts (busybox) cannot be deleted, only disabled.
func (a *API) DeleteTemplate(w http.ResponseWriter, r *http.Request) {
	name := urlParam(r, "name")
	t, err := a.Store.GetTemplate(r.Context(), name)
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("template %q does not exist", name)
	}
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	if t.Kind != "tarball" {
		a.smartError(w, r, conflict("template %q is liblxc's %q template script: disable it instead", name, t.Source))
		return
	}
	// Disabled first, so that from here on nothing is created from it,
	// then the file, then the row: a crash between the steps leaves a
	// disabled template, never one that promises a file it lacks.
	off := false
	if _, err := a.Store.UpdateTemplate(r.Context(), name, nil, &off); err != nil && !errors.Is(err, db.ErrNotFound) {
		a.smartError(w, r, err)
		return
	}
	if a.TemplateCacheDir != "" {
		if err := os.Remove(filepath.Join(a.TemplateCacheDir, filepath.Base(t.Source))); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.smartError(w, r, err)
			return
		}
	}
	if err := a.Store.DeleteTemplate(r.Context(), name); err != nil && !errors.Is(err, db.ErrNotFound) {
		a.smartError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// TemplateNameProblem says what is wrong with a template name, or "".
func TemplateNameProblem(name string) string {
	f := FieldErrors{}
	checkTemplateName(f, "name", name)
	return f["name"]
}

// checkTemplateName: a template name becomes a file name in the template
// cache, so it is kept to OpenVZ's usual alphabet (debian-12-x86_64).
func checkTemplateName(f FieldErrors, field, name string) {
	switch {
	case name == "":
		f.Add(field, "must not be empty")
	case len(name) > 63:
		f.Add(field, "must be at most 63 characters")
	case strings.Contains(name, ".."):
		f.Add(field, `must not contain ".."`)
	case name[0] == '-' || name[0] == '.' || name[0] == '_':
		f.Add(field, "must start with a letter or digit")
	case strings.HasSuffix(name, ".tar.gz"):
		f.Add(field, "is the template's name, without .tar.gz")
	default:
		for _, c := range name {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				f.Add(field, "may contain only letters, digits, '-', '_' and '.'")
				return
			}
		}
	}
}

// checkRootfsTarball reads a whole .tar.gz and says what keeps it from
// being a root file system a container can boot: not gzip, not tar,
// corrupt, an entry escaping the root, or no /sbin/init and no /bin/sh.
func checkRootfsTarball(file string) error {
	fh, err := os.Open(file)
	if err != nil {
		return err
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		return fmt.Errorf("is not gzip-compressed (%v): send a .tar.gz", err)
	}
	tr := tar.NewReader(zr)
	entries, boots := 0, false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("is not a readable tar archive after %d entries: %v", entries, err)
		}
		entries++
		clean := path.Clean("/" + h.Name)
		for _, part := range strings.Split(h.Name, "/") {
			if part == ".." {
				return fmt.Errorf("has an entry outside its root: %q", h.Name)
			}
		}
		switch clean {
		case "/sbin/init", "/bin/sh", "/usr/sbin/init", "/usr/bin/sh", "/lib/systemd/systemd":
			boots = true
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return fmt.Errorf("is corrupt at %q: %v", h.Name, err)
		}
	}
	if entries == 0 {
		return errors.New("is an empty tar archive")
	}
	if !boots {
		return errors.New("is not a root file system: it has no /sbin/init and no /bin/sh")
	}
	return nil
}
