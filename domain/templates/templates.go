// Package templates is the domain of OS templates (OpenVZ's template
// cache): liblxc template scripts and rootfs tarballs uploaded by staff,
// stored as NAME.tar.gz in the cache directory.
package templates

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/diskspace"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/images"
)

// MaxBytes bounds an uploaded OS template (the compressed size).
const MaxBytes = 16 << 30

// UploadPrefix starts the names of uploads in progress in the template
// cache; start-up removes what a crash left of them.
const UploadPrefix = ".upload-"

// Service is the templates domain.
type Service struct {
	Store *db.Store
	Log   *slog.Logger
	// CacheDir holds the tar.gz OS templates (NAME.tar.gz) and the image
	// store (images/).
	CacheDir string
	// Mirror is the Debian archive images are built from (the host's
	// own apt source when empty).
	Mirror string

	bg tasks
}

// View is an OS template as both front ends show it.
type View struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
	SizeBytes   *int64 `json:"size_bytes"`
	// Containers counts the farm's containers made from it: staff only.
	Containers *int      `json:"containers"`
	CreatedAt  time.Time `json:"created_at"`
	// What the image is and where it came from.
	Distribution string `json:"distribution"`
	Release      string `json:"release"`
	Arch         string `json:"arch"`
	Variant      string `json:"variant"`
	Origin       string `json:"origin"`
	// Version is the newest version, which new containers get; Versions
	// are all of them, newest first (none for a single-file template).
	Version  *string       `json:"version"`
	Versions []VersionView `json:"versions"`
}

func (s *Service) view(ctx context.Context, t db.Template, staff bool) (View, error) {
	v := View{Name: t.Name, Kind: t.Kind, Description: t.Description, Enabled: t.Enabled, CreatedAt: t.CreatedAt,
		Versions: []VersionView{}}
	if staff {
		n := t.Containers
		v.Containers = &n
	}
	meta, err := s.Store.TemplateMeta(ctx, t.Name)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return v, err
	}
	v.Distribution, v.Release, v.Arch, v.Variant, v.Origin = meta.Distribution, meta.Release, meta.Arch, meta.Variant, meta.Origin
	vs, err := s.Store.ImageVersions(ctx, t.Name)
	if err != nil {
		return v, err
	}
	for i, iv := range vs {
		vv := VersionView{Version: iv.Version, SHA256: iv.SHA256, SizeBytes: iv.SizeBytes, Origin: iv.Origin, CreatedAt: iv.CreatedAt}
		if staff {
			n := iv.Containers
			vv.Containers = &n
		}
		v.Versions = append(v.Versions, vv)
		if i == 0 {
			ver, size := iv.Version, iv.SizeBytes
			v.Version, v.SizeBytes = &ver, &size
		}
	}
	if t.Kind == "tarball" && t.Source != "" && s.CacheDir != "" {
		if fi, err := os.Stat(filepath.Join(s.CacheDir, filepath.Base(t.Source))); err == nil {
			size := fi.Size()
			v.SizeBytes = &size
		}
	}
	return v, nil
}

