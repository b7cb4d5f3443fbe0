package server

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/db"
)

// errorPage is what only the bare error page (error.html) has.
const errorPage = `class="button">Back to the panel</a>`

// formOf is the form whose opening tag has marker (its id), up to its
// end: a page may have several inputs of one name in different forms.
func formOf(body, marker string) string {
	i := strings.Index(body, marker)
	if i < 0 {
		return ""
	}
	rest := body[i:]
	if end := strings.Index(rest, "</form>"); end >= 0 {
		rest = rest[:end]
	}
	return rest
}

// formCase is one form posted with several wrong fields: the answer is
// the page the form is on (marker, an element id of it), with a 4xx, and
// each field's reason next to its field.
type formCase struct {
	name   string
	path   string
	form   url.Values
	status int
	marker string
	// fields are the inputs that must each show an error containing the
	// text given ("" for any).
	fields map[string]string
	// contains is text the page must have besides (a refusal's message).
	contains []string
}

// TestUIFormsNameEveryWrongField posts every form of the panel with
// several wrong fields at once; each is named next to its input, in the
// page the form came from, never on the bare error page.
func TestUIFormsNameEveryWrongField(t *testing.T) {
	p := uiFarm(t)
	p.account("root", db.RoleAdmin, "admin password")
	pool := p.expect(p.do(p.admin, "POST", "/api/v1/ip-pools", map[string]any{"name": "v4", "cidr": "198.18.90.0/24", "default": true}),
		http.StatusCreated).json(t)
	poolID := strconv.Itoa(int(pool["id"].(float64)))
	b := p.browser()
	b.mustLogin("root", "admin password")
	long := strings.Repeat("x", 2000)

	cases := []formCase{
		{name: "create container", path: "/containers/new", status: http.StatusUnprocessableEntity, marker: `id="create-form"`,
			form: url.Values{"ctid": {"abc"}, "hostname": {"-bad-.example.com"}, "template": {"windows95"}, "name": {"a/b"},
				"nameserver": {"nonsense"}, "owner": {"nobody"}, "plan": {"huge"}, "root_password": {"x"}},
			fields: map[string]string{"ctid": "whole number", "hostname": "labels must not start", "template": "unknown template",
				"name": `must not contain "/"`, "nameserver": "not an IP address", "owner": "no user", "plan": "no plan", "root_password": "bytes"}},
		{name: "clone", path: "/containers/102/clone", status: http.StatusUnprocessableEntity, marker: `id="clone-form"`,
			form:   url.Values{"ctid": {"abc"}, "hostname": {"-bad-.example.com"}, "name": {"a/b"}},
			fields: map[string]string{"ctid": "whole number", "hostname": "labels must not start", "name": `must not contain "/"`}},
		{name: "settings", path: "/containers/101/settings", status: http.StatusUnprocessableEntity, marker: `id="settings-form"`,
			form:   url.Values{"hostname": {"-bad-.example.com"}, "nameserver": {"nonsense"}, "name": {"a/b"}, "description": {long}},
			fields: map[string]string{"hostname": "labels must not start", "nameserver": "not an IP address", "name": `must not contain "/"`, "description": "1024"}},
		{name: "limits", path: "/containers/101/limits", status: http.StatusUnprocessableEntity, marker: `id="limits-form"`,
			form:   url.Values{"numproc": {"lots"}, "physpages": {"512M:256M"}},
			fields: map[string]string{"numproc": "", "physpages": ""}},
		{name: "suspend", path: "/containers/101/suspend", status: http.StatusUnprocessableEntity, marker: `id="suspend-form"`,
			form:   url.Values{"mode": {"sideways"}, "reason": {long}},
			fields: map[string]string{"mode": "must be", "reason": "1024"}},
		{name: "root password", path: "/containers/101/root-password", status: http.StatusUnprocessableEntity, marker: `id="root-password-form"`,
			form:   url.Values{"root_password": {"x"}},
			fields: map[string]string{"root_password": "bytes"}},
		{name: "change plan", path: "/containers/101/change-plan", status: http.StatusUnprocessableEntity, marker: `id="change-plan-form"`,
			form:   url.Values{"plan": {"huge"}},
			fields: map[string]string{"plan": "no plan"}},
		{name: "change owner", path: "/containers/101/change-owner", status: http.StatusUnprocessableEntity, marker: `id="change-owner-form"`,
			form:   url.Values{"owner": {"nobody"}},
			fields: map[string]string{"owner": "no user"}},
		{name: "address", path: "/containers/101/ip-addresses", status: http.StatusUnprocessableEntity, marker: `id="address-form"`,
			form:   url.Values{"address": {"not-an-ip"}, "pool": {"nopool"}},
			fields: map[string]string{"address": "not \"auto\"", "pool": "no IP pool"}},
		{name: "backup", path: "/containers/101/backups", status: http.StatusUnprocessableEntity, marker: `id="backup-form"`,
			form:   url.Values{"target": {"nowhere"}},
			fields: map[string]string{"target": "nowhere"}},
		{name: "snapshot", path: "/containers/101/snapshots", status: http.StatusUnprocessableEntity, marker: `id="snapshot-form"`,
			form:   url.Values{"name": {"-bad name"}},
			fields: map[string]string{"name": "1 to 64"}},
		{name: "backup schedule", path: "/containers/101/backup-schedule", status: http.StatusUnprocessableEntity, marker: `id="schedule-form"`,
			form:   url.Values{"target": {"nowhere"}, "time": {"25:99"}},
			fields: map[string]string{"target": "no backup target", "time": "HH:MM"}},
		{name: "reinstall", path: "/containers/101/reinstall", status: http.StatusUnprocessableEntity, marker: `id="reinstall-form"`,
			form:   url.Values{"confirm": {"1"}, "template": {"windows95"}, "root_password": {"x"}},
			fields: map[string]string{"confirm": "type 101", "template": "unknown template", "root_password": "bytes"}},
		{name: "destroy", path: "/containers/102/destroy", status: http.StatusUnprocessableEntity, marker: `id="destroy-form"`,
			form:   url.Values{"confirm": {"1"}},
			fields: map[string]string{"confirm": "type 102", "force": "running"}},
		{name: "plan create", path: "/plans", status: http.StatusUnprocessableEntity, marker: `id="plan-form"`,
			form: url.Values{"name": {"a/b"}, "description": {long}, "numproc": {"-1"}, "physpages": {"lots"}, "network.present": {"1"},
				"network.rate_in_mbit": {"0"}},
			fields: map[string]string{"name": `must not contain "/"`, "description": "1024", "numproc": "", "physpages": "",
				"network.rate_in_mbit": "Mbit/s"}},
		{name: "plan edit with alert thresholds", path: "/plans/small", status: http.StatusUnprocessableEntity, marker: `id="plan-edit"`,
			form: url.Values{"description": {long}, "numproc": {"lots"}, "network.present": {"1"}, "network.ip_addresses": {"-5"},
				"alerts.present": {"1"}, "alerts.thresholds.numproc.failures": {"0"}, "alerts.thresholds.physpages.window_seconds": {"x"},
				"alerts.thresholds.physpages.failures": {"3"}},
			fields: map[string]string{"description": "1024", "numproc": "", "network.ip_addresses": "between 0",
				"alerts.thresholds.numproc.failures": "whole number", "alerts.thresholds.physpages.window_seconds": "seconds"}},
		{name: "customer", path: "/customers", status: http.StatusUnprocessableEntity, marker: `id="customer-form"`,
			form:   url.Values{"username": {"a/b"}, "email": {"not-mail"}, "password": {"short"}, "name": {long}, "external_id": {long}},
			fields: map[string]string{"username": `must not contain "/"`, "email": "", "password": "bytes", "name": "1024", "external_id": ""}},
		{name: "ip pool create", path: "/networks/pools", status: http.StatusUnprocessableEntity, marker: `id="pool-form"`,
			form: url.Values{"name": {"Bad Name!"}, "cidr": {"nonsense"}, "mode": {"weird"}, "gateway": {"nope"}, "nameservers": {"x y"},
				"share_prefix": {"abc"}},
			fields: map[string]string{"name": "must be 1 to 63", "cidr": "CIDR", "mode": "routed or bridged", "gateway": "not an IP address",
				"nameservers": "not an IP address"}},
		{name: "ip pool edit", path: "/networks/pools/" + poolID, status: http.StatusUnprocessableEntity, marker: `id="pool-edit"`,
			form:   url.Values{"name": {"Bad Name!"}, "mode": {"weird"}, "gateway": {"nope"}, "nameservers": {"x"}},
			fields: map[string]string{"name": "must be 1 to 63", "mode": "", "gateway": "not an IP address", "nameservers": "not an IP address"}},
		{name: "reservation", path: "/networks/reservations", status: http.StatusUnprocessableEntity, marker: `id="reserve-form"`,
			form:   url.Values{"customer": {"nobody"}, "address": {"not-an-ip"}},
			fields: map[string]string{"customer": "no user", "address": "not \"auto\""}},
		{name: "reservation outside its pool", path: "/networks/reservations", status: http.StatusUnprocessableEntity, marker: `id="reserve-form"`,
			form:   url.Values{"customer": {"ops"}, "address": {"203.0.113.5"}, "pool": {"v4"}},
			fields: map[string]string{"customer": "not a customer", "address": "is not in pool"}},
		{name: "backup target", path: "/backups/targets", status: http.StatusUnprocessableEntity, marker: `id="target-form"`,
			form:   url.Values{"name": {"_mine"}, "path": {"relative/path"}},
			fields: map[string]string{"name": "the panel's own", "path": "absolute"}},
		{name: "image build", path: "/templates/build", status: http.StatusUnprocessableEntity, marker: `id="image-build"`,
			form:   url.Values{"recipe": {"nope"}, "name": {"Bad/Name"}, "mirror": {"ftp://x"}},
			fields: map[string]string{"recipe": "not a recipe", "name": "", "mirror": "http"}},
		{name: "image import", path: "/templates/import", status: http.StatusUnprocessableEntity, marker: `id="image-import"`,
			form:   url.Values{"source": {"ftp://nowhere"}, "name": {"Bad/Name"}},
			fields: map[string]string{"source": "", "product": "is required", "name": ""}},
		{name: "test mail", path: "/mail/test", status: http.StatusUnprocessableEntity, marker: `id="test-mail-form"`,
			form:   url.Values{"to": {"not-mail"}},
			fields: map[string]string{"to": ""}},
		{name: "token", path: "/tokens", status: http.StatusUnprocessableEntity, marker: `id="token-form"`,
			form:   url.Values{"name": {"a/b"}, "role": {"wizard"}, "user": {"nobody"}, "expires_in": {"soon"}},
			fields: map[string]string{"name": `must not contain "/"`, "role": "", "user": "no user", "expires_in": "duration"}},
		{name: "staff user", path: "/users", status: http.StatusUnprocessableEntity, marker: `id="user-form"`,
			form:   url.Values{"username": {"a/b"}, "email": {"not-mail"}, "role": {"wizard"}, "password": {"short"}, "name": {long}},
			fields: map[string]string{"username": `must not contain "/"`, "email": "", "role": "admin or staff", "password": "bytes", "name": "1024"}},
		{name: "account password", path: "/account/password", status: http.StatusUnprocessableEntity, marker: `id="password-form"`,
			form:   url.Values{"current": {"nope"}, "password": {"short"}, "confirm": {"other"}},
			fields: map[string]string{"current": "not your current password", "password": "bytes", "confirm": "does not match"}},
	}
	for _, c := range cases {
		pg := b.post(c.path, c.form)
		if pg.Status != c.status {
			t.Errorf("%s: status %d, want %d:\n%s", c.name, pg.Status, c.status, pg.Body)
			continue
		}
		if !strings.Contains(pg.Body, c.marker) || strings.Contains(pg.Body, errorPage) {
			t.Errorf("%s: the answer is not the form's page (%s):\n%s", c.name, c.marker, pg.Body)
			continue
		}
		for field, want := range c.fields {
			if got := fieldError(formOf(pg.Body, c.marker), field); got == "" || !strings.Contains(got, want) {
				t.Errorf("%s: error next to %s is %q, want one with %q", c.name, field, got, want)
			}
		}
		for _, s := range c.contains {
			if !strings.Contains(pg.Body, s) {
				t.Errorf("%s: page lacks %q", c.name, s)
			}
		}
	}
	if n := p.containerCount(); n != 2 {
		t.Fatalf("refused forms changed the farm: %d containers", n)
	}
}

