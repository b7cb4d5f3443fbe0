package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// A simplestreams tree (the format of images.linuxcontainers.org and of
// Incus's image servers): streams/v1/index.json names product files of
// datatype image-downloads; each product (os:release:arch:variant) has
// versions (build dates), each with items (files) giving path, size and
// sha256. An LXC/Incus split image is a metadata tarball (lxd.tar.xz,
// incus.tar.xz or meta.tar.xz) plus a root file system tarball
// (root.tar.xz, rootfs.tar.xz).

// Product is one image of a simplestreams tree.
type Product struct {
	ID           string    `json:"id"`
	OS           string    `json:"os"`
	Release      string    `json:"release"`
	Arch         string    `json:"arch"`
	Variant      string    `json:"variant"`
	ReleaseTitle string    `json:"release_title,omitempty"`
	Aliases      string    `json:"aliases,omitempty"`
	Versions     []Version `json:"versions"`
}

// Version is one build of a product, with its files.
type Version struct {
	Version string `json:"version"`
	// Rootfs is its root file system tarball; Meta its metadata tarball
	// (nil when it has none).
	Rootfs *Item `json:"rootfs"`
	Meta   *Item `json:"meta,omitempty"`
}

// Item is one file of a version.
type Item struct {
	FType  string `json:"ftype"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Newest is the product's latest version that has a root file system.
func (p Product) Newest() (Version, bool) {
	if len(p.Versions) == 0 {
		return Version{}, false
	}
	return p.Versions[0], true
}

var rootfsTypes = []string{"root.tar.xz", "rootfs.tar.xz", "root.tar.gz", "rootfs.tar.gz", "root.tar.zst", "rootfs.tar.zst"}
var metaTypes = []string{"lxd.tar.xz", "incus.tar.xz", "meta.tar.xz"}

type ssIndex struct {
	Format string `json:"format"`
	Index  map[string]struct {
		Datatype string   `json:"datatype"`
		Path     string   `json:"path"`
		Format   string   `json:"format"`
		Products []string `json:"products"`
	} `json:"index"`
}

type ssProducts struct {
	Format   string `json:"format"`
	Products map[string]struct {
		OS           string `json:"os"`
		Release      string `json:"release"`
		ReleaseTitle string `json:"release_title"`
		Arch         string `json:"arch"`
		Variant      string `json:"variant"`
		Aliases      string `json:"aliases"`
		Versions     map[string]struct {
			Items map[string]ssItem `json:"items"`
		} `json:"versions"`
	} `json:"products"`
}

type ssItem struct {
	FType  string `json:"ftype"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Source is a simplestreams tree: an http(s) URL or a local folder.
type Source struct {
	base   string // URL or folder, no trailing slash
	remote bool
	Client *http.Client
}

// NewSource checks where a tree is: http://, https://, file:// or an
// absolute folder.
func NewSource(where string) (*Source, error) {
	where = strings.TrimSpace(where)
	if where == "" {
		return nil, errors.New("is empty: give the tree's URL or folder")
	}
	if u, err := url.Parse(where); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		if u.Host == "" {
			return nil, errors.New("has no host")
		}
		return &Source{base: strings.TrimRight(where, "/"), remote: true,
			Client: &http.Client{Timeout: 30 * time.Minute}}, nil
	}
	where = strings.TrimPrefix(where, "file://")
	if !filepath.IsAbs(where) {
		return nil, errors.New("is neither an http(s) URL nor an absolute folder")
	}
	if fi, err := os.Stat(where); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("is no folder on this host: %s", where)
	}
	return &Source{base: filepath.Clean(where)}, nil
}

// String is where the tree is.
func (s *Source) String() string { return s.base }

// open reads a file of the tree by its relative path.
func (s *Source) open(ctx context.Context, rel string) (io.ReadCloser, error) {
	clean := path.Clean("/" + rel)
	if strings.Contains(rel, "..") || clean == "/" {
		return nil, fmt.Errorf("simplestreams path %q leaves the tree", rel)
	}
	if !s.remote {
		return os.Open(filepath.Join(s.base, filepath.FromSlash(clean)))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+clean, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", s.base+clean, resp.Status)
	}
	return resp.Body, nil
}

func (s *Source) readJSON(ctx context.Context, rel string, v any) error {
	rc, err := s.open(ctx, rel)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := json.NewDecoder(io.LimitReader(rc, 64<<20)).Decode(v); err != nil {
		return fmt.Errorf("%s is not simplestreams JSON: %v", rel, err)
	}
	return nil
}

