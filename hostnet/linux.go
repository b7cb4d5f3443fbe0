package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// Linux is the Plane on this host's network stack.
type Linux struct {
	names Names
	nft   string
	mu    sync.Mutex
	// specs is every container with shares the filter knows of.
	specs map[int]Spec
}

// New returns the host's Plane. It needs root, the nft tool (Debian's
// nftables) and sets the sysctls routed mode needs (forwarding).
func New(names Names) (*Linux, error) {
	nft, err := exec.LookPath("nft")
	if err != nil {
		return nil, fmt.Errorf("hostnet: nft (Debian package nftables) is needed: %w", err)
	}
	return &Linux{names: names, nft: nft, specs: map[int]Spec{}}, nil
}

// HostSysctls are the host-wide settings routed mode needs.
var HostSysctls = map[string]string{
	"net/ipv4/ip_forward":              "1",
	"net/ipv6/conf/all/forwarding":     "1",
	"net/ipv4/conf/all/send_redirects": "0",
}

// CheckSysctls says which of HostSysctls are not as routed mode needs.
func CheckSysctls() []string {
	var wrong []string
	for k, v := range HostSysctls {
		if have, err := os.ReadFile(filepath.Join("/proc/sys", k)); err != nil || string(have) != v+"\n" {
			wrong = append(wrong, k)
		}
	}
	return wrong
}

