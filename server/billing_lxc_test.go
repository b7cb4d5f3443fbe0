package server

import (
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/db"
)

// TestRealBillingLifecycle is the billing issue's acceptance on a real
// container: a billing token creates a customer and a VPS on a plan,
// suspends it (the customer's start is refused), unsuspends, changes plan
// (the cgroup limits change live), reinstalls, reads usage and terminates;
// a create sent twice with one Idempotency-Key makes one container.
func TestRealBillingLifecycle(t *testing.T) {
	lxcpath := requireLXC(t)
	p := newTestPanel(t, nil, lxcpath)
	billing := p.token(db.RoleBilling, nil)
	cust := p.expect(p.do(billing, "POST", "/api/v1/customers", map[string]any{"username": "acme", "external_id": "whmcs-1", "email": "ops@acme.example"}), 201).json(t)
	custTok := p.token(db.RoleCustomer, int64Ptr(int64(cust["id"].(float64))))
	p.expect(p.do(billing, "POST", "/api/v1/plans", map[string]any{"name": "vps-s", "limits": map[string]any{"numproc": "64", "physpages": "64M"}}), 201)
	p.expect(p.do(billing, "POST", "/api/v1/plans", map[string]any{"name": "vps-m", "limits": map[string]any{"numproc": "128", "physpages": "128M", "cpulimit": 100}}), 201)

	create := map[string]any{"ctid": 150, "template": "busybox", "owner": "acme", "plan": "vps-s", "hostname": "vps.acme.example",
		"root_password": "correct horse", "start": true}
	first := p.doKey(billing, "POST", "/api/v1/containers", "whmcs-order-1", create)
	again := p.doKey(billing, "POST", "/api/v1/containers", "whmcs-order-1", create)
	if first.Status != 202 || again.Status != 202 || again.Header.Get("Location") != first.Header.Get("Location") {
		t.Fatalf("idempotent create: %d %d %s", first.Status, again.Status, again.Body)
	}
	if n := p.containerCount(); n != 1 {
		t.Fatalf("%d containers after a retried create", n)
	}
	if names := lxcNames(t, lxcpath); len(names) > 1 {
		t.Fatalf("lxc-ls %v after a retried create", names)
	}
	op := p.expect(p.do(billing, "GET", first.Header.Get("Location")+"/wait?timeout=60", nil), 200).json(t)
	if op["status"] != "succeeded" {
		t.Fatalf("create: %v", op)
	}
	if got := readCgroup(t, "pids", "150", "pids.max"); got != "64" {
		t.Fatalf("plan vps-s: pids.max %s", got)
	}
	ex := p.expect(p.do(custTok, "POST", "/api/v1/containers/150/exec", map[string]any{"command": []string{"sh", "-c", "hostname; cut -c1-8 /etc/shadow"}}), 200).json(t)
	if ex["stdout"] != "vps.acme.example\nroot:$6$\n" {
		t.Fatalf("inside the new VPS: %q", ex["stdout"])
	}

	p.ok(billing, "POST", "/api/v1/containers/150/suspend", map[string]any{"mode": "stop", "reason": "invoice overdue"})
	if st := lxcState(t, lxcpath, "150"); st != "stopped" {
		t.Fatalf("suspended VPS is %s", st)
	}
	if r := p.do(custTok, "POST", "/api/v1/containers/150/start", nil); r.Status != http.StatusConflict || !strings.Contains(string(r.Body), `"suspended"`) {
		t.Fatalf("customer start while suspended: %d %s", r.Status, r.Body)
	}
	p.ok(billing, "POST", "/api/v1/containers/150/unsuspend", nil)
	if st := lxcState(t, lxcpath, "150"); st != "running" {
		t.Fatalf("unsuspended VPS is %s", st)
	}

	p.ok(billing, "POST", "/api/v1/containers/150/change-plan", map[string]any{"plan": "vps-m"})
	if pids, mem := readCgroup(t, "pids", "150", "pids.max"), readCgroup(t, "memory", "150", "memory.limit_in_bytes"); pids != "128" || mem != "134217728" {
		t.Fatalf("change-plan live: pids.max %s, memory.limit_in_bytes %s", pids, mem)
	}
	// What the customer sees inside: the plan's memory in /proc/meminfo
	// (lxcfs), its one CPU in nproc (the cpuset).
	ex = p.expect(p.do(custTok, "POST", "/api/v1/containers/150/exec", map[string]any{"command": []string{"sh", "-c",
		"awk '$1 == \"MemTotal:\" {print $2}' /proc/meminfo; nproc"}}), 200).json(t)
	if want := "131072\n1\n"; ex["stdout"] != want && runtime.NumCPU() > 1 {
		t.Fatalf("MemTotal and nproc inside the vps-m VPS: %q, want %q", ex["stdout"], want)
	}

	// Reinstall: fresh rootfs, same CTID, hostname and limits.
	p.expect(p.do(custTok, "POST", "/api/v1/containers/150/exec", map[string]any{"command": []string{"touch", "/root/old-file"}}), 200)
	p.ok(billing, "POST", "/api/v1/containers/150/reinstall", map[string]any{"template": "busybox", "root_password": "battery staple"})
	ex = p.expect(p.do(custTok, "POST", "/api/v1/containers/150/exec", map[string]any{"command": []string{"sh", "-c", "hostname; ls /root"}}), 200).json(t)
	if ex["stdout"] != "vps.acme.example\n" {
		t.Fatalf("after reinstall: %q", ex["stdout"])
	}
	if got := readCgroup(t, "pids", "150", "pids.max"); got != "128" {
		t.Fatalf("after reinstall pids.max %s: the plan was reset", got)
	}

	if _, err := p.app.Mon.SampleOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	u := p.expect(p.do(billing, "GET", "/api/v1/containers/150/usage", nil), 200).json(t)
	if u["samples"].(float64) < 1 || u["memory_peak_bytes"].(float64) <= 0 {
		t.Fatalf("usage %v", u)
	}

	p.ok(billing, "POST", "/api/v1/containers/150/terminate", nil)
	if names := lxcNames(t, lxcpath); len(names) != 0 {
		t.Fatalf("after terminate lxc-ls lists %v", names)
	}
	p.expect(p.do(billing, "GET", "/api/v1/containers/150", nil), 404)
}
