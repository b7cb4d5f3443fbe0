package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

func TestCreateRejectsBadInput(t *testing.T) {
	fake := lxcdriver.NewFake()
	p := newTestPanel(t, fake, "")
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "name": "web1", "template": "busybox"})

	cases := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"reserved ctid", `{"ctid":100,"template":"busybox"}`, 422, "ctid"},
		{"zero ctid", `{"ctid":0,"template":"busybox"}`, 422, "ctid"},
		{"negative ctid", `{"ctid":-7,"template":"busybox"}`, 422, "ctid"},
		{"huge ctid", `{"ctid":4000000000,"template":"busybox"}`, 422, "ctid"},
		{"ctid as string", `{"ctid":"abc","template":"busybox"}`, 400, "ctid"},
		{"duplicate ctid", `{"ctid":101,"template":"busybox"}`, 409, "ctid"},
		{"duplicate name", `{"ctid":102,"name":"web1","template":"busybox"}`, 409, "name"},
		{"name with slash", `{"name":"a/b","template":"busybox"}`, 422, "name"},
		{"name with dotdot", `{"name":"..","template":"busybox"}`, 422, "name"},
		{"name traversal", `{"name":"x..y","template":"busybox"}`, 422, "name"},
		{"name with space", `{"name":"a b","template":"busybox"}`, 422, "name"},
		{"name with control char", `{"name":"a\u0007b","template":"busybox"}`, 422, "name"},
		{"name too long", `{"name":"` + strings.Repeat("a", 64) + `","template":"busybox"}`, 422, "name"},
		{"name all digits", `{"name":"12345","template":"busybox"}`, 422, "name"},
		{"empty name", `{"name":"","template":"busybox"}`, 422, "name"},
		{"unknown template", `{"template":"windows95"}`, 422, "template"},
		{"missing template", `{"ctid":150}`, 422, "template"},
		{"bad hostname", `{"template":"busybox","hostname":"-bad-.example.com"}`, 422, "hostname"},
		{"hostname with underscore", `{"template":"busybox","hostname":"a_b"}`, 422, "hostname"},
		{"bad nameserver", `{"template":"busybox","nameserver":"not-an-ip"}`, 422, "nameserver"},
		{"unknown owner", `{"template":"busybox","owner":"nobody"}`, 422, "owner"},
		{"unknown field", `{"template":"busybox","raw_lxc":"lxc.cap.drop ="}`, 400, "raw_lxc"},
		{"malformed JSON", `{"template":`, 400, ""},
		{"not an object", `[1,2]`, 400, "body"},
		{"trailing data", `{"template":"busybox"} {}`, 400, ""},
		{"empty body", ``, 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := p.doMalformed(p.admin, "POST", "/api/v1/containers", tc.body)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			e, _ := r.json(t)["error"].(map[string]any)
			if e == nil || e["code"] == "" || e["message"] == "" {
				t.Fatalf("no error envelope: %s", r.Body)
			}
			if tc.field != "" && r.errorField(t, tc.field) == "" {
				t.Fatalf("error does not name field %q: %s", tc.field, r.Body)
			}
		})
	}
	if n := p.containerCount(); n != 1 {
		t.Fatalf("bad input made containers: %d rows, want 1", n)
	}
	names, _ := fake.List(context.Background())
	if len(names) != 1 || names[0] != "101" {
		t.Fatalf("liblxc (fake) has %v, want only 101", names)
	}
}

