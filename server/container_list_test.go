package server

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/db"
)

// seedContainers adds container rows from..to straight to the database
// (liblxc has none of them: they list as missing), for lists far larger
// than the tests can create: vps<CTID>, hostname h<CTID>.example.com,
// even CTIDs alice's and odd ones bob's, every third one last seen
// running.
func seedContainers(t testing.TB, s *db.Store, from, to int) {
	t.Helper()
	_, err := s.Pool.Exec(context.Background(), `
		INSERT INTO containers (ct_id, name, node_id, owner_id, template, hostname, phase, last_state, idmap_base)
		SELECT g, 'vps' || g, (SELECT id FROM nodes WHERE name = 'local'),
			(SELECT id FROM users WHERE username = CASE WHEN g % 2 = 0 THEN 'alice' ELSE 'bob' END),
			'busybox', 'h' || g || '.example.com', 'ready',
			CASE WHEN g % 3 = 0 THEN 'running' ELSE 'stopped' END, 100000000 + (g::bigint + 20000) * 65536
		FROM generate_series($1::int, $2::int) g`, from, to)
	if err != nil {
		t.Fatalf("seed containers %d-%d: %v", from, to, err)
	}
}

func listOf(t *testing.T, p *testPanel, token, query string) (ctids []int, total int, rows []map[string]any) {
	t.Helper()
	m := p.expect(p.do(token, "GET", "/api/v1/containers?"+query, nil), 200).json(t)
	for _, c := range m["containers"].([]any) {
		row := c.(map[string]any)
		ctids = append(ctids, int(row["ctid"].(float64)))
		rows = append(rows, row)
	}
	return ctids, int(m["total"].(float64)), rows
}

