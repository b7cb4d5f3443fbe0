package images

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tree writes a small root file system into dir.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// pack tars dir with GNU tar and the given compression flag.
func pack(t *testing.T, dir, flag, ext string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "rootfs"+ext)
	if b, err := exec.Command("tar", "--numeric-owner", flag, "-C", dir, "-cf", out, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar %s: %v: %s", flag, err, b)
	}
	return out
}

// Each format the image store takes is read through and its os-release
// found; the compression is sniffed, not taken from the name.
func TestCheckFormats(t *testing.T) {
	for _, tool := range []string{"tar", "xz", "zstd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: make test installs it", tool)
		}
	}
	dir := tree(t, map[string]string{"sbin/init": "#!", "usr/lib/os-release": "ID=alpine\nVERSION_ID=3.20.0\n"})
	// As Debian has it: /etc/os-release a link to /usr/lib/os-release.
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../usr/lib/os-release", filepath.Join(dir, "etc/os-release")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ flag, ext, format string }{{"-z", ".tar.gz", Gzip}, {"-J", ".tar.xz", XZ}, {"--zstd", ".tar.zst", Zstd}, {"--zstd", ".bin", Zstd}} {
		info, err := Check(pack(t, dir, c.flag, c.ext))
		if err != nil {
			t.Fatalf("%s: %v", c.ext, err)
		}
		if info.Format != c.format || info.OSRelease["ID"] != "alpine" || info.Family() != "alpine" {
			t.Errorf("%s: %+v", c.ext, info)
		}
	}
}

func TestCheckRefuses(t *testing.T) {
	noInit := tree(t, map[string]string{"etc/motd": "hi"})
	if _, err := Check(pack(t, noInit, "-J", ".tar.xz")); err == nil || !strings.Contains(err.Error(), "no init") {
		t.Errorf("no init: %v", err)
	}
	garbage := filepath.Join(t.TempDir(), "x.tar.zst")
	os.WriteFile(garbage, []byte("plain text"), 0o644)
	if _, err := Check(garbage); err == nil || !strings.Contains(err.Error(), "not gzip, xz or zstd") {
		t.Errorf("garbage: %v", err)
	}
	// A zstd stream cut short is corrupt, not a smaller root.
	good := pack(t, tree(t, map[string]string{"sbin/init": strings.Repeat("#", 100000)}), "--zstd", ".tar.zst")
	b, _ := os.ReadFile(good)
	cut := filepath.Join(t.TempDir(), "cut.tar.zst")
	os.WriteFile(cut, b[:len(b)/2], 0o644)
	if _, err := Check(cut); err == nil {
		t.Error("a truncated archive passed")
	}
}

func TestMirrorFrom(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "debian.sources"), []byte("Types: deb\nURIs: http://mirror.example.net/debian\nSuites: bookworm\nComponents: main\n\nTypes: deb\nURIs: http://security.debian.org/debian-security\nSuites: bookworm-security\n"), 0o644)
	if m := mirrorFrom(dir, filepath.Join(dir, "none")); m != "http://mirror.example.net/debian" {
		t.Errorf("deb822: %q", m)
	}
	list := filepath.Join(t.TempDir(), "sources.list")
	os.WriteFile(list, []byte("# x\ndeb [arch=amd64 signed-by=/k.gpg] http://ftp.example.org/debian/ bookworm main\n"), 0o644)
	if m := mirrorFrom(t.TempDir(), list); m != "http://ftp.example.org/debian" {
		t.Errorf("one-line: %q", m)
	}
}
