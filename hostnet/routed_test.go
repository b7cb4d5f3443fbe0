package hostnet_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/hostnet"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
)

// The test network, in the documentation ranges only: the "provider's
// router" is a network namespace of the test's (the client) on a link
// 198.19.255.0/30 and 2001:db8:ffff::/64 to the host; it routes the
// pools 198.18.10.0/24 and 2001:db8:10::/48 to the host.
const (
	clientV4 = "198.19.255.1"
	uplinkV4 = "198.19.255.2"
	clientV6 = "2001:db8:ffff::1"
	uplinkV6 = "2001:db8:ffff::2"
)

// testNames are interface and table names of this test process's own.
func testNames() hostnet.Names {
	tag := strconv.Itoa(os.Getpid() % 1000)
	return hostnet.Names{Host: "tv" + tag + "x", Peer: "tc" + tag + "x", Table: "ctpanel_test" + tag}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// keepSysctls puts the host's forwarding settings back after the test.
func keepSysctls(t *testing.T) {
	for k := range hostnet.HostSysctls {
		p := filepath.Join("/proc/sys", k)
		old, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.WriteFile(p, old, 0o644) })
	}
}

// clientNS makes the client namespace and its link to the host; the
// test's cleanup removes both.
func clientNS(t *testing.T) string {
	t.Helper()
	ns := "ctpt-client-" + strconv.Itoa(os.Getpid())
	up := "tu" + strconv.Itoa(os.Getpid()%100000)
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", up).Run()
		_ = exec.Command("ip", "netns", "del", ns).Run()
	})
	run(t, "ip", "link", "add", up, "type", "veth", "peer", "name", "eth0", "netns", ns)
	run(t, "ip", "addr", "add", uplinkV4+"/30", "dev", up)
	run(t, "ip", "addr", "add", uplinkV6+"/64", "dev", up, "nodad")
	run(t, "ip", "link", "set", up, "up")
	in := func(args ...string) { run(t, "ip", append([]string{"netns", "exec", ns, "ip"}, args...)...) }
	in("link", "set", "lo", "up")
	in("addr", "add", clientV4+"/30", "dev", "eth0")
	in("addr", "add", clientV6+"/64", "dev", "eth0", "nodad")
	in("link", "set", "eth0", "up")
	in("route", "add", "198.18.10.0/24", "via", uplinkV4)
	in("-6", "route", "add", "2001:db8:10::/48", "via", uplinkV6)
	return ns
}

// inClient runs a command in the client namespace.
func inClient(ns string, args ...string) ([]byte, error) {
	return exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
}

func startContainer(t *testing.T, plane *hostnet.Linux, spec hostnet.Spec) (*liblxc.Driver, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	d, err := liblxc.New(dir)
	if err != nil {
		t.Fatalf("driver: %v", err)
	}
	name := strconv.Itoa(spec.CTID)
	ctx := context.Background()
	idmap := &lxcdriver.IDMap{HostID: 3_700_000_000 + uint32(spec.CTID%1000)*65536, Size: 65536}
	if err := d.Create(ctx, name, lxcdriver.CreateOptions{Template: "busybox", IDMap: idmap,
		Config: []lxcdriver.ConfigItem{{Key: "lxc.net.0.type", Value: "empty"}}}); err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() {
		_ = d.Stop(context.Background(), name)
		if err := d.Destroy(context.Background(), name); err != nil {
			t.Errorf("destroy: %v", err)
		}
	})
	items, err := plane.Up(ctx, spec)
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	if err := d.Start(ctx, name, items...); err != nil {
		t.Fatalf("start: %v", err)
	}
	return d, name
}

func sh(t *testing.T, d *liblxc.Driver, name, script string) (string, int) {
	t.Helper()
	res, err := d.Exec(context.Background(), name, []string{"/bin/sh", "-c", script}, lxcdriver.ExecOptions{})
	if err != nil {
		t.Fatalf("exec %q: %v", script, err)
	}
	return string(res.Stdout) + string(res.Stderr), res.ExitCode
}

