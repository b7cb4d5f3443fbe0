package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// doKey is do with an Idempotency-Key.
func (p *testPanel) doKey(token, method, path, key string, body any) response {
	p.t.Helper()
	return p.doWith(http.Header{"Idempotency-Key": {key}}, token, method, path, body)
}

func TestIdempotencyKeys(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	billing := p.token(db.RoleBilling, nil)
	body := map[string]any{"template": "busybox", "hostname": "vps1.example.com"}
	first := p.doKey(billing, "POST", "/api/v1/containers", "order-1001", body)
	p.expect(first, http.StatusAccepted)
	again := p.doKey(billing, "POST", "/api/v1/containers", "order-1001", body)
	p.expect(again, http.StatusAccepted)
	if string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" || again.Header.Get("Location") != first.Header.Get("Location") {
		t.Fatalf("replay differs:\n%s\n%s", first.Body, again.Body)
	}
	if n := p.containerCount(); n != 1 {
		t.Fatalf("%d containers after a retried create, want 1", n)
	}
	r := p.doKey(billing, "POST", "/api/v1/containers", "order-1001", map[string]any{"template": "busybox", "hostname": "other.example.com"})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "idempotency_mismatch") {
		t.Fatalf("same key, other body: %d %s", r.Status, r.Body)
	}
	// Keys are per token: another token's same key is a new request.
	other := p.token(db.RoleBilling, nil)
	p.expect(p.doKey(other, "POST", "/api/v1/containers", "order-1001", body), http.StatusAccepted)
	if n := p.containerCount(); n != 2 {
		t.Fatalf("%d containers, want 2", n)
	}
	// Concurrent duplicates: exactly one runs, the others get 409 or the replay.
	var wg sync.WaitGroup
	var created, conflicts atomic.Int32
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := p.doKey(billing, "POST", "/api/v1/containers", "order-2002", map[string]any{"template": "busybox"})
			switch {
			case r.Status == http.StatusAccepted && r.Header.Get("Idempotent-Replayed") == "":
				created.Add(1)
			case r.Status == http.StatusConflict:
				conflicts.Add(1)
			case r.Status == http.StatusAccepted:
			default:
				t.Errorf("concurrent duplicate: %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	if created.Load() != 1 || p.containerCount() != 3 {
		t.Fatalf("concurrent duplicates created %d (containers %d)", created.Load(), p.containerCount())
	}
	t.Logf("concurrent duplicates: %d refused with 409 while the first ran", conflicts.Load())
	// A key still being processed answers 409.
	var tokID int64
	_ = p.app.Pool.QueryRow(context.Background(), `SELECT id FROM api_tokens WHERE role = 'billing' ORDER BY id LIMIT 1`).Scan(&tokID)
	_, _ = p.app.Pool.Exec(context.Background(), `INSERT INTO idempotency_keys (token_id, key, method, path, body_hash) VALUES ($1, 'busy', 'POST', '/api/v1/containers?', $2)`,
		tokID, sha256Of(`{"template":"busybox"}`))
	if r := p.doKey(billing, "POST", "/api/v1/containers", "busy", map[string]any{"template": "busybox"}); r.Status != http.StatusConflict {
		t.Fatalf("in-progress key: %d %s", r.Status, r.Body)
	}
	// A failed validation is remembered too (4xx), not re-run.
	badKey := http.Header{"Idempotency-Key": {"bad-1"}, malformedHeader: {"1"}}
	bad := p.doWith(badKey, billing, "POST", "/api/v1/containers", map[string]any{"ctid": 5, "template": "busybox"})
	if bad.Status != 422 || p.doWith(badKey, billing, "POST", "/api/v1/containers", map[string]any{"ctid": 5, "template": "busybox"}).Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("4xx not replayed: %d", bad.Status)
	}
	// Secrets shown once stay shown once: a replay has them as null, and
	// the remembered answer does not hold them.
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 150, "template": "busybox", "start": true})
	reset := p.expect(p.doKey(billing, "POST", "/api/v1/containers/150/reset-password", "reset-1", nil), http.StatusAccepted).json(t)
	pw, _ := reset["root_password"].(string)
	if pw == "" {
		t.Fatalf("reset-password answered no password: %v", reset)
	}
	replay := p.doKey(billing, "POST", "/api/v1/containers/150/reset-password", "reset-1", nil)
	if got := replay.json(t); replay.Header.Get("Idempotent-Replayed") != "true" || got["root_password"] != nil || got["id"] != reset["id"] {
		t.Fatalf("replayed reset-password: %s", replay.Body)
	}
	c := p.expect(p.do(billing, "POST", "/api/v1/customers", map[string]any{"username": "acme"}), 201).json(t)
	link := p.expect(p.doKey(billing, "POST", "/api/v1/customers/"+jsonNum(c["id"])+"/password-link", "link-1", nil), 201).json(t)
	if got := p.doKey(billing, "POST", "/api/v1/customers/"+jsonNum(c["id"])+"/password-link", "link-1", nil).json(t); got["token"] != nil || got["url"] != nil || got["expires_at"] != link["expires_at"] {
		t.Fatalf("replayed password link: %v", got)
	}
	tok := p.expect(p.doKey(p.admin, "POST", "/api/v1/tokens", "tok-1", map[string]any{"name": "whmcs-2", "role": "billing"}), 201).json(t)
	if got := p.doKey(p.admin, "POST", "/api/v1/tokens", "tok-1", map[string]any{"name": "whmcs-2", "role": "billing"}).json(t); got["token"] != nil || got["id"] != tok["id"] {
		t.Fatalf("replayed token: %v", got)
	}
	var leaked int
	if err := p.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM idempotency_keys
		WHERE position(convert_to($1, 'UTF8') IN response) > 0 OR position(convert_to($2, 'UTF8') IN response) > 0
			OR position(convert_to($3, 'UTF8') IN response) > 0`,
		pw, link["token"], tok["token"]).Scan(&leaked); err != nil || leaked != 0 {
		t.Fatalf("%d remembered answers hold a secret (%v)", leaked, err)
	}
}

func sha256Of(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func TestWebhooksSignedAndRetried(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	var calls atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Ctpanel-Event") == "container.created" && calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // first attempt fails
			return
		}
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
	}))
	defer recv.Close()
	secret := "0123456789abcdef0123"
	p.expect(p.do(p.admin, "POST", "/api/v1/webhooks", map[string]any{"url": "ftp://x", "events": []string{"container.created"}}), 422)
	p.expect(p.doMalformed(p.admin, "POST", "/api/v1/webhooks", map[string]any{"url": recv.URL, "events": []string{"nope"}}), 422)
	hook := p.expect(p.do(p.admin, "POST", "/api/v1/webhooks", map[string]any{"url": recv.URL, "events": []string{"container.created", "container.suspended"}, "secret": secret}), 201).json(t)
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true})
	p.ok(p.admin, "POST", "/api/v1/containers/101/suspend", map[string]any{"mode": "freeze"})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 2 {
		t.Fatalf("receiver got %d deliveries", len(got))
	}
	events := map[string]bool{}
	for i, r := range got {
		ts, _ := strconv.ParseInt(r.Header.Get("X-Ctpanel-Timestamp"), 10, 64)
		m := hmac.New(sha256.New, []byte(secret))
		fmt.Fprintf(m, "%d.", ts)
		m.Write(bodies[i])
		if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); r.Header.Get("X-Ctpanel-Signature") != want || time.Since(time.Unix(ts, 0)) > time.Minute {
			t.Fatalf("bad signature %q (want %q)", r.Header.Get("X-Ctpanel-Signature"), want)
		}
		events[r.Header.Get("X-Ctpanel-Event")] = true
	}
	if !events["container.created"] || !events["container.suspended"] {
		t.Fatalf("events %v", events)
	}
	dels := p.expect(p.do(p.admin, "GET", "/api/v1/webhooks/"+jsonNum(hook["id"])+"/deliveries", nil), 200).json(t)["deliveries"].([]any)
	retried := false
	for _, d := range dels {
		m := d.(map[string]any)
		if m["event"] == "container.created" && m["status"] == "succeeded" && m["attempts"] == float64(2) {
			retried = true
		}
	}
	if !retried {
		t.Fatalf("deliveries %v", dels)
	}
}

func TestProvisioningVerbsOnFake(t *testing.T) {
	fake := lxcdriver.NewFake()
	p := newTestPanel(t, fake, "")
	billing := p.token(db.RoleBilling, nil)
	cust := p.expect(p.do(billing, "POST", "/api/v1/customers", map[string]any{"username": "acme", "external_id": "whmcs-7", "email": "ops@acme.example", "name": "ACME", "password": "s3cret-pass"}), 201).json(t)
	p.expect(p.do(billing, "POST", "/api/v1/customers", map[string]any{"username": "acme2", "external_id": "whmcs-7"}), 409)
	p.expect(p.doMalformed(billing, "POST", "/api/v1/customers", map[string]any{"username": "x y", "email": "nope"}), 422)
	list := p.expect(p.do(billing, "GET", "/api/v1/customers?external_id=whmcs-7", nil), 200).json(t)["customers"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["has_password"] != true {
		t.Fatalf("customers %v", list)
	}
	custTok := p.token(db.RoleCustomer, int64Ptr(int64(cust["id"].(float64))))
	p.expect(p.do(billing, "POST", "/api/v1/plans", map[string]any{"name": "vps-s", "limits": map[string]any{"numproc": "64", "physpages": "256M"}}), 201)
	p.expect(p.do(billing, "POST", "/api/v1/plans", map[string]any{"name": "vps-m", "limits": map[string]any{"numproc": "128", "physpages": "512M"}}), 201)
	p.expect(p.doMalformed(billing, "POST", "/api/v1/containers", map[string]any{"template": "busybox", "owner": "acme", "root_password": "short"}), 422)
	p.expect(p.do(billing, "POST", "/api/v1/containers", map[string]any{"template": "busybox", "owner": "acme", "ssh_keys": []string{"not a key"}}), 422)
	op := p.ok(billing, "POST", "/api/v1/containers", map[string]any{"template": "busybox", "owner": "acme", "plan": "vps-s", "hostname": "vps.acme.example",
		"root_password": "correct horse", "ssh_keys": []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0g6D3sQk8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b test@acme"}, "start": true})
	ref := jsonNum(op["ctid"])
	shadow, _ := fake.ReadFile(context.Background(), ref, "/etc/shadow")
	if !strings.HasPrefix(string(shadow), "root:$6$") || strings.Contains(string(shadow), "correct horse") {
		t.Fatalf("shadow %q", shadow)
	}
	if keys, _ := fake.ReadFile(context.Background(), ref, "/root/.ssh/authorized_keys"); !strings.Contains(string(keys), "test@acme") {
		t.Fatalf("authorized_keys %q", keys)
	}
	var stored int
	_ = p.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM operations WHERE params::text LIKE '%correct horse%'`).Scan(&stored)
	if stored != 0 {
		t.Fatal("the root password was stored in an operation")
	}
	// Suspend: the customer cannot start it again.
	p.ok(billing, "POST", "/api/v1/containers/"+ref+"/suspend", map[string]any{"mode": "stop", "reason": "unpaid"})
	p.expect(p.do(billing, "POST", "/api/v1/containers/"+ref+"/suspend", nil), 409)
	// The customer sees why, and which plan the VPS is on.
	view := p.expect(p.do(custTok, "GET", "/api/v1/containers/"+ref, nil), 200).json(t)
	if sus, _ := view["suspended"].(map[string]any); sus == nil || sus["mode"] != "stop" || sus["reason"] != "unpaid" || sus["since"] == nil || view["plan"] != "vps-s" {
		t.Fatalf("suspended container as shown: %v", view)
	}
	if r := p.do(custTok, "POST", "/api/v1/containers/"+ref+"/start", nil); r.Status != 409 || !strings.Contains(string(r.Body), "suspended") {
		t.Fatalf("customer start of a suspended VPS: %d %s", r.Status, r.Body)
	}
	p.ok(billing, "POST", "/api/v1/containers/"+ref+"/unsuspend", nil)
	if st, _ := fake.State(context.Background(), ref); st != lxcdriver.StateRunning {
		t.Fatalf("after unsuspend: %s", st)
	}
	if view := p.expect(p.do(custTok, "GET", "/api/v1/containers/"+ref, nil), 200).json(t); view["suspended"] != nil {
		t.Fatalf("unsuspended container shows %v", view["suspended"])
	}
	p.ok(custTok, "POST", "/api/v1/containers/"+ref+"/restart", nil)
	p.ok(billing, "POST", "/api/v1/containers/"+ref+"/change-plan", map[string]any{"plan": "vps-m"})
	if rows := beancounters(t, p, ref); rows["numproc"]["limit"] != 128 {
		t.Fatalf("after change-plan: %v", rows["numproc"])
	}
	p.ok(custTok, "POST", "/api/v1/containers/"+ref+"/reinstall", map[string]any{"template": "busybox", "root_password": "another pass"})
	if rows := beancounters(t, p, ref); rows["numproc"]["limit"] != 128 {
		t.Fatalf("after reinstall the plan was reset: %v", rows["numproc"])
	}
	r := p.expect(p.do(billing, "POST", "/api/v1/containers/"+ref+"/reset-password", nil), 202).json(t)
	if pw, _ := r["root_password"].(string); len(pw) < 12 {
		t.Fatalf("generated password %v", r)
	}
	if _, err := p.app.Mon.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	u := p.expect(p.do(billing, "GET", "/api/v1/containers/"+ref+"/usage", nil), 200).json(t)
	if u["samples"] != float64(1) || u["memory_peak_bytes"].(float64) <= 0 {
		t.Fatalf("usage %v", u)
	}
	all := p.expect(p.do(custTok, "GET", "/api/v1/usage", nil), 200).json(t)["usage"].([]any)
	if len(all) != 1 {
		t.Fatalf("customer usage %v", all)
	}
	p.expect(p.do(billing, "DELETE", "/api/v1/customers/"+jsonNum(cust["id"]), nil), 409)
	p.ok(billing, "POST", "/api/v1/containers/"+ref+"/terminate", nil)
	p.expect(p.do(billing, "GET", "/api/v1/containers/"+ref, nil), 404)
	p.expect(p.do(billing, "DELETE", "/api/v1/customers/"+jsonNum(cust["id"]), nil), 204)
	// Tokens: admin only, shown once, revocable.
	p.expect(p.do(billing, "POST", "/api/v1/tokens", map[string]any{"name": "x", "role": "admin"}), 403)
	tok := p.expect(p.do(p.admin, "POST", "/api/v1/tokens", map[string]any{"name": "whmcs", "role": "billing", "expires_in": "720h"}), 201).json(t)
	secret := tok["token"].(string)
	p.expect(p.do(secret, "GET", "/api/v1/containers", nil), 200)
	if l := string(p.expect(p.do(p.admin, "GET", "/api/v1/tokens", nil), 200).Body); strings.Contains(l, secret) {
		t.Fatal("token list shows a secret")
	}
	p.expect(p.do(p.admin, "DELETE", "/api/v1/tokens/"+jsonNum(tok["id"]), nil), 204)
	p.expect(p.do(secret, "GET", "/api/v1/containers", nil), 401)
	var audited int
	_ = p.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE details->>'token' = 'billing-test'`).Scan(&audited)
	if audited < 10 {
		t.Fatalf("%d calls audited with the billing token's name", audited)
	}
}

func int64Ptr(v int64) *int64 { return &v }

// TestWebhookEventsSurviveACrash: an operation or alert whose deliveries
// were never recorded (the panel died between finishing it and recording
// them) gets them at the next start, once; older than the replay window
// it does not.
func TestWebhookEventsSurviveACrash(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	ctx := context.Background()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer recv.Close()
	p.expect(p.do(p.admin, "POST", "/api/v1/webhooks", map[string]any{"url": recv.URL,
		"events": []string{"operation.finished", "container.created", "failcnt.alert"}}), 201)
	op := p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox"})
	opID := op["id"].(string)
	deliveries := func() map[string]int {
		t.Helper()
		rows, err := p.app.Pool.Query(ctx, `SELECT event, count(*) FROM webhook_deliveries
			WHERE payload->'data'->>'operation' = $1 OR payload->>'event' = 'failcnt.alert' GROUP BY event`, opID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var ev string
			var n int
			if err := rows.Scan(&ev, &n); err != nil {
				t.Fatal(err)
			}
			out[ev] = n
		}
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	for deliveries()["container.created"] == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := deliveries(); got["operation.finished"] != 1 || got["container.created"] != 1 {
		t.Fatalf("deliveries of the create: %v", got)
	}
	// The crash: the operation finished, its deliveries were never
	// recorded; an alert likewise; and an operation from two days ago.
	if _, err := p.app.Pool.Exec(ctx, `DELETE FROM webhook_deliveries WHERE payload->'data'->>'operation' = $1`, opID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.app.Pool.Exec(ctx, `UPDATE operations SET events_sent_at = NULL WHERE id = $1`, opID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.app.Store.InsertAlert(ctx, 101, "numproc", 0, 3); err != nil {
		t.Fatal(err)
	}
	old := p.ok(p.admin, "POST", "/api/v1/containers/101/start", nil)
	oldDeliveries := func() int {
		t.Helper()
		var n int
		if err := p.app.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE payload->'data'->>'operation' = $1`, old["id"]).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for oldDeliveries() == 0 && time.Now().Before(deadline.Add(10*time.Second)) {
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := p.app.Pool.Exec(ctx, `DELETE FROM webhook_deliveries WHERE payload->'data'->>'operation' = $1`, old["id"]); err != nil {
		t.Fatal(err)
	}
	if _, err := p.app.Pool.Exec(ctx, `UPDATE operations SET events_sent_at = NULL, finished_at = now() - interval '2 days' WHERE id = $1`, old["id"]); err != nil {
		t.Fatal(err)
	}
	if got := deliveries(); len(got) != 0 {
		t.Fatalf("before the replay: %v", got)
	}
	for range 2 { // a second start replays nothing more
		if err := p.app.Dispatch.Replay(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := deliveries(); got["operation.finished"] != 1 || got["container.created"] != 1 || got["failcnt.alert"] != 1 {
		t.Fatalf("after the replay: %v", got)
	}
	if n := oldDeliveries(); n != 0 {
		t.Fatalf("an operation outside the replay window got %d deliveries", n)
	}
}

// Events that reach the dispatcher together are recorded in one
// transaction: each still once, and only for the webhooks that want it.
func TestWebhookEventsInABurstRecordedOnceEach(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	ctx := context.Background()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer recv.Close()
	p.expect(p.do(p.admin, "POST", "/api/v1/webhooks", map[string]any{"url": recv.URL, "events": []string{"operation.finished"}}), 201)
	p.expect(p.do(p.admin, "POST", "/api/v1/webhooks", map[string]any{"url": recv.URL, "events": []string{"container.created"}}), 201)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Go(func() {
			r := p.do(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101 + i, "template": "busybox"})
			if r.Status != http.StatusAccepted {
				t.Errorf("create %d: %d %s", 101+i, r.Status, r.Body)
				return
			}
			ids[i] = r.json(t)["id"].(string)
		})
	}
	wg.Wait()
	count := func() (map[string]int, int) {
		t.Helper()
		rows, err := p.app.Pool.Query(ctx, `SELECT payload->'data'->>'operation', event, webhook_id FROM webhook_deliveries`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got, byHook := map[string]int{}, map[int64]string{}
		wrongHook := 0
		for rows.Next() {
			var op, ev string
			var hook int64
			if err := rows.Scan(&op, &ev, &hook); err != nil {
				t.Fatal(err)
			}
			got[op+" "+ev]++
			if prev, ok := byHook[hook]; ok && prev != ev {
				wrongHook++
			}
			byHook[hook] = ev
		}
		return got, wrongHook
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, wrongHook := count()
		if wrongHook > 0 {
			t.Fatalf("a webhook got an event it did not ask for: %v", got)
		}
		done := len(got) == 2*len(ids)
		for _, id := range ids {
			for _, ev := range []string{"operation.finished", "container.created"} {
				if n := got[id+" "+ev]; n > 1 {
					t.Fatalf("%s of %s recorded %d times", ev, id, n)
				} else if n == 0 {
					done = false
				}
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries after 20s: %v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var unsent int
	if err := p.app.Pool.QueryRow(ctx, `SELECT count(*) FROM operations WHERE events_sent_at IS NULL AND status IN ('succeeded', 'failed')`).Scan(&unsent); err != nil || unsent != 0 {
		t.Fatalf("%d finished operations not marked dispatched (%v)", unsent, err)
	}
}
