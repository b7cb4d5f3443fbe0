package hostnet_test

import (
	"context"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/hostnet"
	"github.com/ctpanel/ctpanel/hostnet/hostnettest"
)

func newPlane(t *testing.T) (*hostnet.Linux, hostnet.Names) {
	t.Helper()
	if testing.Short() {
		t.Skip("makes network namespaces and real containers")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root: run make test")
	}
	names := testNames()
	plane, err := hostnet.New(names)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := plane.Sync(context.Background(), nil); err != nil {
			t.Errorf("sync to nothing: %v", err)
		}
		if err := plane.Remove(context.Background()); err != nil {
			t.Errorf("remove table: %v", err)
		}
	})
	return plane, names
}

func within(got, want, frac float64) bool { return math.Abs(got-want) <= want*frac }

// TestRateLimitsAndTraffic: a container with 20 Mbit/s in and out gets
// 20 Mbit/s over TCP both ways (iperf3), 50 after a live change; the
// traffic counters of its address count what went each way.
func TestRateLimitsAndTraffic(t *testing.T) {
	plane, _ := newPlane(t)
	client := hostnettest.NewClient(t)
	const ctid = 99511
	addr := "198.18.11.5"
	spec := hostnet.Spec{CTID: ctid, Shares: []netip.Prefix{netip.MustParsePrefix(addr + "/32")}, RateIn: 20, RateOut: 20}
	d, name := startContainer(t, plane, spec)
	if err := client.WaitPing(addr); err != nil {
		t.Fatal(err)
	}
	pid := initPid(t, d, name)
	before, link0 := trafficOf(t, plane, ctid), hostnettest.ReadLinkStats(t, testNames().HostName(ctid))

	in := client.Iperf(t, pid, addr, false)
	out := client.Iperf(t, pid, addr, true)
	t.Logf("20 Mbit/s plan: in %.1f, out %.1f Mbit/s", in, out)
	if !within(in, 20, 0.15) || !within(out, 20, 0.15) {
		t.Errorf("at 20 Mbit/s: measured in %.1f, out %.1f", in, out)
	}
	// What the counters of the address counted (IP packets) is what the
	// host end's own statistics say went through it, less the Ethernet
	// headers (and the odd ARP or neighbour frame).
	after, link1 := trafficOf(t, plane, ctid), hostnettest.ReadLinkStats(t, testNames().HostName(ctid))
	gotIn, gotOut := after.In.Bytes-before.In.Bytes, after.Out.Bytes-before.Out.Bytes
	wantIn, wantOut := hostnettest.IPBytes(link0, link1)
	t.Logf("counted %d in, %d out; the interface %d in, %d out", gotIn, gotOut, wantIn, wantOut)
	if gotIn < 10_000_000 || !within(float64(gotIn), float64(wantIn), 0.01) {
		t.Errorf("counted in %d bytes, the interface says %d", gotIn, wantIn)
	}
	if gotOut < 10_000_000 || !within(float64(gotOut), float64(wantOut), 0.01) {
		t.Errorf("counted out %d bytes, the interface says %d", gotOut, wantOut)
	}

	spec.RateIn, spec.RateOut = 50, 50
	if err := plane.Live(context.Background(), spec, pid); err != nil {
		t.Fatalf("live rate change: %v", err)
	}
	in = client.Iperf(t, pid, addr, false)
	out = client.Iperf(t, pid, addr, true)
	t.Logf("50 Mbit/s plan: in %.1f, out %.1f Mbit/s", in, out)
	if !within(in, 50, 0.15) || !within(out, 50, 0.15) {
		t.Errorf("at 50 Mbit/s after a live change: measured in %.1f, out %.1f", in, out)
	}

	// Unshaped: the IFB goes, and the counters stay.
	spec.RateIn, spec.RateOut = 0, 0
	if err := plane.Live(context.Background(), spec, pid); err != nil {
		t.Fatalf("live rate removal: %v", err)
	}
	if out := hostnettest.Run(t, "ip", "-o", "link", "show"); strings.Contains(out, testNames().ShaperName(ctid)) {
		t.Errorf("the shaping device is left with no rate: %s", out)
	}
	if c := trafficOf(t, plane, ctid); c.In.Bytes < after.In.Bytes {
		t.Errorf("traffic counter went back after a change: %+v, was %+v", c, after)
	}
}