// TestUIRefusalsStayInTheirPage: a button refused for the state of things
// (a plan or customer in use, a container running, a token unknown) says
// why in the page it is on, not on the bare error page.
func TestUIRefusalsStayInTheirPage(t *testing.T) {
	p := uiFarm(t)
	p.account("root", db.RoleAdmin, "admin password")
	b := p.browser()
	b.mustLogin("root", "admin password")
	alice, err := p.app.Store.GetUserByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	aliceID := strconv.FormatInt(alice.ID, 10)
	cases := []struct {
		name, path string
		status     int
		marker     string
		contains   string
	}{
		{"plan in use", "/plans/small/delete", http.StatusConflict, `id="plan-form"`, "small"},
		{"customer owning containers", "/customers/" + aliceID + "/delete", http.StatusConflict, `id="customer-form"`, "terminate them first"},
		{"template in use or built in", "/templates/busybox/delete", 0, `id="image-build"`, ""},
		{"clone of a running container", "/containers/102/clone", http.StatusConflict, `id="clone-form"`, "stop it first"},
		{"unsuspend of a running one", "/containers/101/unsuspend", http.StatusConflict, `id="suspend-form"`, "not suspended"},
	}
	for _, c := range cases {
		pg := b.post(c.path, nil)
		if pg.Status < 400 || pg.Status >= 500 || (c.status != 0 && pg.Status != c.status) {
			t.Errorf("%s: status %d, want %d:\n%s", c.name, pg.Status, c.status, pg.Body)
			continue
		}
		if !strings.Contains(pg.Body, c.marker) || strings.Contains(pg.Body, errorPage) {
			t.Errorf("%s: the refusal is not in the page (%s):\n%s", c.name, c.marker, pg.Body)
			continue
		}
		if !strings.Contains(pg.Body, `class="notice error"`) || !strings.Contains(pg.Body, c.contains) {
			t.Errorf("%s: no message %q in the page:\n%s", c.name, c.contains, pg.Body)
		}
	}
}
