package server

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestUIFarmOverview: the staff dashboard shows the host now (CPUs, load,
// memory and disk as bars), the containers by state, and the latest
// operations with who asked and how they ended; a customer's shows none
// of it; every other staff page ends with a short task log.
func TestUIFarmOverview(t *testing.T) {
	p := uiFarm(t)
	// Nightly backups: 101's due in two hours, 102's an hour late. The
	// scheduler is stopped first: its tick would run the late one.
	p.app.stopSched()
	<-p.app.schedDone
	if _, err := p.app.Store.Pool.Exec(context.Background(), `
		WITH t AS (INSERT INTO backup_targets (name, kind, path, repo_password) VALUES ('nightly', 'dir', '/srv/backups', 'x') RETURNING id)
		INSERT INTO backup_schedules (ct_id, target_id, minute_of_day, next_run_at)
		SELECT 101, t.id, 60, now() + interval '2 hours' FROM t UNION ALL SELECT 102, t.id, 60, now() - interval '1 hour' FROM t`); err != nil {
		t.Fatal(err)
	}
	b := p.browser()
	b.mustLogin("ops", "correct horse")
	pg := b.expect(b.get("/"), 200, `id="overview"`, "Host", `id="host-load"`, "Recent tasks", "backups failed (24 h)",
		`<dd id="backups-due">1 <span class="badge warn">1 late</span></dd>`, `id="host-history"`)
	if !regexp.MustCompile(`<span class="meter-name">Memory</span>\s*<progress max="100" value="\d+"`).MatchString(pg.Body) {
		t.Error("no host memory bar")
	}
	if !regexp.MustCompile(`(?s)id="by-state">\s*<dt>running</dt><dd>2</dd>`).MatchString(pg.Body) {
		t.Errorf("containers by state: want 2 running:\n%s", pg.Body)
	}
	log := pg.Body[strings.Index(pg.Body, `id="task-log"`):]
	for _, want := range []string{`href="/containers/101"`, `href="/containers/102"`, "create", "succeeded"} {
		if !strings.Contains(log, want) {
			t.Errorf("the task log lacks %q", want)
		}
	}
	// The short task log at the foot of every other staff page.
	if pg := b.expect(b.get("/plans"), 200, `id="task-log-footer"`); !strings.Contains(pg.Body[strings.Index(pg.Body, `id="task-log-footer"`):], `href="/containers/102"`) {
		t.Error("the plans page's task log lacks the latest operation")
	}
	alice := p.browser()
	alice.mustLogin("alice", "alice password")
	if c := alice.expect(alice.get("/"), http.StatusOK).Body; strings.Contains(c, `id="overview"`) || strings.Contains(c, "Recent tasks") {
		t.Error("a customer's dashboard shows the farm overview")
	}
	if c := alice.expect(alice.get("/containers/101"), http.StatusOK).Body; strings.Contains(c, "task-log") {
		t.Error("a customer's page shows the farm's task log")
	}
	// The task log's and the host charts' data are staff's alone.
	alice.expect(alice.get("/tasks.json"), http.StatusForbidden)
	alice.expect(alice.get("/host-history.json"), http.StatusForbidden)
	if tasks := b.expect(b.get("/tasks.json?n=3"), 200).Body; strings.Count(tasks, `"ctid":`) != 2 || !strings.Contains(tasks, `"action":"create"`) {
		t.Errorf("tasks.json: %s", tasks)
	}
	b.expect(b.get("/host-history.json?range=2y"), http.StatusUnprocessableEntity, `"range"`)
	b.expect(b.get("/host-history.json?range=1w"), 200, `"points":`)
}
