package guestos

import (
	"io/fs"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// memFS is a guest's root in memory: files, and folders as entries
// ending in "/".
type memFS map[string]string

func (m memFS) ReadFile(p string) ([]byte, error) {
	if v, ok := m[p]; ok {
		return []byte(v), nil
	}
	for k := range m {
		if strings.HasPrefix(k, p+"/") {
			return nil, &fs.PathError{Op: "read", Path: p, Err: errIsDir}
		}
	}
	return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
}

var errIsDir = fs.ErrInvalid

func (m memFS) WriteFile(p string, data []byte, _ uint32) error {
	m[p] = string(data)
	return nil
}

func osRelease(id, like, version string) string {
	return "PRETTY_NAME=\"x\"\nID=" + id + "\nID_LIKE=\"" + like + "\"\nVERSION_ID=\"" + version + "\"\n"
}

// The fixture trees: what each family's image has that Detect looks at.
func fixtures() map[string]memFS {
	return map[string]memFS{
		"debian-ifupdown": {"/etc/os-release": osRelease("debian", "", "12"), "/sbin/ifup": "elf",
			"/etc/network/interfaces": "# customer's own\nsource /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n",
			"/etc/hosts":              "127.0.0.1 localhost\n10.9.9.9 customer-box\n"},
		"debian-networkd": {"/etc/os-release": osRelease("debian", "", "12"), "/lib/systemd/systemd-networkd": "elf",
			"/etc/systemd/network/eth0.network": "[Match]\nName=eth0\n[Network]\nDHCP=yes\n"},
		"ubuntu-netplan": {"/etc/os-release": osRelease("ubuntu", "debian", "24.04"), "/usr/sbin/netplan": "py",
			"/lib/systemd/systemd-networkd": "elf", "/etc/netplan/10-lxc.yaml": "network: {version: 2}\n"},
		"alma-8-ifcfg": {"/etc/os-release": osRelease("almalinux", "rhel centos fedora", "8.10"),
			"/etc/sysconfig/network-scripts/ifup-eth": "sh", "/usr/sbin/NetworkManager": "elf"},
		"alma-9-keyfile": {"/etc/os-release": osRelease("almalinux", "rhel centos fedora", "9.4"), "/usr/sbin/NetworkManager": "elf"},
		"alpine": {"/etc/os-release": osRelease("alpine", "", "3.20.0"), "/sbin/ifup": "busybox"},
	}
}

func routed() Config {
	return Config{
		Hostname:    "vps1.example.com",
		Addresses:   []netip.Prefix{netip.MustParsePrefix("198.18.4.2/32"), netip.MustParsePrefix("2001:db8:4::1/64")},
		Gateway4:    netip.MustParseAddr("169.254.0.1"),
		Gateway6:    netip.MustParseAddr("fe80::1"),
		Nameservers: []netip.Addr{netip.MustParseAddr("198.18.4.53"), netip.MustParseAddr("2001:db8:4::53")},
	}
}

// Each family: detected as what it is, and the files it reads written
// with the addresses, gateways and nameservers.
func TestWritersPerFamily(t *testing.T) {
	want := map[string]struct {
		network string
		files   map[string][]string // file: lines it must hold
	}{
		"debian-ifupdown": {NetIfupdown, map[string][]string{"/etc/network/interfaces": {
			"iface eth0 inet static", "address 198.18.4.2/32", "up ip route add 169.254.0.1 dev eth0",
			"up ip route add default via 169.254.0.1 dev eth0", "iface eth0 inet6 static", "address 2001:db8:4::1/64",
			"up ip -6 route add default via fe80::1 dev eth0", "source /etc/network/interfaces.d/*"}}},
		"debian-networkd": {NetNetworkd, map[string][]string{"/etc/systemd/network/10-ctpanel-eth0.network": {
			"Name=eth0", "Address=198.18.4.2/32", "Address=2001:db8:4::1/64", "Gateway=169.254.0.1", "GatewayOnLink=yes",
			"Gateway=fe80::1", "DNS=198.18.4.53"}}},
		"ubuntu-netplan": {NetNetplan, map[string][]string{"/etc/netplan/90-ctpanel.yaml": {
			`- "198.18.4.2/32"`, `via: "169.254.0.1"`, "on-link: true", `- "2001:db8:4::53"`}}},
		"alma-8-ifcfg": {NetIfcfg, map[string][]string{
			"/etc/sysconfig/network-scripts/ifcfg-eth0":  {"IPADDR0=198.18.4.2", "PREFIX0=32", "IPV6ADDR=2001:db8:4::1/64", "IPV6_DEFAULTGW=fe80::1%eth0", "DNS1=198.18.4.53"},
			"/etc/sysconfig/network-scripts/route-eth0": {"169.254.0.1 dev eth0 scope link", "default via 169.254.0.1 dev eth0"}}},
		"alma-9-keyfile": {NetKeyfile, map[string][]string{"/etc/NetworkManager/system-connections/ctpanel-eth0.nmconnection": {
			"method=manual", "address1=198.18.4.2/32", "route2=0.0.0.0/0,169.254.0.1", "address1=2001:db8:4::1/64", "gateway=fe80::1", "dns=198.18.4.53;"}}},
		"alpine": {NetIfupdown, map[string][]string{"/etc/network/interfaces": {"address 198.18.4.2/32", "auto lo"}}},
	}
	for name, tree := range fixtures() {
		t.Run(name, func(t *testing.T) {
			o, err := Detect(tree)
			if err != nil {
				t.Fatal(err)
			}
			w := want[name]
			if o.Network != w.network {
				t.Fatalf("detected %v, want network %s", o, w.network)
			}
			if _, err := Apply(tree, o, routed()); err != nil {
				t.Fatal(err)
			}
			for file, lines := range w.files {
				got := tree[file]
				for _, l := range lines {
					if !strings.Contains(got, l) {
						t.Errorf("%s lacks %q:\n%s", file, l, got)
					}
				}
				if strings.Count(got, Begin) != 1 || strings.Count(got, End) != 1 {
					t.Errorf("%s: want one marked section:\n%s", file, got)
				}
			}
			if tree["/etc/hostname"] != "vps1.example.com\n" {
				t.Errorf("hostname: %q", tree["/etc/hostname"])
			}
			if h := tree["/etc/hosts"]; !strings.Contains(h, "127.0.1.1\tvps1.example.com vps1\n") || !strings.Contains(h, "198.18.4.2\tvps1.example.com vps1\n") || !strings.Contains(h, "localhost") {
				t.Errorf("hosts: %q", h)
			}
			if r := tree["/etc/resolv.conf"]; r != "nameserver 198.18.4.53\nnameserver 2001:db8:4::53\n" {
				t.Errorf("resolv.conf: %q", r)
			}

			// Idempotent: a second run changes nothing.
			before := maps.Clone(tree)
			if _, err := Apply(tree, o, routed()); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(before, tree) {
				t.Error("a second Apply changed the tree")
			}

			// The customer's edits outside the markers survive a change.
			for file := range w.files {
				tree[file] = "# mine, above\n" + tree[file] + "# mine, below\n"
			}
			c := routed()
			c.Addresses[0] = netip.MustParsePrefix("198.18.4.3/32")
			if _, err := Apply(tree, o, c); err != nil {
				t.Fatal(err)
			}
			for file := range w.files {
				got := tree[file]
				if !strings.HasPrefix(got, "# mine, above\n") || !strings.HasSuffix(got, "# mine, below\n") {
					t.Errorf("%s lost the customer's lines:\n%s", file, got)
				}
				if strings.Contains(got, "198.18.4.2") {
					t.Errorf("%s still has the old address:\n%s", file, got)
				}
			}
		})
	}
}

// The customer's own lines in a shared file are kept on the first write.
func TestSectionKeepsOwnLines(t *testing.T) {
	tree := fixtures()["debian-ifupdown"]
	o, _ := Detect(tree)
	if _, err := Apply(tree, o, routed()); err != nil {
		t.Fatal(err)
	}
	if got := tree["/etc/network/interfaces"]; !strings.HasPrefix(got, "# customer's own\nsource /etc/network/interfaces.d/*\n") {
		t.Errorf("interfaces: %q", got)
	}
	if got := tree["/etc/hosts"]; !strings.HasPrefix(got, "127.0.0.1 localhost\n10.9.9.9 customer-box\n") {
		t.Errorf("hosts: %q", got)
	}
}

// A .ctpanel-ignore.<file> keeps the panel out of that file only.
func TestIgnoreFiles(t *testing.T) {
	tree := fixtures()["debian-networkd"]
	tree["/etc/systemd/network/.ctpanel-ignore.10-ctpanel-eth0.network"] = ""
	tree["/etc/.ctpanel-ignore.hosts"] = ""
	tree["/etc/hosts"] = "mine\n"
	o, _ := Detect(tree)
	res, err := Apply(tree, o, routed())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tree["/etc/systemd/network/10-ctpanel-eth0.network"]; ok {
		t.Error("an ignored network file was written")
	}
	if tree["/etc/hosts"] != "mine\n" {
		t.Errorf("an ignored hosts was written: %q", tree["/etc/hosts"])
	}
	if tree["/etc/hostname"] != "vps1.example.com\n" {
		t.Error("hostname, not ignored, was not written")
	}
	if !slices.Contains(res.Skipped, "/etc/hosts") || !slices.Contains(res.Skipped, "/etc/systemd/network/10-ctpanel-eth0.network") {
		t.Errorf("skipped: %v", res.Skipped)
	}
}

// A bridged container: the pool's prefix and an on-link gateway.
func TestBridgedGateway(t *testing.T) {
	tree := fixtures()["debian-ifupdown"]
	o, _ := Detect(tree)
	c := Config{Hostname: "b", Addresses: []netip.Prefix{netip.MustParsePrefix("198.18.9.10/24")}, Gateway4: netip.MustParseAddr("198.18.9.1")}
	if _, err := Apply(tree, o, c); err != nil {
		t.Fatal(err)
	}
	got := tree["/etc/network/interfaces"]
	if !strings.Contains(got, "address 198.18.9.10/24\n\tgateway 198.18.9.1\n") || strings.Contains(got, "ip route add") {
		t.Errorf("bridged interfaces:\n%s", got)
	}
}

func TestUnknownDistribution(t *testing.T) {
	for name, tree := range map[string]memFS{
		"no os-release": {"/bin/sh": "busybox"},
		"gentoo":        {"/etc/os-release": osRelease("gentoo", "", "2.15")},
		"debian, no tools": {"/etc/os-release": osRelease("debian", "", "12")},
	} {
		if o, err := Detect(tree); err == nil {
			t.Errorf("%s: detected %v", name, o)
		}
	}
}

func TestFirstBoot(t *testing.T) {
	tree := memFS{"/etc/machine-id": "0123456789abcdef0123456789abcdef\n", "/etc/ssh/sshd_config": "x"}
	if _, err := FirstBoot(tree, "root@vps1"); err != nil {
		t.Fatal(err)
	}
	if tree["/etc/machine-id"] != "" {
		t.Errorf("machine-id: %q", tree["/etc/machine-id"])
	}
	first := tree["/etc/ssh/ssh_host_ed25519_key.pub"]
	for _, typ := range []string{"ed25519", "ecdsa", "rsa"} {
		if _, err := ssh.ParsePrivateKey([]byte(tree["/etc/ssh/ssh_host_"+typ+"_key"])); err != nil {
			t.Errorf("%s private key: %v", typ, err)
		}
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(tree["/etc/ssh/ssh_host_"+typ+"_key.pub"])); err != nil {
			t.Errorf("%s public key: %v", typ, err)
		}
	}
	if _, err := FirstBoot(tree, "root@vps1"); err != nil {
		t.Fatal(err)
	}
	if tree["/etc/ssh/ssh_host_ed25519_key.pub"] == first {
		t.Error("a second first boot kept the host key")
	}
	// No OpenSSH, no keys.
	bare := memFS{"/etc/machine-id": "x"}
	if _, err := FirstBoot(bare, ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := bare["/etc/ssh/ssh_host_rsa_key"]; ok {
		t.Error("host keys written without /etc/ssh")
	}
}

func TestParseOSRelease(t *testing.T) {
	m := ParseOSRelease([]byte("# c\nID=\"rocky\"\nID_LIKE='rhel centos'\nNAME=\"a \\\"b\\\"\"\nBAD\n"))
	if m["ID"] != "rocky" || m["ID_LIKE"] != "rhel centos" || m["NAME"] != `a "b"` {
		t.Errorf("%v", m)
	}
}
