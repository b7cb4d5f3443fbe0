package templates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/diskspace"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/images"
)

// Images: versions of a template in the image store (CacheDir/images/
// NAME/VERSION.tar.*), built from a distribution's archive, imported from
// a simplestreams tree or uploaded, and the tasks that build and import
// them.

// ImagesDir is the image store under the template cache.
func (s *Service) ImagesDir() string { return filepath.Join(s.CacheDir, "images") }

// VersionView is one version of an image.
type VersionView struct {
	Version   string    `json:"version"`
	SHA256    string    `json:"sha256"`
	SizeBytes int64     `json:"size_bytes"`
	Origin    string    `json:"origin"`
	CreatedAt time.Time `json:"created_at"`
	// Containers counts the containers made from it: staff only.
	Containers *int `json:"containers"`
}

// TaskView is a build or import as both front ends show it.
type TaskView struct {
	ID          string         `json:"id"`
	Kind        string         `json:"kind"`
	Template    string         `json:"template"`
	Params      map[string]any `json:"params"`
	Status      string         `json:"status"`
	Progress    string         `json:"progress"`
	Error       string         `json:"error"`
	Version     *string        `json:"version"`
	RequestedBy string         `json:"requested_by"`
	CreatedAt   time.Time      `json:"created_at"`
	FinishedAt  *time.Time     `json:"finished_at"`
}

func taskView(t db.ImageTask) TaskView {
	v := TaskView{ID: t.ID, Kind: t.Kind, Template: t.Template, Status: t.Status, Progress: t.Progress, Error: t.Error,
		Version: t.Version, RequestedBy: t.RequestedBy, CreatedAt: t.CreatedAt, FinishedAt: t.FinishedAt, Params: map[string]any{}}
	_ = json.Unmarshal(t.Params, &v.Params)
	return v
}

// tasks runs builds and imports in the background.
type tasks struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (s *Service) taskContext() (context.Context, bool) {
	s.bg.mu.Lock()
	defer s.bg.mu.Unlock()
	if s.bg.ctx == nil {
		s.bg.ctx, s.bg.cancel = context.WithCancel(context.Background())
	}
	if s.bg.ctx.Err() != nil {
		return nil, false
	}
	s.bg.wg.Add(1)
	return s.bg.ctx, true
}

// Close cancels running builds and imports and waits for them: each
// fails cleanly, its files removed.
func (s *Service) Close() {
	s.bg.mu.Lock()
	if s.bg.ctx == nil {
		s.bg.ctx, s.bg.cancel = context.WithCancel(context.Background())
	}
	s.bg.cancel()
	s.bg.mu.Unlock()
	s.bg.wg.Wait()
}