func TestLifecycleOnFakeDriver(t *testing.T) {
	fake := lxcdriver.NewFake()
	p := newTestPanel(t, fake, "")
	op := p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"name": "web1", "hostname": "web1.example.com", "template": "busybox", "start": true})
	if op["ctid"] != float64(101) {
		t.Fatalf("first free CTID = %v, want 101", op["ctid"])
	}
	ct := p.expect(p.do(p.admin, "GET", "/api/v1/containers/web1", nil), 200).json(t)
	if ct["status"] != "running" || ct["ctid"] != float64(101) || ct["hostname"] != "web1.example.com" {
		t.Fatalf("container after create+start: %v", ct)
	}
	if h, _ := fake.ConfigItem(context.Background(), "101", "lxc.uts.name"); h != "web1.example.com" {
		t.Fatalf("lxc.uts.name = %q", h)
	}
	if n, _ := fake.ConfigItem(context.Background(), "101", "lxc.net.0.type"); n != "empty" {
		t.Fatalf("lxc.net.0.type = %q, want empty", n)
	}
	for _, step := range []struct{ action, want string }{
		{"freeze", "frozen"}, {"unfreeze", "running"}, {"stop", "stopped"}, {"start", "running"}, {"restart", "running"},
	} {
		p.ok(p.admin, "POST", "/api/v1/containers/101/"+step.action, nil)
		if st, _ := fake.State(context.Background(), "101"); string(st) != step.want {
			t.Fatalf("after %s: %s, want %s", step.action, st, step.want)
		}
	}
	r := p.expect(p.do(p.admin, "POST", "/api/v1/containers/web1/exec", map[string]any{"command": []string{"sh", "-c", "exit 3"}}), 200).json(t)
	if r["exit_code"] != float64(3) {
		t.Fatalf("exec exit code %v", r["exit_code"])
	}
	// A second container takes the next free CTID; PATCH renames and rehosts.
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"template": "busybox"})
	p.expect(p.do(p.admin, "PATCH", "/api/v1/containers/102", map[string]any{"name": "web1"}), http.StatusConflict)
	got := p.expect(p.do(p.admin, "PATCH", "/api/v1/containers/102", map[string]any{"name": "db1", "onboot": true, "description": "database"}), 200).json(t)
	if got["name"] != "db1" || got["onboot"] != true {
		t.Fatalf("patch: %v", got)
	}
	p.ok(p.admin, "POST", "/api/v1/containers/db1/start", nil)
	p.ok(p.admin, "PATCH", "/api/v1/containers/db1", map[string]any{"hostname": "db1.example.com", "nameserver": []string{"192.0.2.53"}})
	res, _ := fake.Exec(context.Background(), "102", []string{"cat", "/etc/resolv.conf"}, lxcdriver.ExecOptions{})
	if !strings.Contains(string(res.Stdout), "nameserver 192.0.2.53") {
		t.Fatalf("resolv.conf: %q", res.Stdout)
	}
	// Clone needs a stopped source.
	p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/clone", map[string]any{"ctid": 150}), http.StatusConflict)
	p.ok(p.admin, "POST", "/api/v1/containers/101/stop", nil)
	// Every container is unprivileged and an overlay cannot be idmapped:
	// a snapshot clone is refused, naming the field.
	if e := p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/clone", map[string]any{"ctid": 150, "snapshot": true}), 422).json(t); !strings.Contains(fmt.Sprint(e), "snapshot") {
		t.Fatalf("snapshot clone refusal: %v", e)
	}
	p.ok(p.admin, "POST", "/api/v1/containers/101/clone", map[string]any{"ctid": 150, "name": "web2"})
	clone := p.expect(p.do(p.admin, "GET", "/api/v1/containers/web2", nil), 200).json(t)
	if clone["origin_ctid"] != float64(101) || clone["snapshot"] != false || clone["status"] != "stopped" || clone["privileged"] != false {
		t.Fatalf("clone: %v", clone)
	}
	p.ok(p.admin, "DELETE", "/api/v1/containers/150", nil)
	// Destroy refuses a running container unless forced.
	p.ok(p.admin, "POST", "/api/v1/containers/101/start", nil)
	p.expect(p.do(p.admin, "DELETE", "/api/v1/containers/101", nil), http.StatusConflict)
	p.ok(p.admin, "DELETE", "/api/v1/containers/101?force=true", nil)
	p.expect(p.do(p.admin, "GET", "/api/v1/containers/101", nil), http.StatusNotFound)
	if _, err := fake.State(context.Background(), "101"); err == nil {
		t.Fatal("101 still exists in the driver")
	}
	ops := p.expect(p.do(p.admin, "GET", "/api/v1/containers/102/operations", nil), 200).json(t)
	if list, _ := ops["operations"].([]any); len(list) < 2 {
		t.Fatalf("operations of 102: %v", ops)
	}
}

