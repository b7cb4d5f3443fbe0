package server

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// openedAlerts records what the monitor's Notifier hook hears.
type openedAlerts struct {
	mu   sync.Mutex
	list []db.Alert
}

func (o *openedAlerts) AlertOpened(_ context.Context, a db.Alert) {
	o.mu.Lock()
	o.list = append(o.list, a)
	o.mu.Unlock()
}

func (o *openedAlerts) get() []db.Alert {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]db.Alert(nil), o.list...)
}

// failcnt sets a container's failcnt of resource and has the sampler see
// it, as its next tick would.
func failcnt(t *testing.T, p *testPanel, ctid int, resource string, n uint64) {
	t.Helper()
	if err := p.app.Drv.(*lxcdriver.Fake).SetHeld(strconv.Itoa(ctid), resource, 1, n); err != nil {
		t.Fatal(err)
	}
	if _, err := p.app.Mon.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// openAlerts lists the open alerts through the API as token sees them.
func openAlerts(t *testing.T, p *testPanel, token string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, a := range p.expect(p.do(token, "GET", "/api/v1/alerts?open=true", nil), 200).json(t)["alerts"].([]any) {
		out = append(out, a.(map[string]any))
	}
	return out
}

// TestAlertDedupeOneOpenAlertPerResource: the CPU throttling, 35
// growths in a row, is one open alert counting 35, notified once; after
// it is acknowledged the next growth opens a new alert (notified again).
func TestAlertDedupeOneOpenAlertPerResource(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	heard := &openedAlerts{}
	p.app.Mon.Notifiers = append(p.app.Mon.Notifiers, heard)
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true})
	for i := uint64(1); i <= 35; i++ {
		failcnt(t, p, 101, lxcdriver.ResCPU, i*3)
	}
	open := openAlerts(t, p, p.admin)
	if len(open) != 1 {
		t.Fatalf("%d open alerts, want 1: %v", len(open), open)
	}
	a := open[0]
	if a["count"] != float64(35) || a["old_failcnt"] != float64(0) || a["new_failcnt"] != float64(105) || a["resource"] != "cpu" ||
		a["first_seen"] != a["at"] || a["last_seen"] == nil || a["raised_at"] == nil {
		t.Fatalf("the alert: %v", a)
	}
	if h := heard.get(); len(h) != 1 || h[0].ID != int64(a["id"].(float64)) || h[0].Count != 1 {
		t.Fatalf("notified %d time(s): %+v", len(h), h)
	}
	var rows int
	_ = p.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM alerts WHERE ct_id = 101`).Scan(&rows)
	if rows != 1 {
		t.Fatalf("%d alert rows stored, want 1", rows)
	}
	p.expect(p.do(p.admin, "POST", "/api/v1/alerts/"+jsonNum(a["id"])+"/ack", nil), http.StatusNoContent)
	if open := openAlerts(t, p, p.admin); len(open) != 0 {
		t.Fatalf("open after the ack: %v", open)
	}
	failcnt(t, p, 101, lxcdriver.ResCPU, 106)
	open = openAlerts(t, p, p.admin)
	if len(open) != 1 || open[0]["id"] == a["id"] || open[0]["count"] != float64(1) || open[0]["old_failcnt"] != float64(105) {
		t.Fatalf("after the ack, the next growth: %v", open)
	}
	if h := heard.get(); len(h) != 2 {
		t.Fatalf("notified %d time(s), want 2", len(h))
	}
}

// TestAlertThresholdsOfPlans: below a plan's threshold growth is counted
// but raises nothing; crossing it raises one alert carrying the count;
// "none" raises none; a resource the plan does not name alerts at once.
func TestAlertThresholdsOfPlans(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	heard := &openedAlerts{}
	p.app.Mon.Notifiers = append(p.app.Mon.Notifiers, heard)
	plan := p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "quiet", "alerts": map[string]any{"thresholds": map[string]any{
		"numproc": map[string]any{"failures": 10, "window_seconds": 600}, "physpages": "none"}}}), http.StatusCreated).json(t)
	th := plan["alerts"].(map[string]any)["thresholds"].(map[string]any)
	if th["physpages"] != "none" || th["numproc"].(map[string]any)["failures"] != float64(10) || th["numproc"].(map[string]any)["window_seconds"] != float64(600) {
		t.Fatalf("the plan's thresholds: %v", plan["alerts"])
	}
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "plan": "quiet", "start": true})

	failcnt(t, p, 101, lxcdriver.ResNumProc, 4)
	failcnt(t, p, 101, lxcdriver.ResNumProc, 8)
	if open := openAlerts(t, p, p.admin); len(open) != 0 || len(heard.get()) != 0 {
		t.Fatalf("8 of 10 failures alerted: %v", open)
	}
	failcnt(t, p, 101, lxcdriver.ResPhysPages, 50)
	failcnt(t, p, 101, lxcdriver.ResPhysPages, 500)
	if open := openAlerts(t, p, p.admin); len(open) != 0 {
		t.Fatalf("physpages (none) alerted: %v", open)
	}
	var n int
	_ = p.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM alerts WHERE resource = 'physpages'`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d physpages rows stored for a resource set to none", n)
	}
	failcnt(t, p, 101, lxcdriver.ResNumProc, 12)
	open := openAlerts(t, p, p.admin)
	if len(open) != 1 || open[0]["resource"] != "numproc" || open[0]["count"] != float64(3) || open[0]["old_failcnt"] != float64(0) || open[0]["new_failcnt"] != float64(12) {
		t.Fatalf("crossing the threshold: %v", open)
	}
	if h := heard.get(); len(h) != 1 || h[0].Count != 3 {
		t.Fatalf("notified: %+v", h)
	}
	// Not named by the plan: any growth alerts.
	failcnt(t, p, 101, lxcdriver.ResOOM, 1)
	if open := openAlerts(t, p, p.admin); len(open) != 2 {
		t.Fatalf("oom, not in the plan, did not alert: %v", open)
	}
	// Thresholds removed by an edit: numproc's next growth alerts at once
	// (after the open one is acknowledged).
	p.expect(p.do(p.admin, "PATCH", "/api/v1/plans/quiet", map[string]any{"alerts": map[string]any{"thresholds": map[string]any{}}}), http.StatusOK)
	p.expect(p.do(p.admin, "POST", "/api/v1/alerts/acknowledge", map[string]any{"all": true}), http.StatusOK)
	failcnt(t, p, 101, lxcdriver.ResPhysPages, 501)
	if open := openAlerts(t, p, p.admin); len(open) != 1 || open[0]["resource"] != "physpages" {
		t.Fatalf("after the thresholds were removed: %v", open)
	}
}

