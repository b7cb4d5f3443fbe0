// Package hostnet is the host side of containers' networks: the veth pair
// each container with addresses gets, the host's routes to those
// addresses, and the panel's own nftables table that keeps every
// container to its own source addresses.
//
// Routed mode, as Incus's routed NIC and vzctl's venet do it: the panel
// makes the veth pair itself (netlink) and hands the container end to
// liblxc as a physical interface (lxc.net.0.type = phys) with the
// container's addresses as /32 and /128 and link-local gateways; the host
// end holds 169.254.0.1/32 and fe80::1, and the host routes each address
// (each routed IPv6 /64) to it with routes of the panel's own protocol
// number, so that reconciliation removes only its own.
//
// Interfaces are named after the CTID: ctv<CTID> on the host and
// ctc<CTID> for the container end while it is on the host (liblxc renames
// it eth0 inside).
package hostnet

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// RouteProtocol tags the panel's host routes (rtnetlink's protocol field;
// 0 to 4 are the kernel's, the rest unassigned here).
const RouteProtocol = 211

// Gateways the container is given: link-local, held by the host end.
var (
	GatewayV4 = netip.MustParseAddr("169.254.0.1")
	GatewayV6 = netip.MustParseAddr("fe80::1")
)

// Spec is what one container's interface must carry.
type Spec struct {
	CTID int
	// Shares are the container's blocks: /32 for IPv4, /128 or a routed
	// /64 for IPv6.
	Shares []netip.Prefix
	// Bridge is the host bridge a bridged container's interface joins;
	// empty, the container is routed.
	Bridge string
	// Networks are, for a bridged container, the networks its addresses
	// are on (its pools), with their gateways.
	Networks []Network
	// RateIn and RateOut shape traffic to and from the container, in
	// Mbit/s; 0 is unshaped.
	RateIn, RateOut int
}

// Network is a bridged container's on-link network.
type Network struct {
	Prefix  netip.Prefix
	Gateway netip.Addr // invalid: none
}

// network is the Network a bridged container's address a is on.
func (s Spec) network(a netip.Addr) (Network, bool) {
	for _, n := range s.Networks {
		if n.Prefix.Contains(a) {
			return n, true
		}
	}
	return Network{}, false
}

// guestPrefix is the address and prefix length the container's eth0
// holds for share: the share itself when routed (a /32, /128, or the
// first address of a /64 as /128), the address in its network when
// bridged.
func (s Spec) guestPrefix(share netip.Prefix) netip.Prefix {
	a := Address(share)
	if s.Bridge != "" {
		if n, ok := s.network(a); ok {
			return netip.PrefixFrom(a, n.Prefix.Bits())
		}
	}
	return netip.PrefixFrom(a, a.BitLen())
}

// Guest is what the container's own network files must say: its
// addresses with their prefixes (as ConfigItems gives them) and its
// default gateways (invalid where it has none of that family).
func (s Spec) Guest() (addrs []netip.Prefix, gw4, gw6 netip.Addr) {
	for _, sh := range sortedShares(s.Shares) {
		addrs = append(addrs, s.guestPrefix(sh))
	}
	gw4, gw6 = s.gateways()
	return addrs, gw4, gw6
}

// AddressItem says whether a liblxc item is one of ConfigItems' addresses
// or gateways: a guest that configures its own interface from files the
// panel writes starts without them.
func AddressItem(key string) bool {
	switch key {
	case "lxc.net.0.ipv4.address", "lxc.net.0.ipv6.address", "lxc.net.0.ipv4.gateway", "lxc.net.0.ipv6.gateway":
		return true
	}
	return false
}

// gateways are the container's default gateways, IPv4 and IPv6 (each
// invalid where it has none).
func (s Spec) gateways() (v4, v6 netip.Addr) {
	for _, sh := range s.Shares {
		a := Address(sh)
		gw := GatewayV6
		if a.Is4() {
			gw = GatewayV4
		}
		if s.Bridge != "" {
			n, _ := s.network(a)
			gw = n.Gateway
		}
		if !gw.IsValid() {
			continue
		}
		if a.Is4() && !v4.IsValid() {
			v4 = gw
		} else if a.Is6() && !v6.IsValid() {
			v6 = gw
		}
	}
	return v4, v6
}

// Names are what a Plane's objects on the host are called: the prefixes
// of its interfaces (a CTID follows) and its nftables table. Tests give
// each plane names of its own, so that planes in parallel test processes
// never take each other's objects for strays.
type Names struct {
	// Host, Peer and Shaper prefix the host end, the container end and
	// the IFB device that shapes what the container sends.
	Host, Peer, Shaper string
	Table              string
	// NeighProto tags the plane's proxy ARP/NDP entries (neighbour
	// entries have a protocol but no interface of the plane's to tell
	// them by, as routes have).
	NeighProto int
}

// DefaultNames are the panel's.
var DefaultNames = Names{Host: "ctv", Peer: "ctc", Shaper: "cti", Table: "ctpanel", NeighProto: RouteProtocol}

// TaggedNames are the names of a second panel on one host, or of a test's
// (CTPANEL_NET_TAG): <tag>v<CTID>, <tag>c<CTID>, <tag>i<CTID> and table
// ctpanel_<tag>.
func TaggedNames(tag string) Names {
	return Names{Host: tag + "v", Peer: tag + "c", Shaper: tag + "i", Table: "ctpanel_" + tag, NeighProto: RouteProtocol + 1}
}

// HostName is the host end of ctid's veth pair.
func (n Names) HostName(ctid int) string { return n.Host + strconv.Itoa(ctid) }

// PeerName is the container end of ctid's veth pair while on the host.
func (n Names) PeerName(ctid int) string { return n.Peer + strconv.Itoa(ctid) }

