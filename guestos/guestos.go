// Package guestos is what the panel writes into a guest's own files at
// first boot and after every change, per distribution family: hostname
// and /etc/hosts, the container's addresses, gateways and nameservers in
// the guest's network configuration (ifupdown, systemd-networkd, netplan,
// RHEL ifcfg or NetworkManager keyfiles), a fresh machine-id and SSH host
// keys of its own. vzctl's dists/scripts and Proxmox's PVE::LXC::Setup do
// the same job.
//
// Everything goes through FS, which the ops layer backs with the driver's
// safe in-root writer (a symlink planted by the guest cannot point a write
// at the host). What the panel writes into a file the guest shares with
// its owner sits between Begin and End lines, so edits outside them
// survive; a file next to which .ctpanel-ignore.<name> exists is not
// written at all.
package guestos

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"strings"
)

// Marker lines around the panel's section of a file.
const (
	Begin = "# BEGIN ctpanel: written by the panel; edits between these lines are replaced"
	End   = "# END ctpanel"
)

// IgnorePrefix, followed by a file's name in the same folder, keeps the
// panel from writing that file.
const IgnorePrefix = ".ctpanel-ignore."

// FS is a guest's root file system. Paths are absolute inside the guest.
type FS interface {
	// ReadFile reads a file; a missing one is an error wrapping
	// fs.ErrNotExist. Reading a directory is an error of another kind.
	ReadFile(p string) ([]byte, error)
	WriteFile(p string, data []byte, perm uint32) error
}

// Exists reports whether p is in the guest (a file, folder or link).
func Exists(f FS, p string) (bool, error) {
	_, err := f.ReadFile(p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		// A folder, or a file we may not read: it is there.
		return true, nil
	}
}

// Network backends the panel can write.
const (
	NetIfupdown = "ifupdown"   // /etc/network/interfaces (Debian, Ubuntu before netplan, Alpine)
	NetNetworkd = "networkd"   // /etc/systemd/network/*.network
	NetNetplan  = "netplan"    // /etc/netplan/*.yaml (Ubuntu)
	NetIfcfg    = "ifcfg"      // /etc/sysconfig/network-scripts/ifcfg-* (RHEL 8, CentOS 7)
	NetKeyfile  = "nm-keyfile" // /etc/NetworkManager/system-connections (RHEL 9, Fedora)
)

// Families the panel knows.
const (
	FamilyDebian = "debian"
	FamilyRHEL   = "rhel"
	FamilyAlpine = "alpine"
)

// OS is what Detect found in a guest.
type OS struct {
	// ID and VersionID are os-release's (debian, 12).
	ID, VersionID string
	// Family is one of the Family constants.
	Family string
	// Network is the backend its network files are written for.
	Network string
}

// String is "debian 12 (networkd)".
func (o OS) String() string {
	return strings.TrimSpace(o.ID+" "+o.VersionID) + " (" + o.Network + ")"
}

// ErrUnknown is what Detect says of a guest the panel writes nothing into.
var ErrUnknown = errors.New("unknown distribution")