// TestPlanAlertThresholdsRefused: every bad threshold is a 422 naming
// its field, all at once, and changes nothing.
func TestPlanAlertThresholdsRefused(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "p1"}), http.StatusCreated)
	for _, tc := range []struct {
		name, body string
		fields     []string
	}{
		{"unknown resource", `{"alerts":{"thresholds":{"cpux":{"failures":2,"window_seconds":60}}}}`, []string{"alerts.thresholds.cpux"}},
		{"not none", `{"alerts":{"thresholds":{"cpu":"never"}}}`, []string{"alerts.thresholds.cpu"}},
		{"a number", `{"alerts":{"thresholds":{"cpu":5}}}`, []string{"alerts.thresholds.cpu"}},
		{"zero failures", `{"alerts":{"thresholds":{"cpu":{"failures":0}}}}`, []string{"alerts.thresholds.cpu.failures"}},
		{"failures text", `{"alerts":{"thresholds":{"cpu":{"failures":"lots","window_seconds":60}}}}`, []string{"alerts.thresholds.cpu.failures"}},
		{"no window", `{"alerts":{"thresholds":{"numproc":{"failures":5}}}}`, []string{"alerts.thresholds.numproc.window_seconds"}},
		{"window too long", `{"alerts":{"thresholds":{"numproc":{"failures":5,"window_seconds":99999999}}}}`, []string{"alerts.thresholds.numproc.window_seconds"}},
		{"unknown threshold field", `{"alerts":{"thresholds":{"oom":{"failures":1,"percent":50}}}}`, []string{"alerts.thresholds.oom.percent"}},
		{"unknown alerts field", `{"alerts":{"limits":{}}}`, []string{"alerts.limits"}},
		{"alerts not an object", `{"alerts":[1]}`, []string{"alerts"}},
		{"thresholds not an object", `{"alerts":{"thresholds":"none"}}`, []string{"alerts.thresholds"}},
		{"several at once", `{"alerts":{"thresholds":{"bogus":"none","cpu":{"failures":-1},"numproc":{"failures":3}}},"limits":{"numproc":"x"}}`,
			[]string{"alerts.thresholds.bogus", "alerts.thresholds.cpu.failures", "alerts.thresholds.numproc.window_seconds", "limits.numproc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, req := range []struct{ method, path, body string }{
				{"PATCH", "/api/v1/plans/p1", tc.body},
				{"POST", "/api/v1/plans", `{"name":"p2",` + strings.TrimPrefix(tc.body, "{")},
			} {
				r := p.doMalformed(p.admin, req.method, req.path, req.body)
				if r.Status != http.StatusUnprocessableEntity {
					t.Fatalf("%s %s: status %d, want 422: %s", req.method, req.path, r.Status, r.Body)
				}
				for _, f := range tc.fields {
					if r.errorField(t, f) == "" {
						t.Errorf("%s %s: error does not name %s: %s", req.method, req.path, f, r.Body)
					}
				}
			}
		})
	}
	if got := p.expect(p.do(p.admin, "GET", "/api/v1/plans/p1", nil), 200).json(t)["alerts"].(map[string]any)["thresholds"]; len(got.(map[string]any)) != 0 {
		t.Fatalf("thresholds changed by refused requests: %v", got)
	}
	p.expect(p.do(p.admin, "GET", "/api/v1/plans/p2", nil), http.StatusNotFound)
	// A customer cannot set them at all.
	_, tok := p.customer("carol")
	p.expect(p.do(tok, "PATCH", "/api/v1/plans/p1", map[string]any{"alerts": map[string]any{"thresholds": map[string]any{"cpu": "none"}}}), http.StatusForbidden)
}