// Products lists every image of the tree's image-downloads product
// files, each with its versions newest first; versions without a root
// file system tarball are left out.
func (s *Source) Products(ctx context.Context) ([]Product, error) {
	var idx ssIndex
	if err := s.readJSON(ctx, "streams/v1/index.json", &idx); err != nil {
		return nil, err
	}
	if idx.Format != "index:1.0" {
		return nil, fmt.Errorf("streams/v1/index.json has format %q, want index:1.0", idx.Format)
	}
	var out []Product
	for _, entry := range sortedKeys(idx.Index) {
		e := idx.Index[entry]
		if e.Datatype != "image-downloads" {
			continue
		}
		var ps ssProducts
		if err := s.readJSON(ctx, e.Path, &ps); err != nil {
			return nil, err
		}
		for _, id := range sortedKeys(ps.Products) {
			p := ps.Products[id]
			prod := Product{ID: id, OS: p.OS, Release: p.Release, Arch: p.Arch, Variant: p.Variant,
				ReleaseTitle: p.ReleaseTitle, Aliases: p.Aliases}
			vers := sortedKeys(p.Versions)
			slices.Reverse(vers)
			for _, v := range vers {
				ver := Version{Version: v}
				items := p.Versions[v].Items
				for _, name := range sortedKeys(items) {
					it := items[name]
					item := &Item{FType: it.FType, Path: it.Path, SHA256: strings.ToLower(it.SHA256), Size: it.Size}
					switch {
					case slices.Contains(rootfsTypes, it.FType) && ver.Rootfs == nil:
						ver.Rootfs = item
					case slices.Contains(metaTypes, it.FType) && ver.Meta == nil:
						ver.Meta = item
					}
				}
				if ver.Rootfs != nil {
					prod.Versions = append(prod.Versions, ver)
				}
			}
			if len(prod.Versions) > 0 {
				out = append(out, prod)
			}
		}
	}
	return out, nil
}

// Product finds one product by id.
func (s *Source) Product(ctx context.Context, id string) (Product, error) {
	list, err := s.Products(ctx)
	if err != nil {
		return Product{}, err
	}
	for _, p := range list {
		if p.ID == id {
			return p, nil
		}
	}
	return Product{}, fmt.Errorf("%w: the tree has no product %q", ErrNoProduct, id)
}

// ErrNoProduct is a product id the tree does not list.
var ErrNoProduct = errors.New("no such product")

// ErrChecksum is a download whose sha256 is not the one the index gives.
var ErrChecksum = errors.New("sha256 mismatch")

// Fetch copies an item of the tree into dst, checking its size and
// sha256 against the index; on a mismatch dst is removed and the error
// wraps ErrChecksum.
func (s *Source) Fetch(ctx context.Context, it Item, dst string, progress func(done int64)) (err error) {
	if len(it.SHA256) != 64 {
		return fmt.Errorf("%s: the index gives no sha256 for it: refused", it.Path)
	}
	rc, err := s.open(ctx, it.Path)
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	h := sha256.New()
	var n int64
	buf := make([]byte, 1<<20)
	last := time.Now()
	for {
		k, rerr := rc.Read(buf)
		if k > 0 {
			if _, err := out.Write(buf[:k]); err != nil {
				return err
			}
			h.Write(buf[:k])
			n += int64(k)
			if it.Size > 0 && n > it.Size {
				return fmt.Errorf("%s: %w: longer than the %d bytes the index gives", it.Path, ErrChecksum, it.Size)
			}
			if progress != nil && time.Since(last) > time.Second {
				progress(n)
				last = time.Now()
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return rerr
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if it.Size > 0 && n != it.Size {
		return fmt.Errorf("%s: %w: %d bytes, the index gives %d", it.Path, ErrChecksum, n, it.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != it.SHA256 {
		return fmt.Errorf("%s: %w: the file's sha256 is %s, the index gives %s", it.Path, ErrChecksum, got, it.SHA256)
	}
	return out.Sync()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ReadMetadata reads metadata.yaml's flat "key: value" lines from a split
// image's metadata tarball: architecture, creation_date and the
// properties (os, release, variant, description).
func ReadMetadata(file string) (map[string]string, error) {
	rc, _, err := Open(file)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := readTarFile(rc, "metadata.yaml", 1<<20)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		k, v, ok := strings.Cut(t, ":")
		if !ok || strings.HasPrefix(t, "#") || strings.HasPrefix(t, "-") {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		if v != "" {
			out[strings.TrimSpace(k)] = v
		}
	}
	return out, nil
}
