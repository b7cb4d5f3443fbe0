package guestos

import (
	"fmt"
	"net/netip"
	"strings"
)

// The network writers. Each writes the interface statically: the panel
// owns the addresses (no DHCP on a routed interface). A routed
// container's IPv4 gateway (169.254.0.1) is outside its /32, so it is
// reached by a link route first; IPv6's fe80::1 is on-link by nature.

// ifupdown writes the interface's stanzas in the section of
// /etc/network/interfaces (Debian's ifupdown, Alpine's ifupdown-ng and
// busybox ifup read the same format).
func (w *writer) ifupdown(c Config, alpine bool) error {
	var b strings.Builder
	dev := c.Interface
	fmt.Fprintf(&b, "auto %s\n", dev)
	v4, v6 := c.v4(), c.v6()
	if len(v4) == 0 && len(v6) == 0 {
		fmt.Fprintf(&b, "iface %s inet manual\n", dev)
	}
	for i, p := range v4 {
		fmt.Fprintf(&b, "iface %s inet static\n\taddress %s\n", dev, p)
		if i == 0 && c.Gateway4.IsValid() {
			if c.onLink4() {
				fmt.Fprintf(&b, "\tup ip route add %s dev %s\n", c.Gateway4, dev)
				fmt.Fprintf(&b, "\tup ip route add default via %s dev %s\n", c.Gateway4, dev)
			} else {
				fmt.Fprintf(&b, "\tgateway %s\n", c.Gateway4)
			}
		}
	}
	for i, p := range v6 {
		fmt.Fprintf(&b, "iface %s inet6 static\n\taddress %s\n", dev, p)
		if i == 0 {
			// No router advertisements: the panel gives the route.
			if !alpine {
				b.WriteString("\taccept_ra 0\n\tautoconf 0\n")
			}
			if c.Gateway6.IsValid() {
				if c.Gateway6.IsLinkLocalUnicast() {
					fmt.Fprintf(&b, "\tup ip -6 route add default via %s dev %s\n", c.Gateway6, dev)
				} else {
					fmt.Fprintf(&b, "\tgateway %s\n", c.Gateway6)
				}
			}
		}
	}
	initial := "# interfaces(5)\n\nauto lo\niface lo inet loopback\n\n"
	return w.section("/etc/network/interfaces", b.String(), initial, 0o644)
}

// networkd writes a .network file of the panel's own, ordered before the
// images' own (a DHCP eth0.network in linuxcontainers.org's images).
func (w *writer) networkd(c Config) error {
	var b strings.Builder
	fmt.Fprintf(&b, "[Match]\nName=%s\n\n[Network]\nDHCP=no\nIPv6AcceptRA=no\nLinkLocalAddressing=ipv6\n", c.Interface)
	for _, p := range c.Addresses {
		fmt.Fprintf(&b, "Address=%s\n", p)
	}
	for _, ns := range c.Nameservers {
		fmt.Fprintf(&b, "DNS=%s\n", ns)
	}
	if c.Gateway4.IsValid() {
		fmt.Fprintf(&b, "\n[Route]\nGateway=%s\n", c.Gateway4)
		if c.onLink4() {
			b.WriteString("GatewayOnLink=yes\n")
		}
	}
	if c.Gateway6.IsValid() {
		fmt.Fprintf(&b, "\n[Route]\nGateway=%s\n", c.Gateway6)
	}
	return w.section("/etc/systemd/network/10-ctpanel-"+c.Interface+".network", b.String(), "", 0o644)
}

// netplan writes a YAML file of the panel's own; netplan merges it over
// the others (later names win).
func (w *writer) netplan(c Config) error {
	var b strings.Builder
	fmt.Fprintf(&b, "network:\n  version: 2\n  ethernets:\n    %s:\n      dhcp4: false\n      dhcp6: false\n      accept-ra: false\n", c.Interface)
	if len(c.Addresses) > 0 {
		b.WriteString("      addresses:\n")
		for _, p := range c.Addresses {
			fmt.Fprintf(&b, "        - %q\n", p.String())
		}
	}
	if c.Gateway4.IsValid() || c.Gateway6.IsValid() {
		b.WriteString("      routes:\n")
		for _, gw := range []netip.Addr{c.Gateway4, c.Gateway6} {
			if !gw.IsValid() {
				continue
			}
			to := "0.0.0.0/0"
			if gw.Is6() {
				to = "::/0"
			}
			fmt.Fprintf(&b, "        - to: %q\n          via: %q\n", to, gw.String())
			if (gw.Is4() && c.onLink4()) || gw.IsLinkLocalUnicast() {
				b.WriteString("          on-link: true\n")
			}
		}
	}
	if len(c.Nameservers) > 0 {
		b.WriteString("      nameservers:\n        addresses:\n")
		for _, ns := range c.Nameservers {
			fmt.Fprintf(&b, "          - %q\n", ns.String())
		}
	}
	return w.section("/etc/netplan/90-ctpanel.yaml", b.String(), "", 0o600)
}