// TestBulkAcknowledgeAPI: by ids (unknown and closed ids ignored), by
// container and all; bad selections are 422s naming the field; a
// customer may list their own alerts but acknowledges none (403), so
// cannot close another customer's by its id.
func TestBulkAcknowledgeAPI(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	_, aliceTok := p.customer("alice")
	_, bobTok := p.customer("bob")
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true, "owner": "alice"})
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 102, "template": "busybox", "start": true, "owner": "bob"})
	for _, res := range []string{lxcdriver.ResNumProc, lxcdriver.ResCPU, lxcdriver.ResOOM} {
		failcnt(t, p, 101, res, 2)
		failcnt(t, p, 102, res, 3)
	}
	ids := map[int]map[string]string{101: {}, 102: {}}
	for _, a := range openAlerts(t, p, p.admin) {
		ids[int(a["ctid"].(float64))][a["resource"].(string)] = jsonNum(a["id"])
	}
	if len(ids[101]) != 3 || len(ids[102]) != 3 {
		t.Fatalf("open alerts: %v", ids)
	}
	// Each customer sees their own, with count and first/last seen.
	for tok, ct := range map[string]float64{aliceTok: 101, bobTok: 102} {
		mine := openAlerts(t, p, tok)
		if len(mine) != 3 {
			t.Fatalf("a customer sees %d alerts, want 3", len(mine))
		}
		for _, a := range mine {
			if a["ctid"] != ct || a["count"] != float64(1) || a["first_seen"] == nil || a["last_seen"] == nil {
				t.Fatalf("a customer's alert: %v", a)
			}
		}
	}
	// Alice cannot acknowledge Bob's alert by its id, nor her own.
	bobs, _ := strconv.Atoi(ids[102]["cpu"])
	alices, _ := strconv.Atoi(ids[101]["cpu"])
	for _, body := range []map[string]any{{"ids": []int{bobs}}, {"ids": []int{alices}}, {"ctid": 102}, {"all": true}} {
		p.expect(p.do(aliceTok, "POST", "/api/v1/alerts/acknowledge", body), http.StatusForbidden)
	}
	p.expect(p.do(aliceTok, "POST", "/api/v1/alerts/"+ids[102]["cpu"]+"/ack", nil), http.StatusForbidden)
	if n := len(openAlerts(t, p, p.admin)); n != 6 {
		t.Fatalf("a customer's acknowledgements closed %d alert(s)", 6-n)
	}
	billing := p.token(db.RoleBilling, nil)
	p.expect(p.do(billing, "POST", "/api/v1/alerts/acknowledge", map[string]any{"all": true}), http.StatusForbidden)

	// Bad selections.
	for _, tc := range []struct {
		body   string
		fields []string
	}{
		{`{}`, []string{"ids"}},
		{`{"ids":[]}`, []string{"ids"}},
		{`{"ids":[0]}`, []string{"ids"}},
		{`{"ctid":-3}`, []string{"ctid"}},
		{`{"ids":[1],"all":true}`, []string{"ids", "all"}},
		{`{"ctid":101,"all":true}`, []string{"ctid", "all"}},
	} {
		r := p.doMalformed(p.admin, "POST", "/api/v1/alerts/acknowledge", tc.body)
		if r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("%s: status %d: %s", tc.body, r.Status, r.Body)
		}
		for _, f := range tc.fields {
			if r.errorField(t, f) == "" {
				t.Errorf("%s: does not name %s: %s", tc.body, f, r.Body)
			}
		}
	}
	p.expect(p.doMalformed(p.admin, "POST", "/api/v1/alerts/acknowledge", `{"ids":["x"]}`), http.StatusBadRequest)
	if n := len(openAlerts(t, p, p.admin)); n != 6 {
		t.Fatalf("refused requests closed %d alert(s)", 6-n)
	}

	// By ids: an unknown id and an already closed one are ignored.
	numproc, _ := strconv.Atoi(ids[101]["numproc"])
	p.expect(p.do(p.admin, "POST", "/api/v1/alerts/"+ids[101]["numproc"]+"/ack", nil), http.StatusNoContent)
	r := p.expect(p.do(p.admin, "POST", "/api/v1/alerts/acknowledge", map[string]any{"ids": []int{alices, bobs, numproc, 999999}}), 200).json(t)
	got := r["acknowledged"].([]any)
	if r["count"] != float64(2) || len(got) != 2 || !containsNum(got, alices) || !containsNum(got, bobs) {
		t.Fatalf("by ids: %v", r)
	}
	// By container: only 102's.
	r = p.expect(p.do(p.admin, "POST", "/api/v1/alerts/acknowledge", map[string]any{"ctid": 102}), 200).json(t)
	if r["count"] != float64(2) {
		t.Fatalf("by container: %v", r)
	}
	open := openAlerts(t, p, p.admin)
	if len(open) != 1 || open[0]["ctid"] != float64(101) || open[0]["resource"] != "oom" {
		t.Fatalf("left open: %v", open)
	}
	// All.
	r = p.expect(p.do(p.admin, "POST", "/api/v1/alerts/acknowledge", map[string]any{"all": true}), 200).json(t)
	if r["count"] != float64(1) || len(openAlerts(t, p, p.admin)) != 0 {
		t.Fatalf("all: %v", r)
	}
	r = p.expect(p.do(p.admin, "POST", "/api/v1/alerts/acknowledge", map[string]any{"all": true}), 200).json(t)
	if r["count"] != float64(0) {
		t.Fatalf("all again: %v", r)
	}
	var by string
	_ = p.app.Pool.QueryRow(context.Background(), `SELECT acknowledged_by FROM alerts WHERE id = $1`, bobs).Scan(&by)
	if by == "" {
		t.Fatal("acknowledged_by not recorded")
	}
}