func trafficOf(t *testing.T, plane *hostnet.Linux, ctid int) hostnet.Traffic {
	t.Helper()
	all, err := plane.Traffic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var sum hostnet.Traffic
	for _, tr := range all {
		if tr.CTID == ctid {
			sum.In.Bytes += tr.In.Bytes
			sum.In.Packets += tr.In.Packets
			sum.Out.Bytes += tr.Out.Bytes
			sum.Out.Packets += tr.Out.Packets
		}
	}
	return sum
}

// TestProxyNeighbours: a routed container whose addresses lie in the
// network of one of the host's interfaces (an on-link pool) is reached by
// a client on that network through proxy ARP and NDP; the entries, tagged
// with the plane's protocol, go with the container.
func TestProxyNeighbours(t *testing.T) {
	plane, names := newPlane(t)
	lan := hostnettest.NewLAN(t, false, "198.18.50.1/24", "2001:db8:50::1/64", "198.18.50.254/24", "2001:db8:50::fffe/64")
	const ctid = 99521
	spec := hostnet.Spec{CTID: ctid, Shares: []netip.Prefix{
		netip.MustParsePrefix("198.18.50.10/32"), netip.MustParsePrefix("2001:db8:50::10/128")}}
	d, name := startContainer(t, plane, spec)
	if err := lan.WaitPing("198.18.50.10"); err != nil {
		t.Errorf("on-link client pings the container's IPv4 address: %v", err)
	}
	if err := lan.WaitPing("2001:db8:50::10"); err != nil {
		t.Errorf("on-link client pings the container's IPv6 address: %v", err)
	}
	if out, code := sh(t, d, name, "ping -c 1 -W 2 198.18.50.1 && ping -c 1 -W 2 2001:db8:50::1"); code != 0 {
		t.Errorf("container pings the on-link client: exit %d: %s", code, out)
	}
	proto := strconv.Itoa(names.NeighProto)
	for _, fam := range []string{"-4", "-6"} {
		out := hostnettest.Run(t, "ip", fam, "neigh", "show", "proxy", "dev", lan.Dev)
		if !strings.Contains(out, "proto "+proto) {
			t.Errorf("proxy entries on %s (%s): %q, want ours (proto %s)", lan.Dev, fam, out, proto)
		}
	}
	if out := hostnettest.Run(t, "sysctl", "-n", "net.ipv6.conf."+lan.Dev+".proxy_ndp"); strings.TrimSpace(out) != "1" {
		t.Errorf("proxy_ndp on %s = %q", lan.Dev, out)
	}
	if err := plane.Down(context.Background(), ctid); err != nil {
		t.Fatal(err)
	}
	for _, fam := range []string{"-4", "-6"} {
		if out := hostnettest.Run(t, "ip", fam, "neigh", "show", "proxy"); strings.Contains(out, "198.18.50.10") || strings.Contains(out, "2001:db8:50::10") {
			t.Errorf("proxy entries left after Down: %s", out)
		}
	}
}