// ParseOSRelease reads os-release(5) lines into a map, quotes removed.
func ParseOSRelease(b []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
			v = strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\$`, `$`, "\\`", "`").Replace(v)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out
}

// Detect reads the guest's os-release and looks for its network tools.
// A guest of no family the panel knows is ErrUnknown, with what it is.
func Detect(f FS) (OS, error) {
	var raw []byte
	var err error
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if raw, err = f.ReadFile(p); err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return OS{}, fmt.Errorf("read %s: %w", p, err)
		}
	}
	if raw == nil {
		return OS{}, fmt.Errorf("%w: the image has no /etc/os-release", ErrUnknown)
	}
	rel := ParseOSRelease(raw)
	o := OS{ID: rel["ID"], VersionID: rel["VERSION_ID"]}
	like := strings.Fields(o.ID + " " + rel["ID_LIKE"])
	has := func(ids ...string) bool {
		for _, id := range ids {
			for _, l := range like {
				if l == id {
					return true
				}
			}
		}
		return false
	}
	exists := func(paths ...string) bool {
		for _, p := range paths {
			if ok, _ := Exists(f, p); ok {
				return true
			}
		}
		return false
	}
	networkd := exists("/lib/systemd/systemd-networkd", "/usr/lib/systemd/systemd-networkd")
	switch {
	case has("alpine"):
		o.Family, o.Network = FamilyAlpine, NetIfupdown
	case has("debian", "ubuntu"):
		o.Family = FamilyDebian
		switch {
		case exists("/usr/sbin/netplan", "/usr/share/netplan"):
			o.Network = NetNetplan
		case exists("/sbin/ifup", "/usr/sbin/ifup"):
			o.Network = NetIfupdown
		case networkd:
			o.Network = NetNetworkd
		}
	case has("rhel", "fedora", "centos"):
		o.Family = FamilyRHEL
		switch {
		case exists("/etc/sysconfig/network-scripts/ifup-eth", "/usr/sbin/ifup", "/sbin/ifup"):
			o.Network = NetIfcfg
		case exists("/usr/sbin/NetworkManager"):
			o.Network = NetKeyfile
		case networkd:
			o.Network = NetNetworkd
		}
	default:
		return o, fmt.Errorf("%w: %q (os-release ID)", ErrUnknown, o.ID)
	}
	if o.Network == "" {
		return o, fmt.Errorf("%w: %s %s has no network configuration the panel can write (no ifupdown, netplan, NetworkManager or systemd-networkd)", ErrUnknown, o.ID, o.VersionID)
	}
	return o, nil
}

// Config is what the guest must be told.
type Config struct {
	Hostname string
	// Interface is the guest's name for its network interface (eth0).
	Interface string
	// Addresses are the guest's addresses with their prefix: /32 and
	// /128 on a routed interface, the pool's prefix on a bridged one.
	Addresses []netip.Prefix
	// Gateway4 and Gateway6 are the default routes' next hops; an
	// invalid one means none of that family.
	Gateway4, Gateway6 netip.Addr
	Nameservers        []netip.Addr
}

// onLink4 says whether the IPv4 gateway is outside every IPv4 address's
// prefix: the routed mode's 169.254.0.1, reached by a link route.
func (c Config) onLink4() bool {
	if !c.Gateway4.IsValid() {
		return false
	}
	for _, p := range c.Addresses {
		if p.Addr().Is4() && p.Bits() < 32 && p.Masked().Contains(c.Gateway4) {
			return false
		}
	}
	return true
}

func (c Config) v4() []netip.Prefix { return c.family(true) }
func (c Config) v6() []netip.Prefix { return c.family(false) }

func (c Config) family(v4 bool) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range c.Addresses {
		if p.Addr().Is4() == v4 {
			out = append(out, p)
		}
	}
	return out
}

// Result says what Apply wrote and what it left alone.
type Result struct {
	Written []string
	Skipped []string // a .ctpanel-ignore file asked for it
	Notes   []string
}

// writer writes a guest's files, respecting ignore files.
type writer struct {
	fs  FS
	res *Result
}

// ignored says whether the guest asked the panel to leave p alone.
func (w *writer) ignored(p string) (bool, error) {
	ok, err := Exists(w.fs, path.Join(path.Dir(p), IgnorePrefix+path.Base(p)))
	if ok {
		w.res.Skipped = append(w.res.Skipped, p)
	}
	return ok, err
}

// whole writes the whole of p.
func (w *writer) whole(p string, data []byte, perm uint32) error {
	if skip, err := w.ignored(p); skip || err != nil {
		return err
	}
	if err := w.fs.WriteFile(p, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	w.res.Written = append(w.res.Written, p)
	return nil
}

// section writes body between the markers of p, keeping what is outside
// them; with body empty the section goes. A missing file starts from
// initial.
func (w *writer) section(p, body, initial string, perm uint32) error {
	if skip, err := w.ignored(p); skip || err != nil {
		return err
	}
	old, err := w.fs.ReadFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		old = []byte(initial)
	case err != nil:
		return fmt.Errorf("read %s: %w", p, err)
	}
	next := ReplaceSection(string(old), body)
	if next == string(old) {
		return nil
	}
	if err := w.fs.WriteFile(p, []byte(next), perm); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	w.res.Written = append(w.res.Written, p)
	return nil
}

// ReplaceSection puts body between the markers in text: in place of the
// old section, or appended when there is none. An empty body removes the
// section. Everything outside the markers is kept as it is.
func ReplaceSection(text, body string) string {
	lines := strings.SplitAfter(text, "\n")
	var before, after []string
	state := 0 // 0 before the section, 1 in it, 2 after it
	for _, l := range lines {
		if l == "" {
			continue
		}
		t := strings.TrimRight(l, "\n")
		switch {
		case state == 0 && t == Begin:
			state = 1
		case state == 1 && t == End:
			state = 2
		case state == 0:
			before = append(before, l)
		case state == 2:
			after = append(after, l)
		}
	}
	var b strings.Builder
	for _, l := range before {
		b.WriteString(l)
	}
	if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
		b.WriteString("\n")
	}
	if body != "" {
		b.WriteString(Begin + "\n")
		b.WriteString(body)
		if !strings.HasSuffix(body, "\n") {
			b.WriteString("\n")
		}
		b.WriteString(End + "\n")
	}
	for _, l := range after {
		b.WriteString(l)
	}
	return b.String()
}

// Apply writes hostname, hosts, resolver and network configuration for o.
func Apply(f FS, o OS, c Config) (Result, error) {
	var res Result
	w := &writer{fs: f, res: &res}
	if c.Interface == "" {
		c.Interface = "eth0"
	}
	if err := w.identity(c); err != nil {
		return res, err
	}
	var err error
	switch o.Network {
	case NetIfupdown:
		err = w.ifupdown(c, o.Family == FamilyAlpine)
	case NetNetworkd:
		err = w.networkd(c)
	case NetNetplan:
		err = w.netplan(c)
	case NetIfcfg:
		err = w.ifcfg(c)
	case NetKeyfile:
		err = w.keyfile(c)
	default:
		return res, fmt.Errorf("no writer for network backend %q", o.Network)
	}
	return res, err
}

// identity writes /etc/hostname, the section of /etc/hosts and
// resolv.conf (when there are nameservers).
func (w *writer) identity(c Config) error {
	if c.Hostname != "" {
		if err := w.whole("/etc/hostname", []byte(c.Hostname+"\n"), 0o644); err != nil {
			return err
		}
		short, _, _ := strings.Cut(c.Hostname, ".")
		names := c.Hostname
		if short != c.Hostname {
			names += " " + short
		}
		body := "127.0.1.1\t" + names + "\n"
		for _, fam := range [][]netip.Prefix{c.v4(), c.v6()} {
			if len(fam) > 0 {
				body += fam[0].Addr().String() + "\t" + names + "\n"
			}
		}
		initial := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		if err := w.section("/etc/hosts", body, initial, 0o644); err != nil {
			return err
		}
	}
	if len(c.Nameservers) > 0 {
		var b strings.Builder
		for _, ns := range c.Nameservers {
			b.WriteString("nameserver " + ns.String() + "\n")
		}
		// A whole file: a systemd-resolved stub link is replaced by it.
		if err := w.whole("/etc/resolv.conf", []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