func containsNum(list []any, n int) bool {
	for _, v := range list {
		if v == float64(n) {
			return true
		}
	}
	return false
}

// TestUIAlertsBulkAcknowledge: the alerts page shows count and first and
// last seen, acknowledges the checked rows in one post, a container's,
// and every open one; nothing checked is refused on the page; customers
// have no alerts page.
func TestUIAlertsBulkAcknowledge(t *testing.T) {
	p := uiFarm(t)
	for _, res := range []string{lxcdriver.ResNumProc, lxcdriver.ResCPU, lxcdriver.ResOOM} {
		failcnt(t, p, 101, res, 2)
		failcnt(t, p, 101, res, 5)
		failcnt(t, p, 102, res, 3)
	}
	ctx := context.Background()
	open, err := p.app.Store.ListAlerts(ctx, true, nil, 100)
	if err != nil || len(open) != 6 {
		t.Fatalf("open: %v %v", open, err)
	}
	b := p.browser()
	b.mustLogin("ops", "correct horse")
	pg := b.expect(b.get("/alerts"), 200, "first seen", "last seen", "count", "Acknowledge selected", `id="ack-pick-all"`, "All of CT 101", "Acknowledge all 6 open")
	if !strings.Contains(pg.Body, `<td data-label="count" class="num">2</td>`) {
		t.Errorf("101's alerts do not show count 2:\n%s", pg.Body)
	}
	// Nothing checked: refused on the page, nothing closed.
	b.expect(b.post("/alerts/acknowledge", url.Values{}), http.StatusUnprocessableEntity, "select at least one alert")
	b.expect(b.post("/alerts/acknowledge", url.Values{"id": {"x"}}), http.StatusUnprocessableEntity, "is not an alert id")
	// Two checked rows of different containers.
	var pick []string
	var left []db.Alert
	for _, a := range open {
		if a.Resource == lxcdriver.ResCPU {
			pick = append(pick, strconv.FormatInt(a.ID, 10))
		} else {
			left = append(left, a)
		}
	}
	pg = b.post("/alerts/acknowledge", url.Values{"id": pick})
	if pg.Status != http.StatusSeeOther || pg.Header.Get("Location") != "/alerts?done=ack&n=2" {
		t.Fatalf("ack selected: %d %s", pg.Status, pg.Header.Get("Location"))
	}
	b.expect(b.get("/alerts?done=ack&n=2"), 200, "Acknowledged 2 alert(s)")
	if now, _ := p.app.Store.ListAlerts(ctx, true, nil, 100); len(now) != 4 {
		t.Fatalf("%d open after acknowledging 2 of 6", len(now))
	}
	// A container's.
	b.expect(b.post("/alerts/acknowledge", url.Values{"ctid": {"102"}}), http.StatusSeeOther)
	now, _ := p.app.Store.ListAlerts(ctx, true, nil, 100)
	for _, a := range now {
		if a.CTID == 102 {
			t.Fatalf("102's alert %d still open", a.ID)
		}
	}
	if len(now) != 2 {
		t.Fatalf("%d open, want 101's 2", len(now))
	}
	// Every open one.
	b.expect(b.post("/alerts/acknowledge", url.Values{"every": {"1"}, "all": {"1"}}), http.StatusSeeOther)
	if now, _ := p.app.Store.ListAlerts(ctx, true, nil, 100); len(now) != 0 {
		t.Fatalf("%d open after acknowledging all", len(now))
	}
	b.expect(b.get("/alerts?all=1"), 200, "acknowledged by")

	// A customer has no alerts page and cannot post to it.
	failcnt(t, p, 102, lxcdriver.ResOOM, 9)
	c := p.browser()
	c.mustLogin("alice", "alice password")
	if pg := c.get("/alerts"); pg.Status == http.StatusOK {
		t.Fatalf("a customer got the alerts page")
	}
	if pg := c.post("/alerts/acknowledge", url.Values{"every": {"1"}}); pg.Status < 400 {
		t.Fatalf("a customer's bulk acknowledge: %d", pg.Status)
	}
	if now, _ := p.app.Store.ListAlerts(ctx, true, nil, 100); len(now) != 1 {
		t.Fatalf("a customer's post closed bob's alert")
	}
}

