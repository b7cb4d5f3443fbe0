// Package images is the image store's engine: root file system archives
// checked before use (.tar.gz, .tar.xz, .tar.zst), Debian images built
// from the distribution's signed archive with debootstrap, and images
// imported from a simplestreams tree (the index LXC's download template
// and Incus read), verified by sha256.
package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strings"

	"github.com/ctpanel/ctpanel/guestos"
)

// Compression formats of a root file system archive.
const (
	Gzip = "gz"
	XZ   = "xz"
	Zstd = "zst"
)

// Sniff says how a file is compressed, from its first bytes.
func Sniff(head []byte) (string, error) {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return Gzip, nil
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return XZ, nil
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Zstd, nil
	}
	return "", errors.New("is not gzip, xz or zstd-compressed: send a .tar.gz, .tar.xz or .tar.zst")
}

// Open decompresses an archive file; the format is sniffed.
func Open(file string) (io.ReadCloser, string, error) {
	fh, err := os.Open(file)
	if err != nil {
		return nil, "", err
	}
	br := bufio.NewReader(fh)
	head, _ := br.Peek(6)
	format, err := Sniff(head)
	if err != nil {
		fh.Close()
		return nil, "", err
	}
	switch format {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			fh.Close()
			return nil, "", fmt.Errorf("is not gzip-compressed: %v", err)
		}
		return readCloser{zr, func() error { zr.Close(); return fh.Close() }}, format, nil
	default:
		// xz and zstd through Debian's own tools (xz-utils, zstd), as
		// tar itself does.
		tool := map[string]string{XZ: "xz", Zstd: "zstd"}[format]
		cmd := exec.Command(tool, "-dc")
		cmd.Stdin = br
		out, err := cmd.StdoutPipe()
		if err != nil {
			fh.Close()
			return nil, "", err
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			fh.Close()
			return nil, "", fmt.Errorf("%s: %w", tool, err)
		}
		return readCloser{out, func() error {
			_ = out.Close()
			werr := cmd.Wait()
			fh.Close()
			if werr != nil && stderr.Len() > 0 {
				return fmt.Errorf("%s: %s", tool, strings.TrimSpace(stderr.String()))
			}
			return nil
		}}, format, nil
	}
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// Ext is the file name ending of a format.
func Ext(format string) string { return ".tar." + format }

// Info is what Check learned of a root file system archive.
type Info struct {
	Format  string
	Entries int
	// OSRelease is its /etc/os-release (or /usr/lib/os-release), parsed.
	OSRelease map[string]string
}

// Family is the guestos family its os-release names, "" if none known.
func (i Info) Family() string {
	ids := strings.Fields(i.OSRelease["ID"] + " " + i.OSRelease["ID_LIKE"])
	for _, id := range ids {
		switch id {
		case "debian", "ubuntu":
			return guestos.FamilyDebian
		case "rhel", "fedora", "centos":
			return guestos.FamilyRHEL
		case "alpine":
			return guestos.FamilyAlpine
		}
	}
	return ""
}

// Check reads a whole archive and says what keeps it from being a root
// file system a container can boot: not a known compression, not tar,
// corrupt, an entry or a hard link escaping the root, a device node, or
// no init and no shell.
func Check(file string) (Info, error) {
	rc, format, err := Open(file)
	if err != nil {
		return Info{}, err
	}
	info, err := checkTar(rc)
	info.Format = format
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("is corrupt: %v", cerr)
	}
	return info, err
}

func escapes(name string) bool {
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

func checkTar(r io.Reader) (Info, error) {
	tr := tar.NewReader(r)
	var info Info
	boots := false
	releases := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return info, fmt.Errorf("is not a readable tar archive after %d entries: %v", info.Entries, err)
		}
		info.Entries++
		if escapes(h.Name) {
			return info, fmt.Errorf("has an entry outside its root: %q", h.Name)
		}
		clean := path.Clean("/" + h.Name)
		switch h.Typeflag {
		case tar.TypeChar, tar.TypeBlock:
			return info, fmt.Errorf("has a device node: %q (a container's devices come from the panel, never from an image)", h.Name)
		case tar.TypeLink:
			if escapes(h.Linkname) {
				return info, fmt.Errorf("has a hard link outside its root: %q -> %q", h.Name, h.Linkname)
			}
		}
		switch clean {
		case "/sbin/init", "/usr/sbin/init", "/lib/systemd/systemd", "/usr/lib/systemd/systemd", "/bin/sh", "/usr/bin/sh":
			boots = true
		case "/etc/os-release", "/usr/lib/os-release":
			if h.Typeflag == tar.TypeReg {
				b, err := io.ReadAll(io.LimitReader(tr, 64<<10))
				if err != nil {
					return info, fmt.Errorf("is corrupt at %q: %v", h.Name, err)
				}
				releases[clean] = b
			} else if h.Typeflag == tar.TypeSymlink {
				// Debian's /etc/os-release -> ../usr/lib/os-release.
				releases[clean] = nil
			}
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return info, fmt.Errorf("is corrupt at %q: %v", h.Name, err)
		}
	}
	if info.Entries == 0 {
		return info, errors.New("is an empty tar archive")
	}
	if !boots {
		return info, errors.New("is not a root file system: it has no init (/sbin/init, systemd) and no /bin/sh")
	}
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if b := releases[p]; b != nil {
			info.OSRelease = guestos.ParseOSRelease(b)
			break
		}
	}
	return info, nil
}

// FileSHA256 is a file's sha256 in hex and its size.
func FileSHA256(file string) (string, int64, error) {
	fh, err := os.Open(file)
	if err != nil {
		return "", 0, err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// readTarFile reads one file of a tar stream by its name (with or without
// a leading "./").
func readTarFile(r io.Reader, name string, limit int64) ([]byte, error) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("has no %s", name)
		}
		if err != nil {
			return nil, fmt.Errorf("is not a readable tar archive: %v", err)
		}
		if strings.TrimPrefix(path.Clean(h.Name), "./") == name && h.Typeflag == tar.TypeReg {
			return io.ReadAll(io.LimitReader(tr, limit))
		}
	}
}
