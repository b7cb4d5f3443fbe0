package server

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

func TestLimitsRejectBadValuesAndChangeNothing(t *testing.T) {
	fake := lxcdriver.NewFake()
	p := newTestPanel(t, fake, "")
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true})
	p.ok(p.admin, "PATCH", "/api/v1/containers/101/limits", map[string]any{"numproc": "100:100", "physpages": "256M:512M"})
	before := string(p.expect(p.do(p.admin, "GET", "/api/v1/containers/101/limits", nil), 200).Body)

	for _, tc := range []struct {
		name, body string
		status     int
		field      string
	}{
		{"barrier above limit", `{"physpages":"1G:512M"}`, 422, "physpages"},
		{"numproc barrier differs", `{"numproc":"100:200"}`, 422, "numproc"},
		{"negative", `{"numproc":"-1"}`, 422, "numproc"},
		{"not a number", `{"physpages":"lots"}`, 422, "physpages"},
		{"absurd", `{"physpages":"99999999999999999999"}`, 422, "physpages"},
		{"above the host", `{"physpages":"64T"}`, 422, "physpages"},
		{"too small", `{"physpages":"10"}`, 422, "physpages"},
		{"alias above the host", `{"privvmpages":"100T"}`, 422, "privvmpages"},
		{"alias twice", `{"physpages":"1G","oomguarpages":"1G"}`, 422, "physpages"},
		{"cpulimit over the CPUs", `{"cpulimit":100000}`, 422, "cpulimit"},
		{"cpuunits zero", `{"cpuunits":0}`, 422, "cpuunits"},
		{"unknown resource", `{"lxc.cgroup.devices.allow":"a"}`, 422, "lxc.cgroup.devices.allow"},
		{"separate rcvbuf", `{"tcprcvbuf":"1M"}`, 422, "tcprcvbuf"},
		{"swap without a memory limit", `{"physpages":"unlimited","swappages":"256M"}`, 422, "swappages"},
		{"empty", `{}`, 422, "body"},
		{"not an object", `[]`, 422, "body"},
		{"malformed", `{"numproc":`, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := p.doMalformed(p.admin, "PATCH", "/api/v1/containers/101/limits", tc.body)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.field != "" && r.errorField(t, tc.field) == "" {
				t.Fatalf("error does not name %s: %s", tc.field, r.Body)
			}
		})
	}
	if after := string(p.expect(p.do(p.admin, "GET", "/api/v1/containers/101/limits", nil), 200).Body); after != before {
		t.Fatalf("limits changed by bad requests:\nbefore %s\nafter %s", before, after)
	}
	var n int
	_ = p.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM operations WHERE action = 'set_limits'`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d set_limits operations, want only the good one", n)
	}
	// Customers can't set limits at all.
	_, tok := p.customer("carol")
	p.expect(p.do(tok, "PATCH", "/api/v1/containers/101/limits", `{"numproc":"10"}`), http.StatusForbidden)
}

func TestPlansApplyLimits(t *testing.T) {
	fake := lxcdriver.NewFake()
	p := newTestPanel(t, fake, "")
	p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "small", "limits": map[string]any{"numproc": "64", "physpages": "256M"}}), http.StatusCreated)
	p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "big", "limits": map[string]any{"numproc": "512", "physpages": "2G", "cpulimit": 100}}), http.StatusCreated)
	p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "small"}), http.StatusConflict)
	p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "bad", "limits": map[string]any{"numproc": "5:6"}}), 422)

	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "plan": "small", "start": true})
	rows := beancounters(t, p, "101")
	if rows["numproc"]["limit"] != 64 || rows["physpages"]["limit"] != 65536 {
		t.Fatalf("plan small not applied: %v", rows)
	}
	p.ok(p.admin, "PATCH", "/api/v1/containers/101", map[string]any{"plan": "big"})
	rows = beancounters(t, p, "101")
	if rows["numproc"]["limit"] != 512 || rows["physpages"]["limit"] != 524288 {
		t.Fatalf("plan big not applied live: %v", rows)
	}
	// Editing the plan re-applies it to its containers.
	r := p.expect(p.do(p.admin, "PATCH", "/api/v1/plans/big", map[string]any{"limits": map[string]any{"numproc": "300"}}), http.StatusAccepted).json(t)
	if ops, _ := r["operations"].([]any); len(ops) != 1 {
		t.Fatalf("plan edit queued %v", r["operations"])
	}
	p.ok(p.admin, "POST", "/api/v1/containers/101/restart", nil)
	if rows = beancounters(t, p, "101"); rows["numproc"]["limit"] != 300 {
		t.Fatalf("after plan edit and restart: %v", rows["numproc"])
	}
	p.expect(p.do(p.admin, "DELETE", "/api/v1/plans/big", nil), http.StatusConflict)
	p.expect(p.do(p.admin, "DELETE", "/api/v1/plans/small", nil), http.StatusNoContent)
	p.expect(p.do(p.admin, "GET", "/api/v1/plans/small", nil), http.StatusNotFound)
}

// beancounters reads a container's rows as resource -> column -> value.
func beancounters(t *testing.T, p *testPanel, ref string) map[string]map[string]float64 {
	t.Helper()
	body := p.expect(p.do(p.admin, "GET", "/api/v1/containers/"+ref+"/beancounters", nil), 200).json(t)
	out := map[string]map[string]float64{}
	for _, r := range body["beancounters"].([]any) {
		row := r.(map[string]any)
		m := map[string]float64{}
		for _, k := range []string{"held", "maxheld", "barrier", "limit", "failcnt", "failcnt_since_start"} {
			m[k], _ = row[k].(float64)
		}
		out[row["resource"].(string)] = m
	}
	return out
}

func TestFailcntHistoryAlertsAndStreams(t *testing.T) {
	fake := lxcdriver.NewFake()
	p := newTestPanel(t, fake, "")
	alice, aliceTok := p.customer("alice")
	_ = alice
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true, "owner": "alice"})
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 102, "template": "busybox", "start": true})

	// The events websocket hears alerts; a foreign Origin is refused.
	wsURL := "ws" + strings.TrimPrefix(p.srv.URL, "http") + "/api/v1/events/ws"
	hdr := http.Header{"Authorization": {"Bearer " + p.admin}}
	if _, res, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Authorization": {"Bearer " + p.admin}, "Origin": {"https://evil.example"}}); err == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin accepted: %v", err)
	}
	if _, res, err := websocket.DefaultDialer.Dial(wsURL, nil); err == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token accepted: %v", err)
	}
	events, _, err := websocket.DefaultDialer.Dial(wsURL, hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer events.Close()
	aliceEvents, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Authorization": {"Bearer " + aliceTok}})
	if err != nil {
		t.Fatal(err)
	}
	defer aliceEvents.Close()
	readType := func(c *websocket.Conn, typ string, ctid float64) map[string]any {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			var m map[string]any
			if err := c.ReadJSON(&m); err != nil {
				t.Fatalf("waiting for %s on %v: %v", typ, ctid, err)
			}
			if m["type"] == typ && (ctid == 0 || m["ctid"] == ctid) {
				return m
			}
			if c == aliceEvents && m["ctid"] != nil && m["ctid"] != float64(101) {
				t.Fatalf("alice heard of container %v", m["ctid"])
			}
		}
	}
	readType(events, "hello", 0)
	readType(aliceEvents, "hello", 0)

	snap := p.expect(p.do(p.admin, "POST", "/api/v1/beancounters/snapshots", map[string]any{"label": "before"}), http.StatusCreated).json(t)
	fake.SetHeld("101", lxcdriver.ResNumProc, 10, 4)
	fake.SetHeld("102", lxcdriver.ResPhysPages, 2048, 9)
	if _, err := p.app.Mon.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := readType(events, "alert", 101)
	if a["resource"] != "numproc" || a["new_failcnt"] != float64(4) {
		t.Fatalf("alert %v", a)
	}
	readType(aliceEvents, "alert", 101)

	// The kernel resets failcnt at a restart; ctpanel's count goes on.
	p.ok(p.admin, "POST", "/api/v1/containers/101/restart", nil)
	fake.SetHeld("101", lxcdriver.ResNumProc, 10, 1)
	if _, err := p.app.Mon.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := beancounters(t, p, "101")
	if rows["numproc"]["failcnt"] != 5 || rows["numproc"]["failcnt_since_start"] != 1 {
		t.Fatalf("cumulative failcnt: %v", rows["numproc"])
	}

	fs := p.expect(p.do(p.admin, "GET", "/api/v1/beancounters/failstat", nil), 200).json(t)["failstat"].([]any)
	if len(fs) != 2 {
		t.Fatalf("failstat %v", fs)
	}
	text := string(p.expect(p.do(p.admin, "GET", "/api/v1/beancounters/failstat?format=text", nil), 200).Body)
	if !strings.Contains(text, "101  numproc                         5") {
		t.Fatalf("failstat text:\n%s", text)
	}
	if af := p.expect(p.do(aliceTok, "GET", "/api/v1/beancounters/failstat", nil), 200).json(t)["failstat"].([]any); len(af) != 1 {
		t.Fatalf("alice's failstat %v", af)
	}
	diff := p.expect(p.do(p.admin, "GET", "/api/v1/beancounters/faildiff?since="+jsonNum(snap["id"]), nil), 200).json(t)["faildiff"].([]any)
	if len(diff) != 2 || diff[0].(map[string]any)["delta"] != float64(5) {
		t.Fatalf("faildiff %v", diff)
	}
	text = string(p.expect(p.do(p.admin, "GET", "/api/v1/beancounters/faildiff?format=text&since="+jsonNum(snap["id"]), nil), 200).Body)
	if !strings.Contains(text, "old") || !strings.Contains(text, "102  physpages                       0                    9                    9") {
		t.Fatalf("faildiff text:\n%s", text)
	}
	p.expect(p.do(p.admin, "GET", "/api/v1/beancounters/faildiff?since=999", nil), 404)

	// The host-wide text view is /proc/user_beancounters.
	req, _ := http.NewRequest("GET", p.srv.URL+"/api/v1/beancounters", nil)
	req.Header.Set("Authorization", "Bearer "+p.admin)
	req.Header.Set("Accept", "text/plain")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	lines := strings.Split(body, "\n")
	if lines[0] != "Version: 2.5" || !strings.HasPrefix(lines[1], "       uid  resource                     held") ||
		!strings.HasPrefix(lines[2], "      101:  numproc") || !strings.Contains(body, "\n      102:  ") {
		t.Fatalf("text layout:\n%s", body)
	}

	// History.
	st := p.expect(p.do(p.admin, "GET", "/api/v1/containers/101/stats?step=1s", nil), 200).json(t)
	series := st["series"].(map[string]any)
	np, _ := series["numproc"].([]any)
	if len(np) < 1 || np[len(np)-1].(map[string]any)["failcnt"] != float64(5) {
		t.Fatalf("numproc series %v", np)
	}
	var stored int
	_ = p.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM bc_samples WHERE ct_id = 101 AND resource = 'numproc'`).Scan(&stored)
	if stored != 2 {
		t.Fatalf("%d numproc samples stored, want 2", stored)
	}
	p.expect(p.doMalformed(p.admin, "GET", "/api/v1/containers/101/stats?from=yesterday", nil), 400)

	// Alerts can be listed and acknowledged: 101's numproc grew twice
	// (before and after the restart), one open alert counting both.
	alerts := p.expect(p.do(p.admin, "GET", "/api/v1/alerts?open=true", nil), 200).json(t)["alerts"].([]any)
	if len(alerts) != 2 {
		t.Fatalf("alerts %v", alerts)
	}
	for _, a := range alerts {
		a := a.(map[string]any)
		if a["ctid"] == float64(101) && (a["count"] != float64(2) || a["old_failcnt"] != float64(0) || a["new_failcnt"] != float64(5)) {
			t.Fatalf("101's numproc alert %v", a)
		}
	}
	id := jsonNum(alerts[0].(map[string]any)["id"])
	p.expect(p.do(p.admin, "POST", "/api/v1/alerts/"+id+"/ack", nil), http.StatusNoContent)
	if after := p.expect(p.do(p.admin, "GET", "/api/v1/alerts?open=true", nil), 200).json(t)["alerts"].([]any); len(after) != len(alerts)-1 {
		t.Fatalf("ack did not close the alert")
	}

	// The stats websocket pushes rows; others' containers are invisible.
	statsURL := "ws" + strings.TrimPrefix(p.srv.URL, "http") + "/api/v1/containers/101/stats/ws?interval=200"
	sc, _, err := websocket.DefaultDialer.Dial(statsURL, http.Header{"Authorization": {"Bearer " + aliceTok}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	for i := 0; i < 2; i++ {
		m := readType(sc, "beancounters", 101)
		if len(m["beancounters"].([]any)) < 3 {
			t.Fatalf("stats push %v", m)
		}
	}
	other := "ws" + strings.TrimPrefix(p.srv.URL, "http") + "/api/v1/containers/102/stats/ws"
	if _, res, err := websocket.DefaultDialer.Dial(other, http.Header{"Authorization": {"Bearer " + aliceTok}}); err == nil || res.StatusCode != 404 {
		t.Fatalf("alice watched 102: %v", err)
	}
	// Lifecycle changes reach the events stream.
	p.ok(p.admin, "POST", "/api/v1/containers/101/stop", nil)
	ev := readType(events, "operation", 101)
	for ev["action"] != "stop" {
		ev = readType(events, "operation", 101)
	}
	if ev["state"] != "stopped" || ev["status"] != "succeeded" {
		t.Fatalf("event %v", ev)
	}
	if m := readType(sc, "status", 101); m["status"] != "stopped" {
		t.Fatalf("stats status %v", m)
	}
}

func jsonNum(v any) string {
	f, _ := v.(float64)
	return strconv.FormatInt(int64(f), 10)
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// promtool finds Prometheus' checker: on PATH or where make test puts it.
func promtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	p, _ := filepath.Abs("../.tools/promtool")
	if _, err := os.Stat(p); err != nil {
		t.Fatal("promtool not found: `make test` extracts it into .tools/")
	}
	return p
}

func TestMetricsPassPromtool(t *testing.T) {
	fake := lxcdriver.NewFake()
	p := newTestPanel(t, fake, "")
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true})
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 102, "template": "busybox", "start": true})
	fake.SetHeld("102", lxcdriver.ResNumProc, 7, 3)
	_, custTok := p.customer("dave")
	p.expect(p.do("", "GET", "/metrics", nil), http.StatusUnauthorized)
	p.expect(p.do(custTok, "GET", "/metrics", nil), http.StatusForbidden)
	wants := []string{`ctpanel_beancounter_held{ctid="101",resource="numproc"}`, `ctpanel_beancounter_failcnt_total{ctid="102",resource="numproc"} 3`, "# TYPE ctpanel_beancounter_limit gauge",
		// The panel's own: Go runtime, process, HTTP by route, operations by action.
		"go_goroutines", "process_resident_memory_bytes",
		`ctpanel_http_request_duration_seconds_count{code="202",method="POST",route="/api/v1/containers"}`,
		`ctpanel_operation_duration_seconds_count{action="create",status="succeeded"} 2`}
	// An operation's waiters are woken just before its duration is
	// recorded, so the second create's figure may lag a moment.
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; {
		body = string(p.expect(p.do(p.admin, "GET", "/metrics", nil), 200).Body)
		missing := ""
		for _, want := range wants {
			if !strings.Contains(body, want) {
				missing = want
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %q:\n%s", missing, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd := exec.Command(promtool(t), "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestFailcntNotCountedTwiceAroundARestart: readings carry the run of the
// container they come from, so a restart is counted once however readings
// and operations interleave: a reading of the previous run folded after
// the restart (a watcher's read or the sampler that lost the race) changes
// nothing, and operations that leave the same processes running (a start
// of a running container, a freeze suspension) count no restart.
func TestFailcntNotCountedTwiceAroundARestart(t *testing.T) {
	fake := lxcdriver.NewFake()
	p := newTestPanel(t, fake, "")
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true})
	ctx := context.Background()
	failcnt := func() float64 {
		t.Helper()
		return beancounters(t, p, "101")["numproc"]["failcnt"]
	}
	alerts := func() int {
		t.Helper()
		var n int
		if err := p.app.Pool.QueryRow(ctx, `SELECT count(*) FROM alerts WHERE ct_id = 101`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	fake.SetHeld("101", lxcdriver.ResNumProc, 10, 4)
	if got := failcnt(); got != 4 {
		t.Fatalf("before: %v", got)
	}
	// A reading of this run, to be folded late.
	stale, err := fake.Beancounters(ctx, "101")
	if err != nil {
		t.Fatal(err)
	}
	p.ok(p.admin, "POST", "/api/v1/containers/101/restart", nil)
	fake.SetHeld("101", lxcdriver.ResNumProc, 10, 1)
	if got := failcnt(); got != 5 {
		t.Fatalf("after the restart: %v, want 4 + 1", got)
	}
	before := alerts()
	var obs []db.FailcntObservation
	for _, c := range stale {
		obs = append(obs, db.FailcntObservation{CTID: 101, Resource: c.Resource, Raw: c.FailCnt, Instance: c.Instance})
	}
	if _, err := p.app.Store.ObserveFailcnt(ctx, obs); err != nil {
		t.Fatal(err)
	}
	p.app.Mon.Invalidate(101)
	if got := failcnt(); got != 5 {
		t.Fatalf("after a late reading of the previous run: %v, want 5", got)
	}
	if n := alerts(); n != before {
		t.Fatalf("the late reading raised %d alert(s)", n-before)
	}
	// A start of a running container restarts nothing.
	p.ok(p.admin, "POST", "/api/v1/containers/101/start", nil)
	fake.SetHeld("101", lxcdriver.ResNumProc, 10, 3)
	if got := failcnt(); got != 7 {
		t.Fatalf("after a start of a running container: %v, want 4 + 3", got)
	}
	p.ok(p.admin, "POST", "/api/v1/containers/101/restart", nil)
	fake.SetHeld("101", lxcdriver.ResNumProc, 10, 2)
	if got := failcnt(); got != 9 {
		t.Fatalf("after a second restart: %v, want 7 + 2", got)
	}
	// Suspended by freezing and unsuspended: the same processes go on.
	p.ok(p.admin, "POST", "/api/v1/containers/101/suspend", map[string]any{"mode": "freeze"})
	p.ok(p.admin, "POST", "/api/v1/containers/101/unsuspend", nil)
	fake.SetHeld("101", lxcdriver.ResNumProc, 10, 4)
	if got := failcnt(); got != 11 {
		t.Fatalf("after a freeze suspension: %v, want 7 + 4", got)
	}
}
