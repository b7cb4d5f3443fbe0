package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/hostnet/hostnettest"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// TestNetworkThroughTheAPI: pools and addresses through the API on a real
// container in routed mode. A container created with "auto" and "auto6"
// is reached from the client namespace on both; an address added while
// it runs answers at once and one removed stops; bad input is a 4xx
// naming the field with nothing given; destroy gives the addresses back.
func TestNetworkThroughTheAPI(t *testing.T) {
	lxcpath := requireLXC(t)
	client := hostnettest.NewClient(t)
	p := newTestPanel(t, nil, lxcpath)

	v4 := p.expect(p.do(p.admin, "POST", "/api/v1/ip-pools", map[string]any{"name": "main-v4", "cidr": "198.18.20.0/24",
		"mode": "routed", "default": true, "gateway": "198.18.20.1", "nameservers": []string{"198.18.20.53"}}), http.StatusCreated).json(t)
	if v4["shares"] != "253" || v4["share_prefix"] != float64(32) {
		t.Fatalf("pool: %v", v4)
	}
	p.expect(p.do(p.admin, "POST", "/api/v1/ip-pools", map[string]any{"name": "main-v6", "cidr": "2001:db8:10::/48", "default": true}), http.StatusCreated)
	// Overlap, host bits, a second default: refused, naming the field.
	if f := p.expect(p.do(p.admin, "POST", "/api/v1/ip-pools", map[string]any{"name": "x", "cidr": "198.18.20.128/25"}), http.StatusConflict).errorField(t, "cidr"); f == "" {
		t.Error("overlapping pool: no cidr field")
	}
	p.expect(p.do(p.admin, "POST", "/api/v1/ip-pools", map[string]any{"name": "y", "cidr": "198.18.21.1/24"}), http.StatusUnprocessableEntity).errorField(t, "cidr")
	p.expect(p.do(p.admin, "POST", "/api/v1/ip-pools", map[string]any{"name": "z", "cidr": "198.18.22.0/24", "default": true}), http.StatusConflict).errorField(t, "default")

	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true,
		"ip_addresses": []string{"auto", "auto6"}})
	ct := p.expect(p.do(p.admin, "GET", "/api/v1/containers/101", nil), 200).json(t)
	addrs, _ := ct["ip_addresses"].([]any)
	if len(addrs) != 2 || addrs[0] != "198.18.20.2" || addrs[1] != "2001:db8:10::/64" {
		t.Fatalf("ip_addresses = %v, want the first free address of each pool (the gateway skipped, the /64 share)", ct["ip_addresses"])
	}
	if err := client.WaitPing("198.18.20.2"); err != nil {
		t.Errorf("IPv4: %v", err)
	}
	if err := client.WaitPing("2001:db8:10::1"); err != nil {
		t.Errorf("IPv6: %v", err)
	}
	// A host sysctl changed behind the panel's back is reported, and put
	// back at the next address change.
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/all/send_redirects", []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if h := p.expect(p.do("", "GET", "/healthz", nil), 200).json(t); !strings.Contains(fmt.Sprint(h["warnings"]), "send_redirects") {
		t.Errorf("healthz with send_redirects=1: %v", h)
	}
	// The pool's nameserver, for a container created without its own.
	if res, err := p.app.Drv.Exec(context.Background(), "101", []string{"cat", "/etc/resolv.conf"}, lxcdriver.ExecOptions{}); err != nil ||
		!strings.Contains(string(res.Stdout), "nameserver 198.18.20.53") {
		t.Errorf("resolv.conf in the container: %q (%v), want the pool's nameserver", res.Stdout, err)
	}

	// Bad input: 4xx naming the field, nothing given.
	for _, tc := range []struct {
		addr   string
		status int
	}{
		{"203.0.113.9", 422}, {"198.18.20.0", 422}, {"198.18.20.255", 422}, {"198.18.20.1", 422},
		{"198.18.20.2", 409}, {"2001:db8:10:0:1::/80", 422}, {"not-an-ip", 422},
	} {
		r := p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/ip-addresses", map[string]any{"address": tc.addr}), tc.status)
		if r.errorField(t, "address") == "" {
			t.Errorf("%s: no address field in %s", tc.addr, r.Body)
		}
	}
	if n := len(p.expect(p.do(p.admin, "GET", "/api/v1/containers/101/ip-addresses", nil), 200).jsonList(t)); n != 2 {
		t.Fatalf("after refused requests the container has %d addresses, want 2", n)
	}

	// Live: added and answering at once; removed and silent.
	r := p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/ip-addresses", map[string]any{"address": "198.18.20.77"}), http.StatusAccepted).json(t)
	if a, _ := r["address"].(map[string]any); a["address"] != "198.18.20.77" {
		t.Fatalf("add: %v", r)
	}
	p.waitOp(r["operation"].(map[string]any)["id"].(string))
	if err := client.Ping("198.18.20.77"); err != nil {
		t.Errorf("an address added live: %v", err)
	}
	if h := p.expect(p.do("", "GET", "/healthz", nil), 200).json(t); strings.Contains(fmt.Sprint(h["warnings"]), "send_redirects") {
		t.Errorf("healthz after an address change: %v", h)
	}
	p.ok(p.admin, "DELETE", "/api/v1/containers/101/ip-addresses/198.18.20.77", nil)
	if err := client.Ping("198.18.20.77"); err == nil {
		t.Error("an address removed live still answers")
	}
	p.expect(p.do(p.admin, "DELETE", "/api/v1/ip-pools/"+itoa(v4["id"]), nil), http.StatusConflict)

	// A restart of the panel keeps the network; destroy gives it back.
	p.restart()
	if err := client.Ping("198.18.20.2"); err != nil {
		t.Errorf("after a panel restart: %v", err)
	}
	p.ok(p.admin, "DELETE", "/api/v1/containers/101?force=true", nil)
	pool := p.expect(p.do(p.admin, "GET", "/api/v1/ip-pools/"+itoa(v4["id"]), nil), 200).json(t)
	if pool["used"] != float64(0) {
		t.Errorf("after destroy the pool has %v used", pool["used"])
	}
	if out := hostnettest.Run(t, "ip", "-o", "link"); strings.Contains(out, p.app.Cfg.NetNames.HostName(101)+"@") {
		t.Errorf("the container's pair is left after destroy")
	}
	p.expect(p.do(p.admin, "DELETE", "/api/v1/ip-pools/"+itoa(v4["id"]), nil), http.StatusNoContent)
}

func (r response) jsonList(t testing.TB) []any {
	t.Helper()
	var v []any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("not a JSON list: %v: %s", err, r.Body)
	}
	return v
}

// waitOp waits for an operation to finish and requires it to succeed.
func (p *testPanel) waitOp(id string) {
	p.t.Helper()
	if op := p.finished(p.admin, "/api/v1/operations/"+id); op["status"] != db.OpSucceeded {
		p.t.Fatalf("operation %s: %v: %v", id, op["status"], op["error"])
	}
}

func itoa(v any) string { return strconv.FormatFloat(v.(float64), 'f', -1, 64) }
