package hostnet_test

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/hostnet"
	"github.com/ctpanel/ctpanel/hostnet/hostnettest"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
)

// testNames are interface and table names of this test process's own.
func testNames() hostnet.Names {
	tag := strconv.Itoa(os.Getpid() % 1000)
	return hostnet.Names{Host: "tv" + tag + "x", Peer: "tc" + tag + "x", Shaper: "ti" + tag + "x",
		Table: "ctpanel_test" + tag, NeighProto: hostnet.RouteProtocol + 2}
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
	plane, names := newPlane(t)
	client := hostnettest.NewClient(t)
	const ctid = 99501
	spec := hostnet.Spec{CTID: ctid, Shares: []netip.Prefix{
		netip.MustParsePrefix("198.18.10.5/32"), netip.MustParsePrefix("2001:db8:10:5::/64")}}
	d, name := startContainer(t, plane, spec)

	ping, waitPing := client.Ping, client.WaitPing
	if err := waitPing("198.18.10.5"); err != nil {
		t.Errorf("client pings the container's IPv4 address: %v", err)
	}
	if err := waitPing("2001:db8:10:5::1"); err != nil {
		t.Errorf("client pings the container's IPv6 address: %v", err)
	}
	if out, code := sh(t, d, name, "ping -c 1 -W 2 "+hostnettest.ClientV4+" && ping -c 1 -W 2 "+hostnettest.ClientV6); code != 0 {
		t.Errorf("container pings the client: exit %d: %s", code, out)
	}
	// TCP: a listener in the container answers a connection from the client.
	if out, code := sh(t, d, name, "(echo hello-from-ct | nc -l -p 8080 >/dev/null 2>&1 &) ; sleep 0.3; echo started"); code != 0 {
		t.Fatalf("listener: %d %s", code, out)
	}
	out, err := client.Exec("busybox", "nc", "-w", "3", "198.18.10.5", "8080")
	if err != nil || !strings.Contains(string(out), "hello-from-ct") {
		t.Errorf("TCP from the client to the container: %v: %q", err, out)
	}

	// Spoofing: an address the container gives itself reaches nobody.
	before, err := plane.Dropped(context.Background(), ctid)
	if err != nil {
		t.Fatal(err)
	}
	if out, code := sh(t, d, name, "ip addr add 198.18.10.99/32 dev eth0 && ping -c 2 -W 1 -I 198.18.10.99 "+hostnettest.ClientV4); code == 0 {
		t.Errorf("ping from a foreign source address got through: %s", out)
	}
	after, err := plane.Dropped(context.Background(), ctid)
	if err != nil {
		t.Fatal(err)
	}
	if after.Packets < before.Packets+2 {
		t.Errorf("dropped from the container: %+v then %+v, want 2 more packets", before, after)
	}
	if out, code := sh(t, d, name, "ping -c 1 -W 2 -I 198.18.10.5 "+hostnettest.ClientV4); code != 0 {
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
	if out := hostnettest.Run(t, "ip", "-o", "link", "show"); strings.Contains(out, names.HostName(ctid)+"@") || strings.Contains(out, names.HostName(ctid)+":") {
		t.Errorf("the pair is left after Sync(nil): %s", out)
	}
	if out := hostnettest.Run(t, "ip", "route", "show", "proto", strconv.Itoa(hostnet.RouteProtocol)); strings.Contains(out, "198.18.10.5") {
		t.Errorf("a route is left after Sync(nil): %s", out)
	}
	if out, err := exec.Command("nft", "list", "table", "inet", names.Table).CombinedOutput(); err == nil {
		t.Errorf("the panel's table is left after Sync(nil), with no container to filter: %s", out)
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