// ifcfg writes RHEL's ifcfg-<dev> and, for the routed gateway, its
// route files.
func (w *writer) ifcfg(c Config) error {
	dir := "/etc/sysconfig/network-scripts/"
	var b strings.Builder
	fmt.Fprintf(&b, "DEVICE=%s\nNAME=%s\nONBOOT=yes\nBOOTPROTO=none\nTYPE=Ethernet\n", c.Interface, c.Interface)
	for i, p := range c.v4() {
		fmt.Fprintf(&b, "IPADDR%d=%s\nPREFIX%d=%d\n", i, p.Addr(), i, p.Bits())
	}
	if c.Gateway4.IsValid() && !c.onLink4() {
		fmt.Fprintf(&b, "GATEWAY=%s\n", c.Gateway4)
	}
	if v6 := c.v6(); len(v6) > 0 {
		fmt.Fprintf(&b, "IPV6INIT=yes\nIPV6_AUTOCONF=no\nIPV6ADDR=%s\n", v6[0])
		if len(v6) > 1 {
			var sec []string
			for _, p := range v6[1:] {
				sec = append(sec, p.String())
			}
			fmt.Fprintf(&b, "IPV6ADDR_SECONDARIES=%q\n", strings.Join(sec, " "))
		}
		if c.Gateway6.IsValid() {
			fmt.Fprintf(&b, "IPV6_DEFAULTGW=%s%%%s\n", c.Gateway6, c.Interface)
		}
	}
	for i, ns := range c.Nameservers {
		fmt.Fprintf(&b, "DNS%d=%s\n", i+1, ns)
	}
	if err := w.section(dir+"ifcfg-"+c.Interface, b.String(), "", 0o644); err != nil {
		return err
	}
	route := ""
	if c.Gateway4.IsValid() && c.onLink4() {
		route = fmt.Sprintf("%s dev %s scope link\ndefault via %s dev %s\n", c.Gateway4, c.Interface, c.Gateway4, c.Interface)
	}
	return w.section(dir+"route-"+c.Interface, route, "", 0o644)
}

// keyfile writes a NetworkManager connection of the panel's own (0600:
// NetworkManager ignores keyfiles others can read).
func (w *writer) keyfile(c Config) error {
	var b strings.Builder
	fmt.Fprintf(&b, "[connection]\nid=ctpanel-%s\ntype=ethernet\ninterface-name=%s\nautoconnect=true\n", c.Interface, c.Interface)
	v4 := c.v4()
	if len(v4) == 0 {
		b.WriteString("\n[ipv4]\nmethod=disabled\n")
	} else {
		b.WriteString("\n[ipv4]\nmethod=manual\n")
		for i, p := range v4 {
			fmt.Fprintf(&b, "address%d=%s\n", i+1, p)
		}
		if c.Gateway4.IsValid() {
			if c.onLink4() {
				fmt.Fprintf(&b, "route1=%s/32\nroute2=0.0.0.0/0,%s\n", c.Gateway4, c.Gateway4)
			} else {
				fmt.Fprintf(&b, "gateway=%s\n", c.Gateway4)
			}
		}
		writeDNS(&b, c.Nameservers, true)
	}
	v6 := c.v6()
	if len(v6) == 0 {
		b.WriteString("\n[ipv6]\nmethod=disabled\n")
	} else {
		b.WriteString("\n[ipv6]\nmethod=manual\n")
		for i, p := range v6 {
			fmt.Fprintf(&b, "address%d=%s\n", i+1, p)
		}
		if c.Gateway6.IsValid() {
			fmt.Fprintf(&b, "gateway=%s\n", c.Gateway6)
		}
		writeDNS(&b, c.Nameservers, false)
	}
	return w.section("/etc/NetworkManager/system-connections/ctpanel-"+c.Interface+".nmconnection", b.String(), "", 0o600)
}

func writeDNS(b *strings.Builder, servers []netip.Addr, v4 bool) {
	var list []string
	for _, ns := range servers {
		if ns.Is4() == v4 {
			list = append(list, ns.String())
		}
	}
	if len(list) > 0 {
		fmt.Fprintf(b, "dns=%s;\n", strings.Join(list, ";"))
	}
}
