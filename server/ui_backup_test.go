package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestUIBackups: staff add a target on the backups page (a bad folder
// shown on its field); a customer's container page has the backups
// section, takes a schedule (a bad time shown on its field) and a backup
// (its operation followed); another customer gets a 404 for its actions.
func TestUIBackups(t *testing.T) {
	p := uiFarm(t)
	p.account("root", "admin", "admin password")
	b := p.browser()
	b.mustLogin("root", "admin password")
	b.expect(b.get("/backups"), 200, "No backup targets yet", `href="/backups"`)
	b.expect(b.post("/backups/targets", url.Values{"name": {"local"}, "path": {"not/absolute"}}), http.StatusUnprocessableEntity, "absolute, clean path")
	b.expect(b.post("/backups/targets", url.Values{"name": {"local"}, "path": {t.TempDir()}}), http.StatusSeeOther)
	b.expect(b.get("/backups"), 200, "local")

	alice := p.browser()
	alice.mustLogin("alice", "alice password")
	alice.expect(alice.get("/backups"), http.StatusForbidden)
	alice.expect(alice.get("/containers/101"), 200, `id="backups"`, "No backups yet", "Back up now", "No daily backup")
	alice.expect(alice.post("/containers/101/backup-schedule", url.Values{"target": {"local"}, "time": {"7pm"}}), http.StatusUnprocessableEntity,
		`id="backups"`, "HH:MM")
	alice.expect(alice.post("/containers/101/backup-schedule", url.Values{"target": {"local"}, "time": {"03:10"}}), http.StatusSeeOther)
	alice.expect(alice.get("/containers/101"), 200, "Backed up daily at 03:10 to local")
	pg := alice.post("/containers/101/backups", url.Values{"target": {"local"}})
	if pg.Status != http.StatusSeeOther || !strings.Contains(pg.Header.Get("Location"), "op=") {
		t.Fatalf("back up now: %d %s", pg.Status, pg.Body)
	}
	p.waitIdle(t, "101")
	ct := alice.expect(alice.get("/containers/101"), 200, `id="backups-table"`)
	if !strings.Contains(ct.Body, "failed") && !strings.Contains(ct.Body, "succeeded") {
		t.Errorf("the backup is not listed as finished:\n%s", ct.Body)
	}
	alice.expect(alice.post("/containers/101/snapshots", url.Values{"name": {"bad name"}}), http.StatusUnprocessableEntity, `id="backups"`, "must be 1 to 64")
	pg = alice.post("/containers/101/snapshots", url.Values{"name": {"first"}})
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("take a snapshot: %d %s", pg.Status, pg.Body)
	}
	p.waitIdle(t, "101")
	alice.expect(alice.get("/containers/101"), 200, `data-snapshot="first"`)
	alice.expect(alice.post("/containers/101/snapshots/first/delete", nil), http.StatusSeeOther)
	alice.expect(alice.get("/containers/101"), 200, "No snapshots")
	bob := p.browser()
	bob.mustLogin("bob", "bob password")
	bob.expect(bob.post("/containers/101/backups", url.Values{"target": {"local"}}), http.StatusNotFound)
	bob.expect(bob.post("/containers/101/backup-schedule", url.Values{"remove": {"1"}}), http.StatusNotFound)
	alice.expect(alice.post("/containers/101/backup-schedule", url.Values{"remove": {"1"}}), http.StatusSeeOther)
	alice.expect(alice.get("/containers/101"), 200, "No daily backup")
}