// TestBridged: two containers bridged with a client on a host bridge
// reach the client; one that takes the other's address, claims it in ARP
// or changes its MAC reaches nobody, and the client's neighbour entry for
// the other stays the other's.
func TestBridged(t *testing.T) {
	plane, _ := newPlane(t)
	lan := hostnettest.NewLAN(t, true, "198.18.30.1/24", "2001:db8:30::1/64", "", "")
	nets := []hostnet.Network{
		{Prefix: netip.MustParsePrefix("198.18.30.0/24"), Gateway: netip.MustParseAddr("198.18.30.1")},
		{Prefix: netip.MustParsePrefix("2001:db8:30::/64"), Gateway: netip.MustParseAddr("2001:db8:30::1")},
	}
	const a, b = 99531, 99532
	specA := hostnet.Spec{CTID: a, Bridge: lan.Bridge, Networks: nets, Shares: []netip.Prefix{
		netip.MustParsePrefix("198.18.30.10/32"), netip.MustParsePrefix("2001:db8:30::10/128")}}
	specB := hostnet.Spec{CTID: b, Bridge: lan.Bridge, Networks: nets, Shares: []netip.Prefix{
		netip.MustParsePrefix("198.18.30.11/32"), netip.MustParsePrefix("2001:db8:30::11/128")}}
	dA, nA := startContainer(t, plane, specA)
	dB, nB := startContainer(t, plane, specB)
	for _, addr := range []string{"198.18.30.10", "198.18.30.11", "2001:db8:30::10", "2001:db8:30::11"} {
		if err := lan.WaitPing(addr); err != nil {
			t.Errorf("client pings %s: %v", addr, err)
		}
	}
	if out, code := sh(t, dA, nA, "ip -o addr show dev eth0; ip route; ping -c 1 -W 2 198.18.30.1 && ping -c 1 -W 2 198.18.30.11"); code != 0 {
		t.Errorf("container A pings the client and B: exit %d: %s", code, out)
	}
	if out, code := sh(t, dB, nB, "ping -c 1 -W 2 2001:db8:30::1"); code != 0 {
		t.Errorf("container B pings the client over IPv6: exit %d: %s", code, out)
	}
	macB := hostnet.MAC(b).String()
	neighB := func() string {
		out, _ := lan.Exec("ip", "neigh", "show", "198.18.30.11")
		return string(out)
	}
	if !strings.Contains(neighB(), macB) {
		t.Fatalf("client's entry for B before the attack: %q, want %s", neighB(), macB)
	}
	before, err := plane.Dropped(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	// A takes B's address and sends from it.
	if out, code := sh(t, dA, nA, "ip addr add 198.18.30.11/32 dev eth0 && ping -c 2 -W 1 -I 198.18.30.11 198.18.30.1"); code == 0 {
		t.Errorf("A reached the client from B's address: %s", out)
	}
	// A claims B's address in unsolicited ARP.
	_, _ = sh(t, dA, nA, "arping -U -c 3 -w 3 -I eth0 -s 198.18.30.11 198.18.30.11")
	if got := neighB(); !strings.Contains(got, macB) {
		t.Errorf("client's entry for B after A's ARP claims: %q, want %s", got, macB)
	}
	_, _ = sh(t, dA, nA, "ip addr del 198.18.30.11/32 dev eth0")
	// A with a MAC of its choosing.
	if out, code := sh(t, dA, nA, "ip link set eth0 address 02:00:00:00:00:aa && ping -c 2 -W 1 198.18.30.1"); code == 0 {
		t.Errorf("A reached the client with a forged MAC: %s", out)
	}
	after, err := plane.Dropped(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if after.Packets < before.Packets+4 {
		t.Errorf("dropped from A: %+v then %+v, want at least 4 more packets", before, after)
	}
	_, _ = sh(t, dA, nA, "ip link set eth0 address "+hostnet.MAC(a).String())
	if out, code := sh(t, dA, nA, "ping -c 1 -W 2 198.18.30.1"); code != 0 {
		t.Errorf("A's own address and MAC after the attempts: exit %d: %s", code, out)
	}
	if err := lan.WaitPing("198.18.30.11"); err != nil {
		t.Errorf("B after A's attempts: %v", err)
	}
	if tr := trafficOf(t, plane, b); tr.In.Packets == 0 || tr.Out.Packets == 0 {
		t.Errorf("B's traffic counters: %+v", tr)
	}
}