// Recover fails the tasks a stopped panel left running and removes what
// they and interrupted writes left in the image store: work folders,
// partial files and files no version names.
func (s *Service) Recover(ctx context.Context) error {
	if n, err := s.Store.FailRunningImageTasks(ctx, "interrupted: the panel stopped while it ran; nothing of it was kept, start it again"); err != nil {
		return err
	} else if n > 0 {
		s.Log.Warn("image tasks interrupted by a stop were failed", "tasks", n)
	}
	dir := s.ImagesDir()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	known, err := s.Store.ImageFiles(ctx)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, f := range known {
		keep[f] = true
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			s.Log.Info("image store: removing what an interrupted task left", "path", p)
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			continue
		}
		if !e.IsDir() {
			continue
		}
		files, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		for _, f := range files {
			rel := e.Name() + "/" + f.Name()
			if !keep[rel] {
				s.Log.Info("image store: removing a file no image version names", "file", rel)
				if err := os.RemoveAll(filepath.Join(p, f.Name())); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// BuildInput asks for an image built from a recipe.
type BuildInput struct {
	// Recipe is what to build (debian-12).
	Recipe string
	// Name is the template to add the version to (the recipe's name
	// when empty).
	Name string
	// Mirror overrides the configured archive.
	Mirror string
}

var mirrorRE = regexp.MustCompile(`^https?://[A-Za-z0-9.\-:\[\]]+(/[A-Za-z0-9._~\-/]*)?$`)

// Build starts building an image (staff): a task, returned at once, whose
// progress the task's view shows.
func (s *Service) Build(ctx context.Context, p db.Principal, in BuildInput) (TaskView, error) {
	if err := policy.RequireOperator(p); err != nil {
		return TaskView{}, err
	}
	f := domain.FieldErrors{}
	r, ok := images.Recipes[in.Recipe]
	if !ok {
		f.Add("recipe", fmt.Sprintf("is not a recipe the panel knows: want one of %s", strings.Join(images.RecipeNames(), ", ")))
	}
	if in.Name == "" {
		in.Name = in.Recipe
	}
	policy.CheckTemplateName(f, "name", in.Name)
	mirror := in.Mirror
	if mirror == "" {
		mirror = s.Mirror
	}
	if in.Mirror != "" && !mirrorRE.MatchString(in.Mirror) {
		f.Add("mirror", "must be an http:// or https:// URL of a Debian archive")
	}
	if err := f.Err(); err != nil {
		return TaskView{}, err
	}
	if err := s.checkImageTarget(ctx, in.Name, "name"); err != nil {
		return TaskView{}, err
	}
	if mirror == "" {
		mirror = images.DefaultMirror()
	}
	params := map[string]any{"recipe": in.Recipe, "mirror": mirror}
	return s.startTask(ctx, p, "build", in.Name, params, func(ctx context.Context, work string, progress func(string)) (string, db.ImageMeta, string, error) {
		out := filepath.Join(work, "rootfs"+images.Ext(images.Zstd))
		if err := images.Build(ctx, r, images.BuildOptions{Mirror: mirror, WorkDir: work, Progress: progress}, out); err != nil {
			return "", db.ImageMeta{}, "", err
		}
		meta := db.ImageMeta{Distribution: r.Distribution, Release: r.Release, Arch: images.Arch(), Variant: r.Variant, Origin: "built"}
		return out, meta, r.Description, nil
	})
}

// ImportInput asks for a product of a simplestreams tree.
type ImportInput struct {
	// Source is the tree: an http(s) URL or a folder on the host.
	Source string
	// Product is the product id (debian:bookworm:amd64:default).
	Product string
	// Version is the product's version; the newest when empty.
	Version string
	// Name is the template to add it to (os-release when empty).
	Name string
}

// Products lists a simplestreams tree's images (staff).
func (s *Service) Products(ctx context.Context, p db.Principal, source string) ([]images.Product, error) {
	if err := policy.RequireOperator(p); err != nil {
		return nil, err
	}
	src, err := images.NewSource(source)
	if err != nil {
		return nil, domain.FieldErrors{"source": err.Error()}.Err()
	}
	list, err := src.Products(ctx)
	if err != nil {
		return nil, &domain.Error{Status: http.StatusBadGateway, Code: "bad_source",
			Message: "the simplestreams tree could not be read: " + err.Error(), Fields: map[string]string{"source": err.Error()}}
	}
	return list, nil
}

// Import starts importing a product of a simplestreams tree (staff): its
// files are downloaded, their sha256 checked against the index, the root
// file system checked, then it becomes a version of the template.
func (s *Service) Import(ctx context.Context, p db.Principal, in ImportInput) (TaskView, error) {
	if err := policy.RequireOperator(p); err != nil {
		return TaskView{}, err
	}
	f := domain.FieldErrors{}
	src, err := images.NewSource(in.Source)
	if err != nil {
		f.Add("source", err.Error())
	}
	if in.Product == "" {
		f.Add("product", "is required: a product id of the tree (GET /api/v1/image-sources?source=...)")
	}
	if in.Name != "" {
		// Checked with the others, not after the tree was read.
		policy.CheckTemplateName(f, "name", in.Name)
	}
	if err := f.Err(); err != nil {
		return TaskView{}, err
	}
	prod, err := src.Product(ctx, in.Product)
	switch {
	case errors.Is(err, images.ErrNoProduct):
		return TaskView{}, domain.FieldErrors{"product": err.Error()}.Err()
	case err != nil:
		return TaskView{}, &domain.Error{Status: http.StatusBadGateway, Code: "bad_source",
			Message: "the simplestreams tree could not be read: " + err.Error(), Fields: map[string]string{"source": err.Error()}}
	}
	var ver images.Version
	for _, v := range prod.Versions {
		if in.Version == "" || v.Version == in.Version {
			ver = v
			break
		}
	}
	if ver.Rootfs == nil {
		return TaskView{}, domain.FieldErrors{"version": fmt.Sprintf("product %s has no version %q with a root file system", prod.ID, in.Version)}.Err()
	}
	if familyOf(prod.OS) == "" {
		return TaskView{}, domain.FieldErrors{"product": fmt.Sprintf("is %s, a distribution the panel cannot set up (it knows Debian, Ubuntu, Alpine and the RHEL family)", prod.OS)}.Err()
	}
	if in.Name == "" {
		in.Name = strings.ToLower(prod.OS + "-" + prod.Release)
	}
	nf := domain.FieldErrors{}
	if policy.CheckTemplateName(nf, "name", in.Name); nf.Err() != nil {
		return TaskView{}, nf.Err()
	}
	if err := s.checkImageTarget(ctx, in.Name, "name"); err != nil {
		return TaskView{}, err
	}
	params := map[string]any{"source": src.String(), "product": prod.ID, "version": ver.Version}
	return s.startTask(ctx, p, "import", in.Name, params, func(ctx context.Context, work string, progress func(string)) (string, db.ImageMeta, string, error) {
		desc := fmt.Sprintf("%s %s (%s, %s) from %s", prod.OS, prod.Release, prod.Arch, prod.Variant, src.String())
		if ver.Meta != nil {
			progress("downloading " + ver.Meta.Path)
			mf := filepath.Join(work, "meta"+filepath.Ext(ver.Meta.Path))
			if err := src.Fetch(ctx, *ver.Meta, mf, nil); err != nil {
				return "", db.ImageMeta{}, "", err
			}
			md, err := images.ReadMetadata(mf)
			if err != nil {
				return "", db.ImageMeta{}, "", fmt.Errorf("the metadata tarball %s", err)
			}
			if d := md["description"]; d != "" {
				desc = d
			}
		}
		out := filepath.Join(work, "rootfs")
		err := src.Fetch(ctx, *ver.Rootfs, out, func(done int64) {
			progress(fmt.Sprintf("downloading %s: %d of %d MB", ver.Rootfs.Path, done>>20, ver.Rootfs.Size>>20))
		})
		if err != nil {
			return "", db.ImageMeta{}, "", err
		}
		meta := db.ImageMeta{Distribution: strings.ToLower(prod.OS), Release: prod.Release, Arch: prod.Arch, Variant: prod.Variant, Origin: "imported"}
		return out, meta, desc, nil
	})
}

// familyOf is the guest family of a simplestreams os name.
func familyOf(osName string) string {
	switch strings.ToLower(osName) {
	case "almalinux", "rockylinux", "centos", "fedora", "oracle", "rhel":
		return "rhel"
	}
	return images.Info{OSRelease: map[string]string{"ID": strings.ToLower(osName)}}.Family()
}

// checkImageTarget refuses adding a version to a template that is
// liblxc's script or an upload without versions.
func (s *Service) checkImageTarget(ctx context.Context, name, field string) error {
	t, err := s.Store.GetTemplate(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if t.Kind != "tarball" || t.Source != "" {
		return domain.ConflictField(field, "template %q is a single-file template (liblxc's script or an upload); give the image another name", name)
	}
	return nil
}

type produce func(ctx context.Context, work string, progress func(string)) (file string, meta db.ImageMeta, description string, err error)

// startTask records a task and runs it in the background: run makes the
// archive in a work folder of the image store; it is checked (a root file
// system: no escaping paths or device nodes, an init), hashed, moved into
// place and recorded as a new version.
func (s *Service) startTask(ctx context.Context, p db.Principal, kind, name string, params map[string]any, run produce) (TaskView, error) {
	if s.CacheDir == "" {
		return TaskView{}, errors.New("no template cache dir configured")
	}
	t, err := s.Store.InsertImageTask(ctx, kind, name, params, p.Actor())
	if errors.Is(err, db.ErrConflict) {
		return TaskView{}, domain.ConflictField("name", "a build or import of %q is running: wait for it", name)
	}
	if err != nil {
		return TaskView{}, err
	}
	s.audit(ctx, p, "image."+kind, map[string]any{"template": name, "task": t.ID, "params": params})
	bctx, ok := s.taskContext()
	if !ok {
		_ = s.Store.FinishImageTask(ctx, t.ID, "", errors.New("the panel is stopping"))
		return TaskView{}, errors.New("the panel is stopping")
	}
	go func() {
		defer s.bg.wg.Done()
		version, err := s.runTask(bctx, t, run)
		fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if ferr := s.Store.FinishImageTask(fctx, t.ID, version, err); ferr != nil {
			s.Log.Error("image task: recording its outcome", "task", t.ID, "err", ferr)
		}
		if err != nil {
			s.Log.Warn("image task failed", "task", t.ID, "kind", kind, "template", name, "err", err)
		} else {
			s.Log.Info("image task done", "task", t.ID, "kind", kind, "template", name, "version", version)
		}
	}()
	return taskView(t), nil
}

func (s *Service) runTask(ctx context.Context, t db.ImageTask, run produce) (string, error) {
	if err := os.MkdirAll(s.ImagesDir(), 0o700); err != nil {
		return "", err
	}
	work, err := os.MkdirTemp(s.ImagesDir(), "."+t.Kind+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	var last time.Time
	progress := func(msg string) {
		// Each step is recorded; the many lines of debootstrap and a
		// download's counts at most twice a second.
		chatty := strings.HasPrefix(msg, "debootstrap: ") || strings.HasPrefix(msg, "downloading ")
		if chatty && time.Since(last) < 500*time.Millisecond {
			return
		}
		last = time.Now()
		pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Store.SetImageTaskProgress(pctx, t.ID, msg)
	}
	file, meta, desc, err := run(ctx, work, progress)
	if err != nil {
		if diskspace.IsFull(err) {
			return "", fmt.Errorf("the image store (%s) is full: %w", s.ImagesDir(), err)
		}
		return "", err
	}
	progress("checking the root file system")
	return s.addVersion(ctx, t.Template, file, meta, desc)
}

// addVersion checks an archive, hashes it, moves it into the image store
// and records it as the template's newest version.
func (s *Service) addVersion(ctx context.Context, name, file string, meta db.ImageMeta, desc string) (string, error) {
	info, err := images.Check(file)
	if err != nil {
		return "", fmt.Errorf("the root file system %s", err)
	}
	if meta.Origin != "uploaded" && info.Family() == "" {
		return "", fmt.Errorf("the root file system is of an unknown distribution (os-release ID %q): the panel cannot set it up", info.OSRelease["ID"])
	}
	if meta.Distribution == "" {
		meta.Distribution = info.OSRelease["ID"]
	}
	if meta.Release == "" {
		meta.Release = info.OSRelease["VERSION_ID"]
	}
	sum, size, err := images.FileSHA256(file)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(s.ImagesDir(), name), 0o700); err != nil {
		return "", err
	}
	base := time.Now().UTC().Format("20060102-150405")
	for i := 0; i < 100; i++ {
		version := base
		if i > 0 {
			version = fmt.Sprintf("%s-%d", base, i+1)
		}
		rel := name + "/" + version + images.Ext(info.Format)
		dst := filepath.Join(s.ImagesDir(), filepath.FromSlash(rel))
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		if err := os.Rename(file, dst); err != nil {
			return "", err
		}
		if err := syncDir(filepath.Dir(dst)); err != nil {
			return "", err
		}
		_, err := s.Store.AddImageVersion(ctx, db.ImageVersion{Template: name, Version: version, File: rel, SHA256: sum,
			SizeBytes: size, Origin: meta.Origin}, meta, desc)
		if errors.Is(err, db.ErrConflict) {
			if rerr := os.Rename(dst, file); rerr != nil {
				return "", rerr
			}
			continue
		}
		if err != nil {
			os.Remove(dst)
			return "", err
		}
		return version, nil
	}
	return "", errors.New("no free version name")
}

// Task finds a build or import (staff).
func (s *Service) Task(ctx context.Context, p db.Principal, id string) (TaskView, error) {
	if err := policy.RequireOperator(p); err != nil {
		return TaskView{}, err
	}
	t, err := s.Store.GetImageTask(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return TaskView{}, domain.NotFound("image task %q does not exist", id)
	}
	if err != nil {
		return TaskView{}, err
	}
	return taskView(t), nil
}

// Tasks lists the latest builds and imports (staff).
func (s *Service) Tasks(ctx context.Context, p db.Principal) ([]TaskView, error) {
	if err := policy.RequireOperator(p); err != nil {
		return nil, err
	}
	list, err := s.Store.ListImageTasks(ctx, 50)
	if err != nil {
		return nil, err
	}
	out := make([]TaskView, 0, len(list))
	for _, t := range list {
		out = append(out, taskView(t))
	}
	return out, nil
}

// AddVersion stores an uploaded archive (.tar.gz, .tar.xz or .tar.zst) as
// a new version of template name (staff), made when missing.
func (s *Service) AddVersion(ctx context.Context, p db.Principal, name string, in Upload, body io.Reader) (View, string, error) {
	desc, err := checkUpload(p, name, in)
	if err != nil {
		return View{}, "", err
	}
	if err := s.checkImageTarget(ctx, name, "name"); err != nil {
		return View{}, "", err
	}
	if err := os.MkdirAll(s.ImagesDir(), 0o700); err != nil {
		return View{}, "", err
	}
	work, err := os.MkdirTemp(s.ImagesDir(), ".upload-")
	if err != nil {
		return View{}, "", err
	}
	defer os.RemoveAll(work)
	file := filepath.Join(work, "upload")
	if _, err := s.receiveTo(file, body); err != nil {
		return View{}, "", err
	}
	if _, err := images.Check(file); err != nil {
		return View{}, "", domain.FieldErrors{"body": err.Error()}.Err()
	}
	version, err := s.addVersion(ctx, name, file, db.ImageMeta{Origin: "uploaded"}, desc)
	if err != nil {
		return View{}, "", err
	}
	s.audit(ctx, p, "image.version.add", map[string]any{"template": name, "version": version})
	v, err := s.Get(ctx, p, name)
	return v, version, err
}

// DeleteVersion removes one version of an image (staff): refused while a
// container made from it may need it for a reinstall, and for the only
// version (delete the template instead).
func (s *Service) DeleteVersion(ctx context.Context, p db.Principal, name, version string) error {
	if err := policy.RequireOperator(p); err != nil {
		return err
	}
	vs, err := s.Store.ImageVersions(ctx, name)
	if err != nil {
		return err
	}
	var v *db.ImageVersion
	for i := range vs {
		if vs[i].Version == version {
			v = &vs[i]
		}
	}
	if v == nil {
		return domain.NotFound("image %q has no version %q", name, version)
	}
	if v.Containers > 0 {
		return domain.Conflict("version %s of %q is what %d container(s) were made from: reinstall them from a newer version first", version, name, v.Containers)
	}
	if len(vs) == 1 {
		return domain.Conflict("version %s is the only version of %q: delete the image instead", version, name)
	}
	if err := s.Store.DeleteImageVersion(ctx, name, version); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(s.ImagesDir(), filepath.FromSlash(v.File))); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.Log.Warn("image version file", "file", v.File, "err", err)
	}
	s.audit(ctx, p, "image.version.delete", map[string]any{"template": name, "version": version})
	return nil
}

// RecipeView is an image the panel builds.
type RecipeView struct {
	Name         string `json:"name"`
	Distribution string `json:"distribution"`
	Release      string `json:"release"`
	Description  string `json:"description"`
}

// RecipesView is the recipes and the archive they are built from.
type RecipesView struct {
	Recipes []RecipeView `json:"recipes"`
	Mirror  string       `json:"mirror"`
}

// Recipes lists the images the panel builds.
func (s *Service) Recipes() RecipesView {
	out := RecipesView{Recipes: []RecipeView{}, Mirror: s.Mirror}
	if out.Mirror == "" {
		out.Mirror = images.DefaultMirror()
	}
	for _, n := range images.RecipeNames() {
		r := images.Recipes[n]
		out.Recipes = append(out.Recipes, RecipeView{Name: r.Name, Distribution: r.Distribution, Release: r.Release, Description: r.Description})
	}
	return out
}
