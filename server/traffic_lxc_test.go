package server

import (
	"context"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/hostnet/hostnettest"
)

// TestPlanNetworkAndTrafficThroughTheAPI: a plan's network through the
// API on a real container. Its rates shape TCP (iperf3: 20 Mbit/s, 50
// after the plan changes, live); its customer cannot add an address
// beyond the plan's count, but can see one staff reserved for them; the
// usage API counts what went through the container's interface within
// 1%, and still does after restarting the container and the panel.
func TestPlanNetworkAndTrafficThroughTheAPI(t *testing.T) {
	lxcpath := requireLXC(t)
	client := hostnettest.NewClient(t)
	p := newTestPanel(t, nil, lxcpath)
	p.expect(p.do(p.admin, "POST", "/api/v1/ip-pools", map[string]any{"name": "main-v4", "cidr": "198.18.40.0/24", "default": true}), http.StatusCreated)
	p.expect(p.doMalformed(p.admin, "POST", "/api/v1/plans", `{"name": "net-s", "network": {"ip_addresses": 0, "rate_in_mbit": 0}}`),
		http.StatusUnprocessableEntity).errorField(t, "network.rate_in_mbit")
	plan := p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "net-s",
		"network": map[string]any{"ip_addresses": 1, "rate_in_mbit": 20, "rate_out_mbit": 20}}), http.StatusCreated).json(t)
	if n, _ := plan["network"].(map[string]any); n["rate_in_mbit"] != float64(20) || n["ip_addresses"] != float64(1) {
		t.Fatalf("plan: %v", plan)
	}
	_, alice := p.customer("alice")
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 102, "template": "busybox", "start": true,
		"owner": "alice", "plan": "net-s", "ip_addresses": []string{"auto"}})
	const addr = "198.18.40.1"
	if err := client.WaitPing(addr); err != nil {
		t.Fatal(err)
	}

	// The plan's count: one address, already taken.
	p.expect(p.do(alice, "POST", "/api/v1/containers/102/ip-addresses", map[string]any{"address": "auto"}), http.StatusForbidden)
	// A reservation: staff's, for alice; she sees it, with her own.
	res := p.expect(p.do(p.admin, "POST", "/api/v1/ip-addresses", map[string]any{"customer": "alice"}), http.StatusCreated).json(t)
	if res["address"] != "198.18.40.2" || res["ctid"] != nil || res["customer"] != "alice" {
		t.Fatalf("reservation: %v", res)
	}
	p.expect(p.do(p.admin, "POST", "/api/v1/ip-addresses", map[string]any{"customer": "nobody"}), http.StatusUnprocessableEntity).errorField(t, "customer")
	p.expect(p.do(alice, "POST", "/api/v1/ip-addresses", map[string]any{"customer": "alice"}), http.StatusForbidden)
	if list, _ := p.expect(p.do(alice, "GET", "/api/v1/ip-addresses", nil), 200).json(t)["ip_addresses"].([]any); len(list) != 2 {
		t.Errorf("alice's addresses: %v, want her container's and her reservation", list)
	}
	_, bob := p.customer("bob")
	if list, _ := p.expect(p.do(bob, "GET", "/api/v1/ip-addresses", nil), 200).json(t)["ip_addresses"].([]any); len(list) != 0 {
		t.Errorf("bob sees alice's addresses: %v", list)
	}

	// Rates: the plan's, then changed live through the plan.
	pid := p.initPid(t, "102")
	if in, out := client.Iperf(t, pid, addr, false), client.Iperf(t, pid, addr, true); !near(in, 20, 0.15) || !near(out, 20, 0.15) {
		t.Errorf("20 Mbit/s plan: measured in %.1f, out %.1f Mbit/s", in, out)
	}
	r := p.expect(p.do(p.admin, "PATCH", "/api/v1/plans/net-s", map[string]any{
		"network": map[string]any{"ip_addresses": 1, "rate_in_mbit": 50, "rate_out_mbit": 50}}), http.StatusAccepted).json(t)
	queued, _ := r["operations"].([]any)
	if len(queued) != 1 {
		t.Fatalf("plan change: %v", r)
	}
	p.waitOp(queued[0].(map[string]any)["id"].(string))
	link0 := hostnettest.ReadLinkStats(t, p.app.Cfg.NetNames.HostName(102))
	usage0 := p.settledUsage(t, "102")
	if in, out := client.Iperf(t, pid, addr, false), client.Iperf(t, pid, addr, true); !near(in, 50, 0.15) || !near(out, 50, 0.15) {
		t.Errorf("after the plan's change to 50 Mbit/s: measured in %.1f, out %.1f Mbit/s", in, out)
	}

	// Traffic: what the host end passed, less Ethernet headers, is what
	// the usage API counts.
	link1 := hostnettest.ReadLinkStats(t, p.app.Cfg.NetNames.HostName(102))
	usage1 := p.settledUsage(t, "102")
	wantIn, wantOut := hostnettest.IPBytes(link0, link1)
	gotIn, gotOut := usage1[0]-usage0[0], usage1[1]-usage0[1]
	t.Logf("usage grew by %d in, %d out; the interface passed %d in, %d out", gotIn, gotOut, wantIn, wantOut)
	if wantIn < 10_000_000 || !near(float64(gotIn), float64(wantIn), 0.01) || !near(float64(gotOut), float64(wantOut), 0.01) {
		t.Errorf("usage counted %d in and %d out, the interface %d and %d", gotIn, gotOut, wantIn, wantOut)
	}

	// Across a container restart and a panel restart nothing is lost or
	// counted twice.
	p.ok(p.admin, "POST", "/api/v1/containers/102/restart", nil)
	if err := client.WaitPing(addr); err != nil {
		t.Fatal(err)
	}
	after := p.settledUsage(t, "102")
	if after[0] < usage1[0] || after[0] > usage1[0]+100_000 {
		t.Errorf("usage after a container restart: %v, was %v", after, usage1)
	}
	p.restart()
	again := p.settledUsage(t, "102")
	if again[0] < after[0] || again[0] > after[0]+100_000 {
		t.Errorf("usage after a panel restart: %v, was %v", again, after)
	}
	if err := client.Ping(addr); err != nil {
		t.Errorf("the container after the panel's restart: %v", err)
	}
}

func near(got, want, frac float64) bool { return math.Abs(got-want) <= want*frac }

// settledUsage is the container's network_in_bytes and network_out_bytes
// once two reads a fold apart agree.
func (p *testPanel) settledUsage(t *testing.T, ref string) [2]uint64 {
	t.Helper()
	read := func() [2]uint64 {
		u := p.expect(p.do(p.admin, "GET", "/api/v1/containers/"+ref+"/usage?from="+time.Now().Add(-24*time.Hour).UTC().Format(time.RFC3339), nil), 200).json(t)
		in, _ := u["network_in_bytes"].(float64)
		out, _ := u["network_out_bytes"].(float64)
		return [2]uint64{uint64(in), uint64(out)}
	}
	last := read()
	for range 30 {
		time.Sleep(1500 * time.Millisecond)
		now := read()
		if now == last {
			return now
		}
		last = now
	}
	t.Fatalf("usage of %s never settled: %v", ref, last)
	return last
}

// initPid is the running container's init.
func (p *testPanel) initPid(t *testing.T, name string) int {
	t.Helper()
	info, err := p.app.Drv.Info(context.Background(), name)
	if err != nil || info.InitPID == 0 {
		t.Fatalf("container %s: %+v %v", name, info, err)
	}
	return info.InitPID
}