// List is the templates p may create from: customers see only the
// enabled ones.
func (s *Service) List(ctx context.Context, p db.Principal) ([]View, error) {
	list, err := s.Store.ListTemplates(ctx)
	if err != nil {
		return nil, err
	}
	staff := p.IsStaff()
	out := make([]View, 0, len(list))
	for _, t := range list {
		if t.Enabled || staff {
			v, err := s.view(ctx, t, staff)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// Get finds template name; a disabled one is staff's only.
func (s *Service) Get(ctx context.Context, p db.Principal, name string) (View, error) {
	t, err := s.Store.GetTemplate(ctx, name)
	if errors.Is(err, db.ErrNotFound) || (err == nil && !t.Enabled && !p.IsStaff()) {
		return View{}, domain.NotFound("template %q does not exist", name)
	}
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, t, p.IsStaff())
}

// Upload is what comes with an uploaded template besides its bytes; nil
// keeps the existing template's (or the default: enabled, no description).
type Upload struct {
	Description *string
	Enabled     *bool
	// Size is the announced length of the body, -1 when unknown.
	Size int64
}

// Put stores body, a gzip-compressed tar of a root file system, as
// template name (staff): checked, written to the cache as NAME.tar.gz
// (synced, so a crash leaves the old file or the whole new one) and
// registered. An existing tarball template is replaced; created says
// whether it is new.
func (s *Service) Put(ctx context.Context, p db.Principal, name string, in Upload, body io.Reader) (v View, created bool, err error) {
	desc, err := checkUpload(p, name, in)
	if err != nil {
		return View{}, false, err
	}
	if s.CacheDir == "" {
		return View{}, false, errors.New("no template cache dir configured")
	}
	old, err := s.Store.GetTemplate(ctx, name)
	exists := err == nil
	switch {
	case exists && old.Kind != "tarball":
		return View{}, false, domain.Conflict("template %q is liblxc's %q template script and cannot be replaced by a tarball", name, old.Source)
	case err != nil && !errors.Is(err, db.ErrNotFound):
		return View{}, false, err
	}
	if in.Description == nil && exists {
		desc = old.Description
	}
	n, err := s.receive(name, body)
	if err != nil {
		return View{}, false, err
	}
	enabled := in.Enabled == nil || *in.Enabled
	t := db.Template{Name: name, Kind: "tarball", Source: name + ".tar.gz", Description: desc, Enabled: enabled}
	created, err = s.Store.UpsertTemplate(ctx, t, in.Enabled != nil)
	if err != nil {
		if !exists {
			// Not left for the next start's scan to register.
			_ = os.Remove(filepath.Join(s.CacheDir, t.Source))
		}
		return View{}, false, err
	}
	if t, err = s.Store.GetTemplate(ctx, name); err != nil {
		return View{}, false, err
	}
	s.Log.Info("template uploaded", "template", name, "bytes", n, "replaced", !created)
	s.audit(ctx, p, "template.put", map[string]any{"template": name, "bytes": n, "replaced": !created})
	v, err = s.view(ctx, t, true)
	return v, created, err
}

// checkUpload authorizes an upload and checks its name, description and
// announced size; it returns the description.
func checkUpload(p db.Principal, name string, in Upload) (string, error) {
	if err := policy.RequireOperator(p); err != nil {
		return "", err
	}
	f := domain.FieldErrors{}
	policy.CheckTemplateName(f, "name", name)
	desc := ""
	if in.Description != nil {
		desc = *in.Description
		policy.CheckDescription(f, "description", desc)
	}
	if err := f.Err(); err != nil {
		return "", err
	}
	if in.Size > MaxBytes {
		return "", tooLarge()
	}
	return desc, nil
}

func tooLarge() error {
	return &domain.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
		Message: fmt.Sprintf("a template may be at most %d bytes", int64(MaxBytes)), Fields: map[string]string{"body": "too large"}}
}

// readTracker remembers whether a copy failed reading the upload (the
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

// receive streams body into a temporary file of the cache, checks it is a
// gzip-compressed root file system tarball, and puts it in place as
// NAME.tar.gz, synced to disk. Nothing is left behind when it fails.
func (s *Service) receive(name string, body io.Reader) (int64, error) {
	// Root only: a tarball holds setuid files owned by root.
	if err := os.MkdirAll(s.CacheDir, 0o700); err != nil {
		return 0, err
	}
	if err := os.Chmod(s.CacheDir, 0o700); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(s.CacheDir, UploadPrefix+name+"-*")
	if err != nil {
		return 0, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // a no-op once renamed
	n, err := s.receiveTo(tmp.Name(), body)
	if err != nil {
		return 0, err
	}
	info, err := images.Check(tmp.Name())
	if err != nil {
		return 0, domain.FieldErrors{"body": err.Error()}.Err()
	}
	if info.Format != images.Gzip {
		return 0, domain.FieldErrors{"body": "is a .tar." + info.Format + ": a single-file template is a .tar.gz; add other formats as a version (POST /api/v1/templates/NAME/versions)"}.Err()
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.CacheDir, name+".tar.gz")); err != nil {
		return 0, err
	}
	return n, syncDir(s.CacheDir)
}

// receiveTo streams body into file (made or truncated, mode 0600),
// synced; the errors name the body's fault or the disk's.
func (s *Service) receiveTo(file string, body io.Reader) (int64, error) {
	out, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	in := &readTracker{Reader: io.LimitReader(body, MaxBytes+1)}
	n, err := io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	var tooBig *http.MaxBytesError
	switch {
	case n > MaxBytes || errors.As(in.err, &tooBig):
		return 0, tooLarge()
	case in.err != nil:
		return 0, &domain.Error{Status: http.StatusBadRequest, Code: "bad_body", Message: "reading the upload: " + in.err.Error()}
	case diskspace.IsFull(err):
		return 0, &domain.Error{Status: http.StatusInsufficientStorage, Code: "insufficient_storage",
			Message: fmt.Sprintf("the template store (%s) is full: no space left for the upload after %d bytes; free some or delete templates", s.CacheDir, n),
			Fields:  map[string]string{"body": "no space left to store it"}}
	case err != nil:
		return 0, fmt.Errorf("storing the upload: %w", err)
	case n == 0:
		return 0, domain.FieldErrors{"body": "is empty: send the template's archive as the request body"}.Err()
	}
	return n, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Update changes a template's description or enabled flag (staff). A
// disabled template stays on disk and its containers are untouched; new
// containers and reinstalls cannot use it.
func (s *Service) Update(ctx context.Context, p db.Principal, name string, description *string, enabled *bool) (View, error) {
	if err := policy.RequireOperator(p); err != nil {
		return View{}, err
	}
	if description != nil {
		f := domain.FieldErrors{}
		policy.CheckDescription(f, "description", *description)
		if err := f.Err(); err != nil {
			return View{}, err
		}
	}
	t, err := s.Store.UpdateTemplate(ctx, name, description, enabled)
	if errors.Is(err, db.ErrNotFound) {
		return View{}, domain.NotFound("template %q does not exist", name)
	}
	if err != nil {
		return View{}, err
	}
	details := map[string]any{"template": name}
	if enabled != nil {
		details["enabled"] = *enabled
	}
	s.audit(ctx, p, "template.update", details)
	return s.view(ctx, t, true)
}

// Delete removes a tarball template and its file (staff). Containers
// made from it keep running and keep its name as their template; liblxc's
// template scripts (busybox) cannot be deleted, only disabled.
func (s *Service) Delete(ctx context.Context, p db.Principal, name string) error {
	if err := policy.RequireOperator(p); err != nil {
		return err
	}
	t, err := s.Store.GetTemplate(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return domain.NotFound("template %q does not exist", name)
	}
	if err != nil {
		return err
	}
	if t.Kind != "tarball" {
		return domain.Conflict("template %q is liblxc's %q template script: disable it instead", name, t.Source)
	}
	// Disabled first, so that from here on nothing is created from it,
	// then the file, then the row: a crash between the steps leaves a
	// disabled template, never one that promises a file it lacks.
	off := false
	if _, err := s.Store.UpdateTemplate(ctx, name, nil, &off); err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	if s.CacheDir != "" && t.Source != "" {
		if err := os.Remove(filepath.Join(s.CacheDir, filepath.Base(t.Source))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if s.CacheDir != "" && t.Source == "" {
		// Its versions, rows going with the template's.
		if err := os.RemoveAll(filepath.Join(s.ImagesDir(), name)); err != nil {
			return err
		}
	}
	if err := s.Store.DeleteTemplate(ctx, name); err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	s.audit(ctx, p, "template.delete", map[string]any{"template": name})
	return nil
}

func (s *Service) audit(ctx context.Context, p db.Principal, action string, details map[string]any) {
	domain.AuditOutside(ctx, s.Store, s.Log, p, action, details)
}

// CheckRootfsTarball reads a whole archive and says what keeps it from
// being a root file system a container can boot (images.Check).
func CheckRootfsTarball(file string) error {
	_, err := images.Check(file)
	return err
}