func TestOperationsOnOneContainerRunInOrder(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox"})
	var locs []string
	for _, a := range []string{"start", "freeze", "unfreeze", "stop", "start", "freeze"} {
		r := p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/"+a, nil), http.StatusAccepted)
		locs = append(locs, r.Header.Get("Location"))
	}
	var prevFinish string
	for i, loc := range locs {
		op := p.expect(p.do(p.admin, "GET", loc+"/wait?timeout=30", nil), 200).json(t)
		if op["status"] != "succeeded" {
			t.Fatalf("op %d (%v): %v %v", i, op["action"], op["status"], op["error"])
		}
		started, _ := op["started_at"].(string)
		if prevFinish != "" && started < prevFinish {
			t.Fatalf("op %d started at %s before the previous finished at %s", i, started, prevFinish)
		}
		prevFinish, _ = op["finished_at"].(string)
	}
	ct := p.expect(p.do(p.admin, "GET", "/api/v1/containers/101", nil), 200).json(t)
	if ct["status"] != "frozen" {
		t.Fatalf("final status %v, want frozen", ct["status"])
	}
	// A failing action fails its operation with the reason, not the API.
	p.ok(p.admin, "POST", "/api/v1/containers/101/stop", nil)
	op := p.run(p.admin, "POST", "/api/v1/containers/101/freeze", nil)
	if op["status"] != "failed" || !strings.Contains(op["error"].(string), "not running") {
		t.Fatalf("freeze of a stopped container: %v", op)
	}
}

func TestAuthAndTenantIsolation(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	alice, aliceTok := p.customer("alice")
	_, bobTok := p.customer("bob")
	_ = alice
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "name": "alice1", "template": "busybox", "owner": "alice", "start": true})
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 102, "template": "busybox"})

	p.expect(p.do("", "GET", "/api/v1/containers", nil), http.StatusUnauthorized)
	p.expect(p.do("ctp_wrong", "GET", "/api/v1/containers", nil), http.StatusUnauthorized)
	p.expect(p.do("", "GET", "/healthz", nil), http.StatusOK)
	p.expect(p.do("", "GET", "/api/v1/openapi.json", nil), http.StatusOK)

	list := p.expect(p.do(aliceTok, "GET", "/api/v1/containers", nil), 200).json(t)["containers"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["ctid"] != float64(101) {
		t.Fatalf("alice sees %v", list)
	}
	if l := p.expect(p.do(bobTok, "GET", "/api/v1/containers", nil), 200).json(t)["containers"].([]any); len(l) != 0 {
		t.Fatalf("bob sees %v", l)
	}
	p.expect(p.do(aliceTok, "GET", "/api/v1/containers/alice1", nil), http.StatusOK)
	p.ok(aliceTok, "POST", "/api/v1/containers/alice1/restart", nil)
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/api/v1/containers/alice1", ""}, {"GET", "/api/v1/containers/101", ""},
		{"POST", "/api/v1/containers/101/stop", ""}, {"POST", "/api/v1/containers/101/exec", `{"command":["true"]}`},
		{"PATCH", "/api/v1/containers/101", `{"hostname":"x"}`}, {"GET", "/api/v1/containers/101/operations", ""},
	} {
		if r := p.do(bobTok, tc.method, tc.path, tc.body); r.Status != http.StatusNotFound {
			t.Fatalf("bob %s %s: %d, want 404: %s", tc.method, tc.path, r.Status, r.Body)
		}
	}
	for _, tc := range []struct{ method, path string }{
		{"POST", "/api/v1/containers"}, {"DELETE", "/api/v1/containers/101"},
		{"POST", "/api/v1/containers/101/freeze"}, {"POST", "/api/v1/containers/101/clone"},
	} {
		// {} is no valid create or clone: the refusal comes first.
		if r := p.doMalformed(aliceTok, tc.method, tc.path, `{}`); r.Status != http.StatusForbidden {
			t.Fatalf("alice %s %s: %d, want 403: %s", tc.method, tc.path, r.Status, r.Body)
		}
	}
	r := p.expect(p.do(aliceTok, "PATCH", "/api/v1/containers/101", map[string]any{"onboot": true}), 403)
	if r.errorField(t, "onboot") == "" {
		t.Fatalf("onboot refusal does not name the field: %s", r.Body)
	}
	// Operations of another tenant's container are invisible too.
	r = p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/stop", nil), http.StatusAccepted)
	if got := p.do(bobTok, "GET", r.Header.Get("Location"), nil); got.Status != http.StatusNotFound {
		t.Fatalf("bob reads alice's operation: %d", got.Status)
	}
}
