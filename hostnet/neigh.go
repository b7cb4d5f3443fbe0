package hostnet

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
)

// Proxy ARP and NDP: a routed container's address that lies in a network
// one of the host's own interfaces is on (its pool is on-link, as when a
// provider hands out addresses from the host's own subnet) is answered
// for by the host on that interface, with a proxy neighbour entry per
// address; addresses the provider routes to the host need none. The
// entries carry the plane's protocol number, so that reconciliation
// removes only its own.
//
// The entries are made with iproute2's ip: the netlink library has no
// field for a neighbour entry's protocol, which is what tells ours.

// proxyEntry is one proxy neighbour entry.
type proxyEntry struct {
	Addr netip.Addr
	Dev  string
}

// wantedProxies are the entries l.specs need: every routed single
// address on an interface of the host's that is on its network.
func (l *Linux) wantedProxies() (map[proxyEntry]bool, error) {
	want := map[proxyEntry]bool{}
	var addrs []netip.Addr
	for _, s := range l.specs {
		if s.Bridge != "" {
			continue
		}
		for _, sh := range s.Shares {
			if sh.IsSingleIP() {
				addrs = append(addrs, sh.Addr())
			}
		}
	}
	if len(addrs) == 0 {
		return want, nil
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("hostnet: list links: %w", err)
	}
	for _, link := range links {
		name := link.Attrs().Name
		if name == "lo" || l.names.ctidOf(name) != 0 || ctidAfter(name, l.names.Peer) != 0 || ctidAfter(name, l.names.Shaper) != 0 {
			continue
		}
		nets, err := netlink.AddrList(link, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("hostnet: addresses of %s: %w", name, err)
		}
		for _, n := range nets {
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok {
				continue
			}
			ones, _ := n.Mask.Size()
			p := netip.PrefixFrom(ip.Unmap(), ones)
			if p.IsSingleIP() || ip.IsLinkLocalUnicast() {
				continue
			}
			for _, a := range addrs {
				if p.Contains(a) && a != p.Addr() {
					want[proxyEntry{a, name}] = true
				}
			}
		}
	}
	return want, nil
}

// neighbours makes the plane's proxy entries match l.specs.
func (l *Linux) neighbours() error {
	want, err := l.wantedProxies()
	if err != nil {
		return err
	}
	have, err := l.proxies()
	if err != nil {
		return err
	}
	proto := strconv.Itoa(l.names.NeighProto)
	for e := range have {
		if !want[e] {
			if err := ipCmd("neigh", "del", "proxy", e.Addr.String(), "dev", e.Dev); err != nil {
				return err
			}
		}
	}
	for e := range want {
		if e.Addr.Is6() {
			if err := setSysctl("net/ipv6/conf/"+e.Dev+"/proxy_ndp", "1"); err != nil {
				return err
			}
		}
		if have[e] {
			continue
		}
		if err := ipCmd("neigh", "replace", "proxy", e.Addr.String(), "dev", e.Dev, "protocol", proto); err != nil {
			return err
		}
	}
	return nil
}

// proxies are the host's proxy entries of the plane's protocol.
func (l *Linux) proxies() (map[proxyEntry]bool, error) {
	have := map[proxyEntry]bool{}
	for _, fam := range []string{"-4", "-6"} {
		out, err := exec.Command("ip", "-j", fam, "neigh", "show", "proxy").Output()
		if err != nil {
			return nil, fmt.Errorf("hostnet: ip neigh show proxy: %w", err)
		}
		var list []struct {
			Dst      string `json:"dst"`
			Dev      string `json:"dev"`
			Protocol string `json:"protocol"`
		}
		if err := json.Unmarshal(out, &list); err != nil {
			return nil, fmt.Errorf("hostnet: ip neigh show proxy: %w", err)
		}
		for _, e := range list {
			if e.Protocol != strconv.Itoa(l.names.NeighProto) {
				continue
			}
			if a, err := netip.ParseAddr(e.Dst); err == nil {
				have[proxyEntry{a, e.Dev}] = true
			}
		}
	}
	return have, nil
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("hostnet: ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