func setSysctl(key, value string) error {
	p := filepath.Join("/proc/sys", key)
	if have, err := os.ReadFile(p); err == nil && string(have) == value+"\n" {
		return nil
	}
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("hostnet: sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

func (l *Linux) hostSysctls() error {
	for k, v := range HostSysctls {
		if err := setSysctl(k, v); err != nil {
			return err
		}
	}
	return nil
}

// Up implements Plane.
func (l *Linux) Up(ctx context.Context, s Spec) ([]lxcdriver.ConfigItem, error) {
	if err := checkSpec(s); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(s.Shares) == 0 {
		return nil, l.down(ctx, s.CTID)
	}
	if err := l.hostSysctls(); err != nil {
		return nil, err
	}
	host, err := l.pair(s.CTID)
	if err != nil {
		return nil, err
	}
	if err := l.hostSide(ctx, host, s); err != nil {
		return nil, err
	}
	return l.names.ConfigItems(s), nil
}

// configure sets the host end up for s: its settings, its routes and
// its shaping.
func (l *Linux) configure(host netlink.Link, s Spec) error {
	if err := hostEnd(host, s); err != nil {
		return err
	}
	if err := l.routes(host, s); err != nil {
		return err
	}
	return l.shape(host, s)
}

// hostSide makes everything on the host for s but the pair itself: the
// host end's settings, routes, proxy entries, shaping and filter.
func (l *Linux) hostSide(ctx context.Context, host netlink.Link, s Spec) error {
	if err := l.configure(host, s); err != nil {
		return err
	}
	if len(s.Shares) == 0 {
		delete(l.specs, s.CTID)
	} else {
		l.specs[s.CTID] = s
	}
	if err := l.neighbours(); err != nil {
		return err
	}
	return l.filter(ctx)
}

// pair makes ctid's veth pair with its container end on the host (anew
// unless both ends are there) and sets its host end up, returning it.
func (l *Linux) pair(ctid int) (netlink.Link, error) {
	hostName, peerName := l.names.HostName(ctid), l.names.PeerName(ctid)
	host, herr := netlink.LinkByName(hostName)
	_, perr := netlink.LinkByName(peerName)
	if herr != nil || perr != nil {
		// Missing, or its container end is inside a container: start
		// over with a pair of our own.
		if err := delLinks(hostName, peerName); err != nil {
			return nil, err
		}
		veth := &netlink.Veth{
			LinkAttrs:        netlink.LinkAttrs{Name: hostName, HardwareAddr: hostMAC(ctid)},
			PeerName:         peerName,
			PeerHardwareAddr: MAC(ctid),
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return nil, fmt.Errorf("hostnet: make %s/%s: %w", hostName, peerName, err)
		}
		var err error
		if host, err = netlink.LinkByName(hostName); err != nil {
			return nil, fmt.Errorf("hostnet: %s: %w", hostName, err)
		}
	}
	return host, nil
}

// delLinks removes the named links that are on the host.
func delLinks(names ...string) error {
	for _, name := range names {
		link, err := netlink.LinkByName(name)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("hostnet: %s: %w", name, err)
		}
		if err := netlink.LinkDel(link); err != nil && !isNotFound(err) {
			return fmt.Errorf("hostnet: remove %s: %w", name, err)
		}
	}
	return nil
}

// hostMAC is the host end's stable address.
func hostMAC(ctid int) net.HardwareAddr {
	mac := MAC(ctid)
	mac[1] = 0xc6
	return mac
}

// hostEnd sets the host end's sysctls, gateway addresses (routed) or
// bridge (bridged), and state.
func hostEnd(link netlink.Link, s Spec) error {
	name := link.Attrs().Name
	for k, v := range map[string]string{
		"net/ipv4/conf/" + name + "/rp_filter":      "1",
		"net/ipv4/conf/" + name + "/send_redirects": "0",
		"net/ipv6/conf/" + name + "/accept_ra":      "0",
		"net/ipv6/conf/" + name + "/forwarding":     "1",
	} {
		if err := setSysctl(k, v); err != nil {
			return err
		}
	}
	if s.Bridge != "" {
		return bridgePort(link, s.Bridge)
	}
	if link.Attrs().MasterIndex != 0 {
		if err := netlink.LinkSetNoMaster(link); err != nil {
			return fmt.Errorf("hostnet: take %s out of its bridge: %w", name, err)
		}
	}
	for _, a := range []*netlink.Addr{
		{IPNet: &net.IPNet{IP: GatewayV4.AsSlice(), Mask: net.CIDRMask(32, 32)}, Scope: unix.RT_SCOPE_LINK},
		{IPNet: &net.IPNet{IP: GatewayV6.AsSlice(), Mask: net.CIDRMask(128, 128)}, Flags: unix.IFA_F_NODAD},
	} {
		if err := netlink.AddrReplace(link, a); err != nil {
			return fmt.Errorf("hostnet: address %s on %s: %w", a.IPNet, name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("hostnet: set %s up: %w", name, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

func prefixNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Masked().Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}

// bridgePort puts a bridged container's host end into bridge, up, with
// none of the gateway addresses a routed one holds.
func bridgePort(link netlink.Link, bridge string) error {
	name := link.Attrs().Name
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("hostnet: bridge %q of %s: %w", bridge, name, err)
	}
	if br.Type() != "bridge" {
		return fmt.Errorf("hostnet: %q is a %s, not a bridge", bridge, br.Type())
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("hostnet: addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		if ip, _ := netip.AddrFromSlice(a.IP); ip.Unmap() == GatewayV4 || ip == GatewayV6 {
			if err := netlink.AddrDel(link, &a); err != nil {
				return fmt.Errorf("hostnet: remove %s from %s: %w", ip, name, err)
			}
		}
	}
	if link.Attrs().MasterIndex != br.Attrs().Index {
		if err := netlink.LinkSetMaster(link, br); err != nil {
			return fmt.Errorf("hostnet: put %s into bridge %s: %w", name, bridge, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("hostnet: set %s up: %w", name, err)
	}
	return nil
}

// routes makes the host's routes of a routed s's shares through host,
// and removes the panel's other routes through it (all of them, bridged).
func (l *Linux) routes(host netlink.Link, s Spec) error {
	idx := host.Attrs().Index
	want := map[string]bool{}
	for _, sh := range s.Shares {
		if s.Bridge != "" {
			break
		}
		r := &netlink.Route{LinkIndex: idx, Dst: prefixNet(sh), Protocol: RouteProtocol, Scope: netlink.SCOPE_LINK}
		if sh.Addr().Is6() {
			r.Scope = netlink.SCOPE_UNIVERSE
		}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("hostnet: route %s dev %s: %w", sh, host.Attrs().Name, err)
		}
		want[prefixNet(sh).String()] = true
	}
	ours, err := ourRoutes()
	if err != nil {
		return err
	}
	for _, r := range ours {
		if r.LinkIndex == idx && !want[r.Dst.String()] {
			if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("hostnet: remove route %s: %w", r.Dst, err)
			}
		}
	}
	return nil
}

// ourRoutes are the host's routes tagged with RouteProtocol.
func ourRoutes() ([]netlink.Route, error) {
	var all []netlink.Route
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := netlink.RouteListFiltered(fam, &netlink.Route{Protocol: RouteProtocol}, netlink.RT_FILTER_PROTOCOL)
		if err != nil {
			return nil, fmt.Errorf("hostnet: list routes: %w", err)
		}
		all = append(all, rs...)
	}
	return all, nil
}

// filter rebuilds the nft table from l.specs, keeping counters; with no
// container to filter there is no table.
func (l *Linux) filter(ctx context.Context) error {
	if len(l.specs) == 0 {
		return l.removeTable(ctx)
	}
	counters, err := nftCounters(ctx, l.nft, l.names.Table)
	if err != nil {
		return err
	}
	return nftApply(ctx, l.nft, l.names.ruleset(l.specs, counters))
}

// Live implements Plane.
func (l *Linux) Live(ctx context.Context, s Spec, initPid int) error {
	if err := checkSpec(s); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.hostSysctls(); err != nil {
		return err
	}
	ns, err := netns.GetFromPid(initPid)
	if err != nil {
		return fmt.Errorf("hostnet: container %d's network namespace: %w", s.CTID, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("hostnet: container %d's network namespace: %w", s.CTID, err)
	}
	defer h.Close()
	eth0, err := h.LinkByName("eth0")
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("hostnet: container %d: eth0: %w", s.CTID, err)
	}
	if eth0 == nil {
		if len(s.Shares) == 0 {
			return l.down(ctx, s.CTID)
		}
		// Started without addresses: its interface comes now.
		host, err := l.pair(s.CTID)
		if err != nil {
			return err
		}
		if err := hostEnd(host, s); err != nil {
			return err
		}
		peer, err := netlink.LinkByName(l.names.PeerName(s.CTID))
		if err != nil {
			return fmt.Errorf("hostnet: %s: %w", l.names.PeerName(s.CTID), err)
		}
		if err := netlink.LinkSetNsFd(peer, int(ns)); err != nil {
			return fmt.Errorf("hostnet: move %s into container %d: %w", l.names.PeerName(s.CTID), s.CTID, err)
		}
		if eth0, err = h.LinkByName(l.names.PeerName(s.CTID)); err != nil {
			return fmt.Errorf("hostnet: container %d: %w", s.CTID, err)
		}
		if err := h.LinkSetName(eth0, "eth0"); err != nil {
			return fmt.Errorf("hostnet: container %d: rename to eth0: %w", s.CTID, err)
		}
		if err := h.LinkSetUp(eth0); err != nil {
			return fmt.Errorf("hostnet: container %d: set eth0 up: %w", s.CTID, err)
		}
	}
	if err := guestAddresses(h, eth0, s); err != nil {
		return fmt.Errorf("hostnet: container %d: %w", s.CTID, err)
	}
	host, err := netlink.LinkByName(l.names.HostName(s.CTID))
	if err != nil {
		return fmt.Errorf("hostnet: container %d: %s: %w", s.CTID, l.names.HostName(s.CTID), err)
	}
	return l.hostSide(ctx, host, s)
}

// guestAddresses makes eth0 in the container carry exactly s's
// addresses (link-local ones aside) and its default routes.
func guestAddresses(h *netlink.Handle, eth0 netlink.Link, s Spec) error {
	want := map[netip.Addr]netip.Prefix{}
	for _, sh := range s.Shares {
		p := s.guestPrefix(sh)
		want[p.Addr()] = p
	}
	have, err := h.AddrList(eth0, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("addresses: %w", err)
	}
	for _, a := range have {
		ip, _ := netip.AddrFromSlice(a.IP)
		ip = ip.Unmap()
		if ip.IsLinkLocalUnicast() {
			continue
		}
		ones, _ := a.Mask.Size()
		if p, ok := want[ip]; !ok || p.Bits() != ones {
			if err := h.AddrDel(eth0, &a); err != nil {
				return fmt.Errorf("remove %s: %w", ip, err)
			}
			continue
		}
		delete(want, ip)
	}
	for a, p := range want {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(p.Bits(), a.BitLen())}}
		if a.Is6() {
			addr.Flags = unix.IFA_F_NODAD
		} else if p.IsSingleIP() {
			addr.Broadcast = net.IPv4zero
		}
		if err := h.AddrAdd(eth0, addr); err != nil {
			return fmt.Errorf("add %s: %w", a, err)
		}
	}
	gw4, gw6 := s.gateways()
	idx := eth0.Attrs().Index
	if gw4.IsValid() {
		if s.Bridge == "" {
			gw := &netlink.Route{LinkIndex: idx, Dst: prefixNet(netip.PrefixFrom(gw4, 32)), Scope: netlink.SCOPE_LINK}
			if err := h.RouteReplace(gw); err != nil {
				return fmt.Errorf("route to %s: %w", gw4, err)
			}
		}
		def := &netlink.Route{LinkIndex: idx, Dst: prefixNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: gw4.AsSlice()}
		if err := h.RouteReplace(def); err != nil {
			return fmt.Errorf("default route: %w", err)
		}
	}
	if gw6.IsValid() {
		def := &netlink.Route{LinkIndex: idx, Dst: prefixNet(netip.MustParsePrefix("::/0")), Gw: gw6.AsSlice()}
		if err := h.RouteReplace(def); err != nil {
			return fmt.Errorf("default IPv6 route: %w", err)
		}
	}
	return nil
}

// Down implements Plane.
func (l *Linux) Down(ctx context.Context, ctid int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down(ctx, ctid)
}

func (l *Linux) down(ctx context.Context, ctid int) error {
	if err := delLinks(l.names.HostName(ctid), l.names.PeerName(ctid), l.names.ShaperName(ctid)); err != nil {
		return err
	}
	if _, ok := l.specs[ctid]; !ok {
		return nil
	}
	delete(l.specs, ctid)
	if err := l.neighbours(); err != nil {
		return err
	}
	return l.filter(ctx)
}

// Sync implements Plane.
func (l *Linux) Sync(ctx context.Context, specs []Spec) error {
	want := map[int]Spec{}
	for _, s := range specs {
		if err := checkSpec(s); err != nil {
			return err
		}
		if len(s.Shares) > 0 {
			want[s.CTID] = s
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("hostnet: list links: %w", err)
	}
	for _, link := range links {
		name := link.Attrs().Name
		if id := ctidAfter(name, l.names.Shaper); id != 0 && link.Type() == "ifb" {
			if s, ok := want[id]; !ok || s.RateOut == 0 {
				if err := delLinks(name); err != nil {
					return err
				}
			}
			continue
		}
		id := l.names.ctidOf(name)
		if id == 0 || link.Type() != "veth" {
			continue
		}
		if _, ok := want[id]; !ok {
			if err := delLinks(name, l.names.PeerName(id)); err != nil {
				return err
			}
		}
	}
	if len(want) > 0 {
		if err := l.hostSysctls(); err != nil {
			return err
		}
	}
	keep := map[int]bool{}
	for id, s := range want {
		host, err := netlink.LinkByName(l.names.HostName(id))
		if isNotFound(err) {
			continue // made at its next start
		}
		if err != nil {
			return fmt.Errorf("hostnet: %s: %w", l.names.HostName(id), err)
		}
		if err := l.configure(host, s); err != nil {
			return err
		}
		keep[host.Attrs().Index] = true
	}
	ours, err := ourRoutes()
	if err != nil {
		return err
	}
	for _, r := range ours {
		if link, err := netlink.LinkByIndex(r.LinkIndex); err == nil && l.names.ctidOf(link.Attrs().Name) == 0 {
			continue // another plane's (a test's)
		}
		if !keep[r.LinkIndex] {
			if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("hostnet: remove stray route %s: %w", r.Dst, err)
			}
		}
	}
	l.specs = want
	if err := l.neighbours(); err != nil {
		return err
	}
	return l.filter(ctx)
}

// Dropped implements Plane.
func (l *Linux) Dropped(ctx context.Context, ctid int) (Counter, error) {
	m, err := nftCounters(ctx, l.nft, l.names.Table)
	if err != nil {
		return Counter{}, err
	}
	return m[spoofCounter(ctid)], nil
}

// Remove takes the panel's table away (tests, and a host leaving the
// panel); the routes and pairs go with Sync(nil), which removes the
// table too.
func (l *Linux) Remove(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.removeTable(ctx)
}

func (l *Linux) removeTable(ctx context.Context) error {
	var b strings.Builder
	for _, fam := range []string{"inet", "bridge"} {
		fmt.Fprintf(&b, "add table %s %s\ndelete table %s %s\n", fam, l.names.Table, fam, l.names.Table)
	}
	return nftApply(ctx, l.nft, b.String())
}

// Traffic implements Plane.
func (l *Linux) Traffic(ctx context.Context) ([]Traffic, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, err := nftCounters(ctx, l.nft, l.names.Table)
	if err != nil {
		return nil, err
	}
	var out []Traffic
	for id, s := range l.specs {
		for _, sh := range sortedShares(s.Shares) {
			out = append(out, Traffic{CTID: id, Share: sh.Masked(),
				In: m[trafficCounter("in", id, sh)], Out: m[trafficCounter("out", id, sh)]})
		}
	}
	return out, nil
}