// ShaperName is the IFB device that shapes what ctid sends.
func (n Names) ShaperName(ctid int) string { return n.Shaper + strconv.Itoa(ctid) }

// ctidOf is the CTID of a host end's name, 0 if it is not one.
func (n Names) ctidOf(name string) int { return ctidAfter(name, n.Host) }

// ctidAfter is the CTID in name after prefix, 0 if there is none.
func ctidAfter(name, prefix string) int {
	s, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0
	}
	id, err := strconv.Atoi(s)
	if err != nil || id <= 0 || strconv.Itoa(id) != s {
		return 0
	}
	return id
}

// MAC is the container interface's stable address: locally administered,
// unicast, the CTID in its last four bytes.
func MAC(ctid int) net.HardwareAddr {
	mac := net.HardwareAddr{0x02, 0xc7, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(mac[2:], uint32(ctid))
	return mac
}

// Address is the address the container holds for a share: the address
// of a /32 or /128, the first host of a routed prefix (prefix::1).
func Address(share netip.Prefix) netip.Addr {
	if share.IsSingleIP() {
		return share.Addr()
	}
	return share.Masked().Addr().Next()
}

// ConfigItems are the liblxc items for the container end of s's pair:
// given at start, not saved (a container started by hand stays without).
func (n Names) ConfigItems(s Spec) []lxcdriver.ConfigItem {
	if len(s.Shares) == 0 {
		return nil
	}
	items := []lxcdriver.ConfigItem{
		{Key: "lxc.net.0.type", Value: "phys"},
		{Key: "lxc.net.0.link", Value: n.PeerName(s.CTID)},
		{Key: "lxc.net.0.name", Value: "eth0"},
		{Key: "lxc.net.0.flags", Value: "up"},
		{Key: "lxc.net.0.hwaddr", Value: MAC(s.CTID).String()},
	}
	for _, sh := range sortedShares(s.Shares) {
		p := s.guestPrefix(sh)
		if p.Addr().Is4() {
			v := p.String()
			if p.IsSingleIP() {
				v += " 0.0.0.0" // an explicit broadcast: liblxc would compute one from /32
			}
			items = append(items, lxcdriver.ConfigItem{Key: "lxc.net.0.ipv4.address", Value: v})
		} else {
			items = append(items, lxcdriver.ConfigItem{Key: "lxc.net.0.ipv6.address", Value: p.String()})
		}
	}
	gw4, gw6 := s.gateways()
	if gw4.IsValid() {
		items = append(items, lxcdriver.ConfigItem{Key: "lxc.net.0.ipv4.gateway", Value: gw4.String()})
	}
	if gw6.IsValid() {
		items = append(items, lxcdriver.ConfigItem{Key: "lxc.net.0.ipv6.gateway", Value: gw6.String()})
	}
	return items
}

func sortedShares(in []netip.Prefix) []netip.Prefix {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out
}

// Plane is the host side of the panel's container networks.
type Plane interface {
	// Up makes the host side of a stopped container's interface as s
	// says (anew where anything is missing) and returns the liblxc
	// items for its start; none, and nothing on the host, when s has
	// no shares.
	Up(ctx context.Context, s Spec) ([]lxcdriver.ConfigItem, error)
	// Live makes a running container's interface (its init is initPid)
	// and the host side carry exactly s's shares, without a restart.
	Live(ctx context.Context, s Spec, initPid int) error
	// Down removes the host side of ctid's interface: its pair, routes
	// and filter entries.
	Down(ctx context.Context, ctid int) error
	// Sync makes the whole host side match specs (every container with
	// shares): stray pairs, routes and filter entries of the panel's
	// are removed, missing routes and entries made, nothing else
	// touched.
	Sync(ctx context.Context, specs []Spec) error
	// Dropped is what the anti-spoofing filter has dropped from ctid.
	Dropped(ctx context.Context, ctid int) (Counter, error)
	// Traffic is every share's traffic counters.
	Traffic(ctx context.Context) ([]Traffic, error)
}

// Traffic is what one share of a container received (In) and sent (Out)
// since its counters began: at the host's boot, or when the share came.
type Traffic struct {
	CTID    int
	Share   netip.Prefix
	In, Out Counter
}

// Counter is a packet and byte count.
type Counter struct {
	Packets, Bytes uint64
}

// checkSpec refuses what the host side cannot carry.
func checkSpec(s Spec) error {
	if s.CTID <= 0 {
		return fmt.Errorf("hostnet: bad CTID %d", s.CTID)
	}
	for _, sh := range s.Shares {
		switch {
		case !sh.IsValid():
			return fmt.Errorf("hostnet: container %d: invalid share", s.CTID)
		case sh.Addr().Is4() && sh.Bits() != 32:
			return fmt.Errorf("hostnet: container %d: IPv4 share %s is not a /32", s.CTID, sh)
		case sh.Addr().Is6() && sh.Bits() != 128 && sh.Bits() != 64:
			return fmt.Errorf("hostnet: container %d: IPv6 share %s is neither a /128 nor a /64", s.CTID, sh)
		case sh.Addr().Is4In6():
			return fmt.Errorf("hostnet: container %d: share %s is an IPv4-mapped address", s.CTID, sh)
		}
		if s.Bridge != "" {
			if !sh.IsSingleIP() {
				return fmt.Errorf("hostnet: container %d: a bridged container's share %s must be one address", s.CTID, sh)
			}
			if _, ok := s.network(sh.Addr()); !ok {
				return fmt.Errorf("hostnet: container %d: bridged address %s is on none of its networks", s.CTID, sh.Addr())
			}
		}
	}
	if s.RateIn < 0 || s.RateOut < 0 {
		return fmt.Errorf("hostnet: container %d: negative rate", s.CTID)
	}
	return nil
}