// TestUIPlanAlertThresholds: the plan page edits thresholds; bad ones
// are marked next to their inputs, all at once.
func TestUIPlanAlertThresholds(t *testing.T) {
	p := uiFarm(t)
	b := p.browser()
	b.mustLogin("ops", "correct horse")
	b.expect(b.get("/plans/small"), 200, `name="alerts.thresholds.cpu.failures"`, `name="alerts.thresholds.oom.none"`)
	pg := b.post("/plans/small", url.Values{"description": {""}, "numproc": {"100"}, "network.present": {"1"}, "alerts.present": {"1"},
		"alerts.thresholds.cpu.failures": {"0"}, "alerts.thresholds.numproc.failures": {"5"}, "alerts.thresholds.kmemsize.window_seconds": {"soon"},
		"alerts.thresholds.kmemsize.failures": {"3"}})
	b.expect(pg, http.StatusUnprocessableEntity)
	for _, f := range []string{"alerts.thresholds.cpu.failures", "alerts.thresholds.numproc.window_seconds", "alerts.thresholds.kmemsize.window_seconds"} {
		if fieldError(pg.Body, f) == "" {
			t.Errorf("no error shown at %s:\n%s", f, pg.Body)
		}
	}
	b.expect(b.post("/plans/small", url.Values{"description": {""}, "numproc": {"100"}, "network.present": {"1"}, "alerts.present": {"1"},
		"alerts.thresholds.cpu.failures": {"50"}, "alerts.thresholds.cpu.window_seconds": {"300"}, "alerts.thresholds.tcpsndbuf.none": {"1"}}), http.StatusSeeOther)
	th := p.expect(p.do(p.admin, "GET", "/api/v1/plans/small", nil), 200).json(t)["alerts"].(map[string]any)["thresholds"].(map[string]any)
	if th["tcpsndbuf"] != "none" || th["cpu"].(map[string]any)["failures"] != float64(50) || len(th) != 2 {
		t.Fatalf("saved thresholds: %v", th)
	}
	b.expect(b.get("/plans/small"), 200, `name="alerts.thresholds.cpu.failures" value="50"`, `name="alerts.thresholds.cpu.window_seconds" value="300"`)
}