// TestRoutedContainer: a container with an IPv4 address and an IPv6 /64
// in routed mode is reached from the client namespace (ping both ways, a
// TCP connection to a listener inside); an address it adds itself
// reaches nobody and its packets are counted as dropped, while its own
// still work; an address added live works at once and one removed live
// stops; Sync removes the pair, routes and filter of a container it is
// not given.
func TestRoutedContainer(t *testing.T) {
	if testing.Short() {
		t.Skip("makes network namespaces and a real container")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root: run make test")
	}
	keepSysctls(t)
	ns := clientNS(t)
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
	const ctid = 99501
	spec := hostnet.Spec{CTID: ctid, Shares: []netip.Prefix{
		netip.MustParsePrefix("198.18.10.5/32"), netip.MustParsePrefix("2001:db8:10:5::/64")}}
	d, name := startContainer(t, plane, spec)

	ping := func(args ...string) error {
		out, err := inClient(ns, append([]string{"busybox", "ping", "-c", "1", "-W", "2"}, args...)...)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	// The guest's IPv6 address is usable once its duplicate address
	// detection is over (a second or so after the start).
	waitPing := func(addr string) error {
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := ping(addr)
			if err == nil || time.Now().After(deadline) {
				return err
			}
		}
	}
	if err := waitPing("198.18.10.5"); err != nil {
		t.Errorf("client pings the container's IPv4 address: %v", err)
	}
	if err := waitPing("2001:db8:10:5::1"); err != nil {
		t.Errorf("client pings the container's IPv6 address: %v", err)
	}
	if out, code := sh(t, d, name, "ping -c 1 -W 2 "+clientV4+" && ping -c 1 -W 2 "+clientV6); code != 0 {
		t.Errorf("container pings the client: exit %d: %s", code, out)
	}
	// TCP: a listener in the container answers a connection from the client.
	if out, code := sh(t, d, name, "(echo hello-from-ct | nc -l -p 8080 >/dev/null 2>&1 &) ; sleep 0.3; echo started"); code != 0 {
		t.Fatalf("listener: %d %s", code, out)
	}
	out, err := inClient(ns, "busybox", "nc", "-w", "3", "198.18.10.5", "8080")
	if err != nil || !strings.Contains(string(out), "hello-from-ct") {
		t.Errorf("TCP from the client to the container: %v: %q", err, out)
	}

	// Spoofing: an address the container gives itself reaches nobody.
	before, err := plane.Dropped(context.Background(), ctid)
	if err != nil {
		t.Fatal(err)
	}
	if out, code := sh(t, d, name, "ip addr add 198.18.10.99/32 dev eth0 && ping -c 2 -W 1 -I 198.18.10.99 "+clientV4); code == 0 {
		t.Errorf("ping from a foreign source address got through: %s", out)
	}
	after, err := plane.Dropped(context.Background(), ctid)
	if err != nil {
		t.Fatal(err)
	}
	if after.Packets < before.Packets+2 {
		t.Errorf("dropped from the container: %+v then %+v, want 2 more packets", before, after)
	}
	if out, code := sh(t, d, name, "ping -c 1 -W 2 -I 198.18.10.5 "+clientV4); code != 0 {
		t.Errorf("the container's own address after the spoofing attempt: exit %d: %s", code, out)
	}

	// Live: one more address, at once; the foreign one goes with it.
	init := initPid(t, d, name)
	spec.Shares = append(spec.Shares, netip.MustParsePrefix("198.18.10.6/32"))
	if err := plane.Live(context.Background(), spec, init); err != nil {
		t.Fatalf("live add: %v", err)
	}
	if err := ping("198.18.10.6"); err != nil {
		t.Errorf("client pings an address added live: %v", err)
	}
	if out, _ := sh(t, d, name, "ip -o addr show dev eth0"); strings.Contains(out, "198.18.10.99") || !strings.Contains(out, "198.18.10.6/32") {
		t.Errorf("eth0 after the live change: %s", out)
	}
	spec.Shares = spec.Shares[:2]
	if err := plane.Live(context.Background(), spec, init); err != nil {
		t.Fatalf("live remove: %v", err)
	}
	if err := ping("198.18.10.6"); err == nil {
		t.Error("an address removed live still answers")
	}
	if err := ping("198.18.10.5"); err != nil {
		t.Errorf("the remaining address after a live removal: %v", err)
	}

	// Restart: the same addresses come back, the drop counter is kept.
	if err := d.Stop(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	items, err := plane.Up(context.Background(), spec)
	if err != nil {
		t.Fatalf("up again: %v", err)
	}
	if err := d.Start(context.Background(), name, items...); err != nil {
		t.Fatalf("start again: %v", err)
	}
	if err := waitPing("198.18.10.5"); err != nil {
		t.Errorf("after a restart: %v", err)
	}
	if err := waitPing("2001:db8:10:5::1"); err != nil {
		t.Errorf("IPv6 after a restart: %v", err)
	}
	if c, _ := plane.Dropped(context.Background(), ctid); c.Packets < after.Packets {
		t.Errorf("drop counter after a restart %+v, was %+v", c, after)
	}

	// Sync without the container: its pair, routes and filter go.
	if err := d.Stop(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	if err := plane.Sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "ip", "-o", "link", "show"); strings.Contains(out, names.HostName(ctid)+"@") || strings.Contains(out, names.HostName(ctid)+":") {
		t.Errorf("the pair is left after Sync(nil): %s", out)
	}
	if out := run(t, "ip", "route", "show", "proto", strconv.Itoa(hostnet.RouteProtocol)); strings.Contains(out, "198.18.10.5") {
		t.Errorf("a route is left after Sync(nil): %s", out)
	}
	if out := run(t, "nft", "list", "table", "inet", names.Table); strings.Contains(out, names.HostName(ctid)) {
		t.Errorf("the filter still names the container after Sync(nil): %s", out)
	}
}

func initPid(t *testing.T, d *liblxc.Driver, name string) int {
	t.Helper()
	info, err := d.Info(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return info.InitPID
}