func TestContainerListPagesFiltersAndSortsInTheDatabase(t *testing.T) {
	p := uiFarm(t) // 101 alice's on plan small, 102 bob's; both running
	seedContainers(t, p.app.Store, 1000, 1249)
	ctx := context.Background()

	// Pages: 100 by default, the total of all that match, past the end
	// an empty page that still counts.
	ids, total, _ := listOf(t, p, p.admin, "")
	if total != 252 || len(ids) != 100 || ids[0] != 101 || ids[1] != 102 || ids[2] != 1000 {
		t.Fatalf("first page: total %d, %d rows from %v", total, len(ids), ids[:3])
	}
	ids, total, _ = listOf(t, p, p.admin, "limit=50&offset=250")
	if total != 252 || len(ids) != 2 || ids[0] != 1248 || ids[1] != 1249 {
		t.Fatalf("last page: total %d, rows %v", total, ids)
	}
	if ids, total, _ = listOf(t, p, p.admin, "offset=5000"); total != 252 || len(ids) != 0 {
		t.Fatalf("past the end: total %d, rows %v", total, ids)
	}

	// Search: a CTID exactly, part of a name or hostname, an owner.
	for q, want := range map[string][]int{
		"1007":        {1007},
		"vps1010":     {1010},
		"H1011.EXAMP": {1011},
		"alices":      {101},
		"small":       {101},
		"vps12 h124":  {1240, 1241, 1242, 1243, 1244, 1245, 1246, 1247, 1248, 1249},
		"100%":        nil, // a wildcard is a character, not a wildcard
	} {
		ids, total, _ := listOf(t, p, p.admin, "q="+url.QueryEscape(q))
		if fmt.Sprint(ids) != fmt.Sprint(want) || total != len(want) {
			t.Errorf("q=%q: %v (total %d), want %v", q, ids, total, want)
		}
	}

	// Filters, each counted in the database.
	running := 2 // 101 and 102
	for g := 1000; g <= 1249; g++ {
		if g%3 == 0 {
			running++
		}
	}
	if _, total, _ := listOf(t, p, p.admin, "status=running&limit=1"); total != running {
		t.Errorf("status=running: %d, want %d", total, running)
	}
	if _, total, _ := listOf(t, p, p.admin, "owner=alice&limit=1"); total != 126 {
		t.Errorf("owner=alice: %d, want 126", total)
	}
	if ids, total, _ := listOf(t, p, p.admin, "plan=small"); total != 1 || ids[0] != 101 {
		t.Errorf("plan=small: %v", ids)
	}
	if _, total, _ := listOf(t, p, p.admin, "plan=-&limit=1"); total != 251 {
		t.Errorf("plan=-: %d", total)
	}
	if _, err := p.app.Store.Pool.Exec(ctx, `UPDATE containers SET suspended_at = now(), suspend_mode = 'stop', suspend_reason = 'unpaid' WHERE ct_id = 1010`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.app.Store.InsertAlert(ctx, 1005, "numproc", 0, 3); err != nil {
		t.Fatal(err)
	}
	if ids, _, _ := listOf(t, p, p.admin, "suspended=true"); fmt.Sprint(ids) != "[1010]" {
		t.Errorf("suspended=true: %v", ids)
	}
	if ids, _, rows := listOf(t, p, p.admin, "failing=true"); fmt.Sprint(ids) != "[1005]" || fmt.Sprint(rows[0]["open_alerts"]) != "[numproc]" {
		t.Errorf("failing=true: %v %v", ids, rows)
	}

	// Sorts, either way, ties by CTID.
	if ids, _, _ := listOf(t, p, p.admin, "sort=-ctid&limit=2"); fmt.Sprint(ids) != "[1249 1248]" {
		t.Errorf("sort=-ctid: %v", ids)
	}
	if ids, _, _ := listOf(t, p, p.admin, "sort=name&limit=3"); fmt.Sprint(ids) != "[101 102 1000]" {
		t.Errorf("sort=name: %v", ids)
	}
	if ids, _, _ := listOf(t, p, p.admin, "sort=owner&q=vps100&limit=3"); fmt.Sprint(ids) != "[1000 1002 1004]" {
		t.Errorf("sort=owner: %v", ids)
	}

	// Resource columns: the sampler's figures for the running ones; CPU
	// once two samples are apart; traffic of this month only.
	if _, err := p.app.Mon.SampleOnce(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := p.app.Mon.SampleOnce(ctx); err != nil {
		t.Fatal(err)
	}
	ids, _, rows := listOf(t, p, p.admin, "sort=-memory&limit=3")
	if ids[0] != 101 && ids[0] != 102 {
		t.Fatalf("sort=-memory begins with %v, want a running container", ids)
	}
	for _, r := range rows[:2] {
		if r["memory_bytes"] == nil || r["memory_bytes"].(float64) <= 0 || r["cpu_percent"] == nil || r["sampled_at"] == nil {
			t.Errorf("figures of %v: memory %v cpu %v sampled %v", r["ctid"], r["memory_bytes"], r["cpu_percent"], r["sampled_at"])
		}
	}
	if rows[2]["sampled_at"] != nil {
		t.Errorf("a container liblxc does not have has figures: %v", rows[2])
	}
	month := time.Now().UTC()
	month = time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	// Last month's traffic first, then this month's: the month's total
	// starts again.
	if err := p.app.Store.FoldTraffic(ctx, month.Add(-time.Hour), nil, []db.TrafficDelta{{CTID: 1003, InBytes: 7000000}}); err != nil {
		t.Fatal(err)
	}
	if err := p.app.Store.FoldTraffic(ctx, month.Add(time.Hour), nil, []db.TrafficDelta{{CTID: 1003, InBytes: 3000000, OutBytes: 1000000}, {CTID: 1004, InBytes: 10}}); err != nil {
		t.Fatal(err)
	}
	if err := p.app.Store.FoldTraffic(ctx, month.Add(2*time.Hour), nil, []db.TrafficDelta{{CTID: 1003, OutBytes: 1000000}}); err != nil {
		t.Fatal(err)
	}
	if ids, _, rows := listOf(t, p, p.admin, "sort=-traffic&limit=2"); fmt.Sprint(ids) != "[1003 1004]" || rows[0]["traffic_bytes"] != float64(5000000) {
		t.Errorf("sort=-traffic: %v, first %v", ids, rows[0]["traffic_bytes"])
	}

	// Bad parameters: a 422 naming each one.
	bad := p.expect(p.doMalformed(p.admin, "GET", "/api/v1/containers?limit=0&offset=-1&sort=size&status=asleep&suspended=maybe", nil), 422)
	for field, want := range map[string]string{"limit": "1 to 1000", "offset": "0 or more", "sort": "one of", "status": "one of", "suspended": "true or false"} {
		if got := bad.errorField(t, field); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", field, got, want)
		}
	}

	// A customer's list is their own, and they cannot ask for another's.
	alice := p.token(db.RoleCustomer, p.userID("alice"))
	if _, total, rows := listOf(t, p, alice, "limit=1000"); total != 126 {
		t.Errorf("alice sees %d containers, want 126", total)
	} else {
		for _, r := range rows {
			if r["owner"] != "alice" {
				t.Fatalf("alice's list has %v", r)
			}
		}
	}
	if got := p.expect(p.do(alice, "GET", "/api/v1/containers?owner=bob", nil), 422).errorField(t, "owner"); !strings.Contains(got, "only staff") {
		t.Errorf("alice filtering by owner: %q", got)
	}
	if ids, total, _ := listOf(t, p, alice, "q=vps1001"); total != 0 || len(ids) != 0 {
		t.Errorf("alice finds bob's 1001: %v", ids)
	}
}

func TestBulkActions(t *testing.T) {
	p := uiFarm(t)
	ctx := context.Background()
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 103, "template": "busybox", "owner": "alice"})
	alice := p.token(db.RoleCustomer, p.userID("alice"))
	opsOn := func(ctid int) int {
		var n int
		if err := p.app.Store.Pool.QueryRow(ctx, `SELECT count(*) FROM operations WHERE ct_id = $1`, ctid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before101, before102 := opsOn(101), opsOn(102)

	// Checked whole before anything is queued.
	r := p.expect(p.doMalformed(p.admin, "POST", "/api/v1/containers/bulk", map[string]any{"action": "reboot", "ctids": []int{}}), 422)
	if !strings.Contains(r.errorField(t, "action"), "one of start, stop, restart, shutdown") || !strings.Contains(r.errorField(t, "containers"), "at least one") {
		t.Errorf("bad bulk: %s", r.Body)
	}
	r = p.expect(p.do(alice, "POST", "/api/v1/containers/bulk", map[string]any{"action": "stop", "ctids": []int{101, 102}}), 422)
	if !strings.Contains(r.errorField(t, "containers"), "no container 102") {
		t.Errorf("alice naming bob's container: %s", r.Body)
	}
	if opsOn(101) != before101 || opsOn(102) != before102 {
		t.Fatal("a refused bulk action queued something")
	}

	// Each container its own operation; a suspended one is not started.
	if _, err := p.app.Store.Pool.Exec(ctx, `UPDATE containers SET suspended_at = now(), suspend_mode = 'stop', suspend_reason = 'unpaid' WHERE ct_id = 103`); err != nil {
		t.Fatal(err)
	}
	res := p.expect(p.do(p.admin, "POST", "/api/v1/containers/bulk", map[string]any{"action": "stop", "ctids": []int{101, 102, 101}}), 202).json(t)["results"].([]any)
	if len(res) != 2 {
		t.Fatalf("stop 101, 102, 101: %v", res)
	}
	for _, x := range res {
		op := x.(map[string]any)["operation"].(map[string]any)
		p.finished(p.admin, "/api/v1/operations/"+op["id"].(string))
	}
	for _, ref := range []string{"101", "102"} {
		if st := p.expect(p.do(p.admin, "GET", "/api/v1/containers/"+ref, nil), 200).json(t)["status"]; st != "stopped" {
			t.Errorf("%s after bulk stop: %v", ref, st)
		}
	}
	res = p.expect(p.do(alice, "POST", "/api/v1/containers/bulk", map[string]any{"action": "start", "ctids": []int{101, 103}}), 202).json(t)["results"].([]any)
	first, second := res[0].(map[string]any), res[1].(map[string]any)
	if first["operation"] == nil || second["operation"] != nil || second["error"].(map[string]any)["code"] != "suspended" {
		t.Fatalf("alice starts 101 and suspended 103: %v", res)
	}
	p.finished(alice, "/api/v1/operations/"+first["operation"].(map[string]any)["id"].(string))
	if st := p.expect(p.do(p.admin, "GET", "/api/v1/containers/103", nil), 200).json(t)["status"]; st != "stopped" {
		t.Errorf("suspended 103 after a bulk start: %v", st)
	}
}

func TestUIContainerListAndBulk(t *testing.T) {
	p := uiFarm(t)
	seedContainers(t, p.app.Store, 1000, 1119)
	b := p.browser()
	b.mustLogin("ops", "correct horse")

	home := b.expect(b.get("/"), 200, `id="farm"`, "1–50 of 122 containers", "page 1 of 3", `rel="next"`)
	if strings.Count(home.Body, `name="ctid" value=`) != 50 {
		t.Fatalf("the first page does not have 50 rows")
	}
	pg3 := b.expect(b.get("/?page=3"), 200, "101–122 of 122", "page 3 of 3", `data-ctid="1119"`)
	if strings.Contains(pg3.Body, `rel="next"`) {
		t.Errorf("the last page offers a next page")
	}
	found := b.expect(b.get("/?q=h1017.example"), 200, "1–1 of 1 containers matching", `data-ctid="1017"`)
	if strings.Contains(found.Body, `data-ctid="1018"`) {
		t.Errorf("search h1017 lists 1018")
	}
	b.expect(b.get("/?sort=-ctid"), 200, `aria-sort="descending" class="num"><a href="/?sort=ctid" data-sort="ctid">CTID`)
	bad := b.expect(b.get("/?status=asleep&sort=size"), 422, `id="list-errors"`, "<strong>status</strong>", "<strong>sort</strong>")
	if !strings.Contains(bad.Body, `data-ctid="101"`) {
		t.Errorf("a bad filter shows no list")
	}

	// Bulk: one confirmation naming them all, then one operation each.
	confirm := b.expect(b.post("/containers/bulk", url.Values{"action": {"stop"}, "ctid": {"101", "102"}, "back": {"/?page=1"}}), 200,
		`id="bulk-confirm"`, "Yes, stop 2 containers", `name="ctid" value="101"`, `name="ctid" value="102"`, `href="/?page=1"`)
	_ = confirm
	done := b.expect(b.post("/containers/bulk", url.Values{"action": {"stop"}, "ctid": {"101", "102"}, "confirm": {"yes"}}), 200,
		"2 of 2 queued", `data-result="queued"`)
	_ = done
	b.expect(b.post("/containers/bulk", url.Values{"action": {"stop"}}), 422, "<strong>containers</strong>", "choose at least one")

	// A customer's bulk cannot name another's container.
	c := p.browser()
	c.mustLogin("alice", "alice password")
	mine := c.expect(c.get("/"), 200, `data-ctid="101"`, "1–50 of 61", "page 1 of 2")
	if strings.Contains(mine.Body, `data-ctid="1001"`) || strings.Contains(mine.Body, `id="farm-owner"`) {
		t.Errorf("alice's list shows bob's container or the owner filter")
	}
	c.expect(c.post("/containers/bulk", url.Values{"action": {"stop"}, "ctid": {"101", "102"}}), 422, "no container 102")
}

// userID is the id of the user named username.
func (p *testPanel) userID(username string) *int64 {
	p.t.Helper()
	var id int64
	if err := p.app.Store.Pool.QueryRow(context.Background(), `SELECT id FROM users WHERE username = $1`, username).Scan(&id); err != nil {
		p.t.Fatalf("user %s: %v", username, err)
	}
	return &id
}
