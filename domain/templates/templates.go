// Package templates is the domain of OS templates (OpenVZ's template
// cache): liblxc template scripts and rootfs tarballs uploaded by staff,
// stored as NAME.tar.gz in the cache directory.
package templates

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/diskspace"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
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
	// CacheDir holds the tar.gz OS templates (NAME.tar.gz).
	CacheDir string
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
}

func (s *Service) view(t db.Template, staff bool) View {
	v := View{Name: t.Name, Kind: t.Kind, Description: t.Description, Enabled: t.Enabled, CreatedAt: t.CreatedAt}
	if staff {
		n := t.Containers
		v.Containers = &n
	}
	if t.Kind == "tarball" && s.CacheDir != "" {
		if fi, err := os.Stat(filepath.Join(s.CacheDir, filepath.Base(t.Source))); err == nil {
			size := fi.Size()
			v.SizeBytes = &size
		}
	}
	return v
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
			out = append(out, s.view(t, staff))
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
	return s.view(t, p.IsStaff()), nil
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
	if err := policy.RequireOperator(p); err != nil {
		return View{}, false, err
	}
	f := domain.FieldErrors{}
	policy.CheckTemplateName(f, "name", name)
	desc := ""
	if in.Description != nil {
		desc = *in.Description
		policy.CheckDescription(f, "description", desc)
	}
	if err := f.Err(); err != nil {
		return View{}, false, err
	}
	if in.Size > MaxBytes {
		return View{}, false, tooLarge()
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
	return s.view(t, true), created, nil
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
// root file system tarball, and puts it in place as NAME.tar.gz, synced to
// disk. Nothing is left behind when it fails.
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
	defer os.Remove(tmp.Name()) // a no-op once renamed
	in := &readTracker{Reader: io.LimitReader(body, MaxBytes+1)}
	n, err := io.Copy(tmp, in)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
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
		return 0, domain.FieldErrors{"body": "is empty: send the template's .tar.gz as the request body"}.Err()
	}
	if err := CheckRootfsTarball(tmp.Name()); err != nil {
		return 0, domain.FieldErrors{"body": err.Error()}.Err()
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.CacheDir, name+".tar.gz")); err != nil {
		return 0, err
	}
	return n, syncDir(s.CacheDir)
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
	return s.view(t, true), nil
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
	if s.CacheDir != "" {
		if err := os.Remove(filepath.Join(s.CacheDir, filepath.Base(t.Source))); err != nil && !errors.Is(err, os.ErrNotExist) {
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

// CheckRootfsTarball reads a whole .tar.gz and says what keeps it from
// being a root file system a container can boot: not gzip, not tar,
// corrupt, an entry escaping the root, or no /sbin/init and no /bin/sh.
func CheckRootfsTarball(file string) error {
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
