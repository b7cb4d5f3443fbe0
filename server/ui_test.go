package server

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/handlers/auth"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so a test sees each answer of the panel's pages.
type browser struct {
	t    testing.TB
	p    *testPanel
	c    *http.Client
	csrf string
}

func (p *testPanel) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: p.t, p: p, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// account makes a panel user with a password.
func (p *testPanel) account(username, role, password string) db.Account {
	p.t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		p.t.Fatal(err)
	}
	acc, err := p.app.Store.CreateAccount(context.Background(), db.Account{Username: username, Role: role, Email: username + "@example.com"}, string(hash))
	if err != nil {
		p.t.Fatal(err)
	}
	return acc
}

type page struct {
	Status int
	Header http.Header
	Body   string
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (b *browser) send(req *http.Request) page {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	pg := page{Status: res.StatusCode, Header: res.Header, Body: string(raw)}
	if m := csrfInput.FindStringSubmatch(pg.Body); m != nil {
		b.csrf = html.UnescapeString(m[1])
	}
	return pg
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.p.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.send(req)
}

// post sends a form; the session's CSRF token is added unless the form
// has one (or "-" to send none). header adds request headers.
func (b *browser) post(path string, form url.Values, header ...string) page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf_token") == "" && b.csrf != "" {
		form.Set("csrf_token", b.csrf)
	}
	if form.Get("csrf_token") == "-" {
		form.Del("csrf_token")
	}
	req, err := http.NewRequest("POST", b.p.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.send(req)
}

func (b *browser) login(user, password string) page {
	b.t.Helper()
	return b.post("/login", url.Values{"username": {user}, "password": {password}})
}

// mustLogin signs in and loads the home page (for its CSRF token).
func (b *browser) mustLogin(user, password string) {
	b.t.Helper()
	pg := b.login(user, password)
	if pg.Status != http.StatusSeeOther || pg.Header.Get("Location") != "/" {
		b.t.Fatalf("login as %s: %d %s: %s", user, pg.Status, pg.Header.Get("Location"), pg.Body)
	}
	b.expect(b.get("/"), 200)
}

func (b *browser) expect(pg page, status int, contains ...string) page {
	b.t.Helper()
	if pg.Status != status {
		b.t.Fatalf("status %d, want %d: %s", pg.Status, status, pg.Body)
	}
	for _, s := range contains {
		if !strings.Contains(pg.Body, s) {
			b.t.Fatalf("page lacks %q:\n%s", s, pg.Body)
		}
	}
	return pg
}

func (b *browser) cookie() *http.Cookie {
	u, _ := url.Parse(b.p.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == auth.SessionCookie {
			return c
		}
	}
	return nil
}

// fieldError finds the error shown next to the (last) input named field.
func fieldError(body, field string) string {
	i := strings.LastIndex(body, `name="`+field+`"`)
	if i < 0 {
		return ""
	}
	rest := body[i:]
	end := strings.Index(rest, "</label>")
	if end < 0 {
		return ""
	}
	m := regexp.MustCompile(`class="field-error"[^>]*>([^<]*)<`).FindStringSubmatch(rest[:end])
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func TestUILoginLogout(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	p.account("ops", db.RoleStaff, "correct horse")
	b := p.browser()

	pg := b.get("/")
	if pg.Status != http.StatusSeeOther || pg.Header.Get("Location") != "/login?next=%2F" {
		t.Fatalf("signed-out home: %d %q", pg.Status, pg.Header.Get("Location"))
	}
	b.expect(b.get("/login"), 200, `name="username"`, `name="password"`)

	pg = b.expect(b.login("ops", "wrong password"), http.StatusUnauthorized)
	if got := fieldError(pg.Body, "password"); got != "wrong username or password" {
		t.Fatalf("error next to password: %q\n%s", got, pg.Body)
	}
	pg = b.expect(b.login("nobody", "whatever1"), http.StatusUnauthorized)
	if got := fieldError(pg.Body, "password"); got != "wrong username or password" {
		t.Fatalf("unknown user: %q", got)
	}
	pg = b.expect(b.login("", ""), http.StatusUnprocessableEntity)
	if fieldError(pg.Body, "username") == "" || fieldError(pg.Body, "password") == "" {
		t.Fatalf("empty form: no field errors:\n%s", pg.Body)
	}
	if b.cookie() != nil {
		t.Fatal("a failed sign-in set a session cookie")
	}

	pg = b.login("ops", "correct horse")
	if pg.Status != http.StatusSeeOther || pg.Header.Get("Location") != "/" {
		t.Fatalf("login: %d %q: %s", pg.Status, pg.Header.Get("Location"), pg.Body)
	}
	setCookie := pg.Header.Get("Set-Cookie")
	for _, want := range []string{auth.SessionCookie + "=", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="} {
		if !strings.Contains(setCookie, want) {
			t.Fatalf("Set-Cookie %q lacks %s", setCookie, want)
		}
	}
	if strings.Contains(setCookie, "Secure") {
		t.Fatalf("Secure cookie on plain HTTP without CTPANEL_COOKIE_SECURE: %q", setCookie)
	}
	var stored int
	if err := p.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions WHERE id_hash = $1`,
		db.HashToken(b.cookie().Value)).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("session stored by hash: %d %v", stored, err)
	}
	home := b.expect(b.get("/"), 200, "Farm", "ops", "No containers yet")
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
		if home.Header.Get(h) == "" {
			t.Errorf("page without %s", h)
		}
	}
	// Signed in, the REST API takes the cookie too.
	old := b.cookie().Value
	req, _ := http.NewRequest("GET", p.srv.URL+"/api/v1/containers", nil)
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: old})
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("API with the session cookie: %v %v", res.StatusCode, err)
	}

	pg = b.post("/logout", nil)
	if pg.Status != http.StatusSeeOther || pg.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d %q", pg.Status, pg.Header.Get("Location"))
	}
	if c := b.cookie(); c != nil {
		t.Fatalf("cookie kept after logout: %v", c)
	}
	// The old cookie no longer signs anyone in.
	b.c.Jar.SetCookies(mustURL(p.srv.URL), []*http.Cookie{{Name: auth.SessionCookie, Value: old, Path: "/"}})
	if pg := b.get("/"); pg.Status != http.StatusSeeOther {
		t.Fatalf("old session still works after logout: %d", pg.Status)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestUILoginRateLimited(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	p.account("ops", db.RoleStaff, "correct horse")
	b := p.browser()
	for i := 0; i < 5; i++ {
		b.expect(b.login("ops", fmt.Sprintf("guess %d", i)), http.StatusUnauthorized)
	}
	pg := b.expect(b.login("ops", "correct horse"), http.StatusTooManyRequests, "Too many failed sign-ins")
	if pg.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if b.cookie() != nil {
		t.Fatal("signed in while rate-limited")
	}
	// Another browser from the same address is limited too.
	other := p.browser()
	other.expect(other.login("ops", "correct horse"), http.StatusTooManyRequests)
}

func TestUISessionExpires(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	p.account("ops", db.RoleStaff, "correct horse")
	ctx := context.Background()
	for _, tc := range []struct{ name, sql string }{
		{"idle", `UPDATE sessions SET last_seen_at = now() - interval '13 hours'`},
		{"absolute", `UPDATE sessions SET expires_at = now() - interval '1 second'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := p.browser()
			b.mustLogin("ops", "correct horse")
			if _, err := p.app.Pool.Exec(ctx, tc.sql); err != nil {
				t.Fatal(err)
			}
			if pg := b.get("/"); pg.Status != http.StatusSeeOther || !strings.HasPrefix(pg.Header.Get("Location"), "/login") {
				t.Fatalf("expired session still signed in: %d", pg.Status)
			}
		})
	}
}

func TestUICrossSiteAndMissingTokenRefused(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	p.account("ops", db.RoleStaff, "correct horse")
	b := p.browser()
	b.mustLogin("ops", "correct horse")
	form := url.Values{"ctid": {"150"}, "template": {"busybox"}, "hostname": {"evil.example.com"}}

	pg := b.post("/containers/new", form, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	b.expect(pg, http.StatusForbidden, "Cross-site request refused")
	pg = b.post("/containers/new", form, "Origin", "https://evil.example")
	b.expect(pg, http.StatusForbidden)
	f2 := url.Values{}
	for k, v := range form {
		f2[k] = v
	}
	f2.Set("csrf_token", "-")
	b.expect(b.post("/containers/new", f2), http.StatusForbidden, "security token")
	f2.Set("csrf_token", "not-the-token")
	b.expect(b.post("/containers/new", f2), http.StatusForbidden)
	// Logging someone in from another site is refused too.
	b.expect(p.browser().post("/login", url.Values{"username": {"ops"}, "password": {"correct horse"}},
		"Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
	if n := p.containerCount(); n != 0 {
		t.Fatalf("%d containers made by refused posts", n)
	}

	// The API with the cookie: a change needs the CSRF header and the same
	// origin; a bearer token needs neither.
	apiPost := func(header ...string) int {
		req, _ := http.NewRequest("POST", p.srv.URL+"/api/v1/containers", strings.NewReader(`{"ctid":151,"template":"busybox"}`))
		req.AddCookie(b.cookie())
		req.Header.Set(malformedHeader, "1") // no Content-Type: refused before it matters
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := apiPost(); s != http.StatusForbidden {
		t.Fatalf("cookie API post without CSRF header: %d", s)
	}
	if s := apiPost(auth.CSRFHeader, b.csrf, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); s != http.StatusForbidden {
		t.Fatalf("cross-site cookie API post: %d", s)
	}
	if n := p.containerCount(); n != 0 {
		t.Fatalf("%d containers made by refused API posts", n)
	}
	if s := apiPost(auth.CSRFHeader, b.csrf, "Sec-Fetch-Site", "same-origin"); s != http.StatusAccepted {
		t.Fatalf("same-origin cookie API post with the token: %d", s)
	}
}

// uiFarm is a panel with staff "ops", customers alice (101) and bob (102,
// named bobs) and their passwords.
func uiFarm(t *testing.T) *testPanel {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	p.account("ops", db.RoleStaff, "correct horse")
	p.account("alice", db.RoleCustomer, "alice password")
	p.account("bob", db.RoleCustomer, "bob password")
	p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "small", "limits": map[string]any{"numproc": "100"}}), 201)
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "name": "alices", "template": "busybox", "owner": "alice", "plan": "small", "start": true})
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 102, "name": "bobs", "template": "busybox", "owner": "bob", "start": true})
	return p
}

func TestUICustomerSeesOnlyTheirOwn(t *testing.T) {
	p := uiFarm(t)
	b := p.browser()
	b.mustLogin("alice", "alice password")
	home := b.expect(b.get("/"), 200, "My containers", `href="/containers/101"`)
	if strings.Contains(home.Body, "bobs") || strings.Contains(home.Body, "/containers/102") {
		t.Fatalf("alice's home lists bob's container:\n%s", home.Body)
	}
	for _, path := range []string{"/containers/102", "/containers/bobs", "/containers/102/reinstall", "/containers/4242"} {
		b.expect(b.get(path), http.StatusNotFound, "Not found")
	}
	for _, path := range []string{"/containers/102/start", "/containers/102/stop", "/containers/102/settings", "/containers/102/reinstall"} {
		b.expect(b.post(path, url.Values{"hostname": {"x.example.com"}, "template": {"busybox"}, "confirm": {"102"}}), http.StatusNotFound)
	}
	ct := b.expect(b.get("/containers/101"), 200, "Beancounters", "numproc", "Connect to the console", "Reinstall",
		`id="meters"`, "The raw counters (beancounters)")
	// Her usage in plain words, against her plan's numproc of 100.
	if !regexp.MustCompile(`<span class="meter-name">Processes</span>\s*<progress max="100" value="\d+"[^>]*>[^<]*</progress>\s*<span class="meter-text">\d+ of 100</span>`).MatchString(ct.Body) {
		t.Errorf("alice's page lacks the processes meter against her plan:\n%s", ct.Body)
	}
	for _, staffOnly := range []string{`id="limits-form"`, `/containers/101/destroy`, `/containers/101/freeze`, `/containers/101/clone`} {
		if strings.Contains(ct.Body, staffOnly) {
			t.Errorf("alice's container page offers %s", staffOnly)
		}
	}
	// Refused by the server too, not only hidden.
	b.expect(b.post("/containers/101/limits", url.Values{"numproc": {"5000"}}), http.StatusForbidden)
	b.expect(b.post("/containers/101/freeze", nil), http.StatusForbidden)
	for _, path := range []string{"/containers/new", "/customers", "/plans", "/audit", "/alerts", "/users", "/tokens", "/containers/101/destroy"} {
		b.expect(b.get(path), http.StatusForbidden)
	}
	var limits string
	if err := p.app.Pool.QueryRow(context.Background(), `SELECT limits::text FROM containers WHERE ct_id = 101`).Scan(&limits); err != nil ||
		!strings.Contains(limits, `"barrier": 100`) {
		t.Fatalf("alice changed her limits: %s %v", limits, err)
	}
	// What she may do works: stop and start her own container.
	pg := b.post("/containers/101/stop", nil)
	if pg.Status != http.StatusSeeOther || !strings.HasPrefix(pg.Header.Get("Location"), "/containers/101?op=") {
		t.Fatalf("stop: %d %q: %s", pg.Status, pg.Header.Get("Location"), pg.Body)
	}
}

func TestUIFormsRefuseBadInput(t *testing.T) {
	p := uiFarm(t)
	b := p.browser()
	b.mustLogin("ops", "correct horse")
	ctx := context.Background()

	// Create: each reason next to its field, nothing created.
	pg := b.expect(b.post("/containers/new", url.Values{"ctid": {"50"}, "hostname": {"-bad-.example.com"}, "template": {"windows95"},
		"nameserver": {"not-an-ip"}, "name": {"a/b"}}), http.StatusUnprocessableEntity, "Nothing was created")
	for field, want := range map[string]string{"ctid": "below 101", "hostname": "labels must not start", "template": "unknown template",
		"nameserver": "not an IP address", "name": `must not contain "/"`} {
		if got := fieldError(pg.Body, field); !strings.Contains(got, want) {
			t.Errorf("create: error next to %s is %q, want %q", field, got, want)
		}
	}
	if !strings.Contains(pg.Body, `value="-bad-.example.com"`) {
		t.Error("create: what was typed is not kept")
	}
	pg = b.expect(b.post("/containers/new", url.Values{"ctid": {"abc"}, "template": {"busybox"}}), http.StatusUnprocessableEntity)
	if fieldError(pg.Body, "ctid") == "" {
		t.Errorf("create: no error next to a non-numeric ctid")
	}
	pg = b.expect(b.post("/containers/new", url.Values{"ctid": {"101"}, "template": {"busybox"}}), http.StatusConflict)
	if got := fieldError(pg.Body, "ctid"); got != "already taken" {
		t.Errorf("create: duplicate ctid: %q", got)
	}
	if n := p.containerCount(); n != 2 {
		t.Fatalf("bad creates changed the farm: %d containers", n)
	}

	// Settings.
	pg = b.expect(b.post("/containers/101/settings", url.Values{"hostname": {"ok.example.com"}, "nameserver": {"192.0.2.1 nonsense"}, "name": {"alices"}}),
		http.StatusUnprocessableEntity)
	if got := fieldError(pg.Body, "nameserver"); !strings.Contains(got, "not an IP address") {
		t.Errorf("settings: nameserver error %q", got)
	}
	pg = b.expect(b.post("/containers/101/settings", url.Values{"hostname": {"x.example.com"}, "name": {"bobs"}}), http.StatusConflict)
	if got := fieldError(pg.Body, "name"); got != "already taken" {
		t.Errorf("settings: duplicate name: %q", got)
	}
	c, err := p.app.Store.GetContainer(ctx, 101)
	if err != nil || c.Hostname != "" || len(c.Nameservers) != 0 || *c.Name != "alices" {
		t.Fatalf("refused settings changed the container: %+v %v", c, err)
	}

	// Limits.
	pg = b.expect(b.post("/containers/101/limits", url.Values{"numproc": {"lots"}, "physpages": {"512M:256M"}}), http.StatusUnprocessableEntity)
	if fieldError(pg.Body, "numproc") == "" || fieldError(pg.Body, "physpages") == "" {
		t.Errorf("limits: errors not next to the fields:\n%s", pg.Body)
	}
	if !strings.Contains(pg.Body, `value="lots"`) {
		t.Error("limits: what was typed is not kept")
	}
	b.expect(b.post("/containers/101/limits", url.Values{}), http.StatusUnprocessableEntity, "Fill in at least one limit")
	if c2, _ := p.app.Store.GetContainer(ctx, 101); string(c2.Limits) != string(c.Limits) {
		t.Fatalf("refused limits changed: %s -> %s", c.Limits, c2.Limits)
	}

	// Plans, customers, staff, tokens, destroy confirmation, password.
	pg = b.expect(b.post("/plans", url.Values{"name": {"small"}, "numproc": {"-1"}}), http.StatusUnprocessableEntity)
	if fieldError(pg.Body, "numproc") == "" {
		t.Errorf("plan: no error next to numproc:\n%s", pg.Body)
	}
	pg = b.expect(b.post("/customers", url.Values{"username": {"carol"}, "email": {"not-mail"}, "password": {"short"}}), http.StatusUnprocessableEntity)
	if fieldError(pg.Body, "email") == "" || fieldError(pg.Body, "password") == "" {
		t.Errorf("customer: field errors missing:\n%s", pg.Body)
	}
	if _, err := p.app.Store.GetUserByName(ctx, "carol"); err == nil {
		t.Fatal("refused customer was created")
	}
	// A form that comes back asks for the password again; one sent again
	// without it makes a customer who cannot sign in, and says so.
	b.expect(b.post("/customers", url.Values{"username": {"dave"}, "email": {"not-mail"}, "password": {"a good password"}}),
		http.StatusUnprocessableEntity, "type it again")
	pg = b.expect(b.post("/customers", url.Values{"username": {"dave"}, "email": {"dave@example.com"}}), http.StatusSeeOther)
	if loc := pg.Header.Get("Location"); loc != "/customers?done=created-nopassword&notmailed=off" {
		t.Fatalf("a customer made without a password went to %q", loc)
	}
	b.expect(b.get("/customers?done=created-nopassword"), http.StatusOK, "without a password")
	pg = b.expect(b.post("/containers/102/destroy", url.Values{"confirm": {"101"}}), http.StatusUnprocessableEntity, "Nothing was destroyed")
	if got := fieldError(pg.Body, "confirm"); got != "type 102 to confirm" {
		t.Errorf("destroy confirm: %q", got)
	}
	pg = b.expect(b.post("/containers/102/destroy", url.Values{"confirm": {"102"}}), http.StatusConflict)
	if got := fieldError(pg.Body, "force"); got == "" {
		t.Errorf("destroy of a running container: no error next to force:\n%s", pg.Body)
	}
	if n := p.containerCount(); n != 2 {
		t.Fatalf("refused destroy removed a container")
	}
	pg = b.expect(b.post("/account/password", url.Values{"current": {"nope"}, "password": {"new password"}, "confirm": {"other"}}), http.StatusUnprocessableEntity)
	if fieldError(pg.Body, "current") == "" || fieldError(pg.Body, "confirm") == "" {
		t.Errorf("password: field errors missing:\n%s", pg.Body)
	}
	b2 := p.browser()
	b2.mustLogin("ops", "correct horse") // the password did not change
}

func TestUIStaffPagesAndActions(t *testing.T) {
	p := uiFarm(t)
	admin := p.account("root", db.RoleAdmin, "admin password")
	_ = admin
	b := p.browser()
	b.mustLogin("root", "admin password")
	for _, path := range []string{"/", "/containers/101", "/containers/alices", "/containers/new", "/containers/102/clone",
		"/containers/101/destroy", "/containers/101/reinstall", "/plans", "/plans/small", "/templates", "/customers", "/users",
		"/tokens", "/audit", "/audit?ctid=101", "/alerts", "/alerts?all=1", "/account"} {
		b.expect(b.get(path), 200)
	}
	b.expect(b.get("/"), 200, "alices", "bobs", "small", "alice")
	b.expect(b.get("/plans/nope"), 404)

	// A failcnt that grew: its row is highlighted on the container page,
	// the container flagged on the farm until the alert is acknowledged.
	ctx := context.Background()
	if err := p.app.Drv.(*lxcdriver.Fake).SetHeld("102", "numproc", 4, 7); err != nil {
		t.Fatal(err)
	}
	ct := b.expect(b.get("/containers/102"), 200)
	if !regexp.MustCompile(`<tr data-resource="numproc"\s+class="failing"`).MatchString(ct.Body) {
		t.Errorf("numproc with failcnt 7 is not highlighted:\n%s", ct.Body)
	}
	// Reading it raised an alert (the monitor saw failcnt grow).
	b.expect(b.get("/"), 200, "failcnt ↑ numproc")
	b.expect(b.get("/alerts"), 200, "numproc", "0 → 7")
	open, err := p.app.Store.ListAlerts(ctx, true, nil, 100)
	if err != nil || len(open) == 0 {
		t.Fatalf("open alerts: %v %v", open, err)
	}
	for _, a := range open {
		b.expect(b.post(fmt.Sprintf("/alerts/%d/ack", a.ID), nil), http.StatusSeeOther)
	}
	if strings.Contains(b.get("/").Body, "failcnt ↑") {
		t.Error("the farm still flags an acknowledged alert")
	}
	b.expect(b.get("/containers/new"), 200, `name="ctid" value="103"`)

	// Create from the form: 303 to the new container's page following its
	// operation, which the API shows.
	pg := b.post("/containers/new", url.Values{"ctid": {"103"}, "name": {"web3"}, "hostname": {"web3.example.com"},
		"template": {"busybox"}, "plan": {"small"}, "owner": {"alice"}, "start": {"1"}})
	loc := pg.Header.Get("Location")
	if pg.Status != http.StatusSeeOther || !strings.HasPrefix(loc, "/containers/103?op=") {
		t.Fatalf("create: %d %q: %s", pg.Status, loc, pg.Body)
	}
	opID := strings.TrimPrefix(loc, "/containers/103?op=")
	op := p.expect(p.do(p.admin, "GET", "/api/v1/operations/"+opID+"/wait?timeout=30", nil), 200).json(t)
	if op["status"] != db.OpSucceeded {
		t.Fatalf("create operation: %v", op)
	}
	b.expect(b.get(loc), 200, `data-op="`+opID+`"`, "web3.example.com", "running")

	// Freeze and unfreeze through the pages.
	for _, action := range []string{"freeze", "unfreeze"} {
		pg = b.post("/containers/103/"+action, nil)
		if pg.Status != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", action, pg.Status, pg.Body)
		}
		id := strings.TrimPrefix(pg.Header.Get("Location"), "/containers/103?op=")
		if op := p.expect(p.do(p.admin, "GET", "/api/v1/operations/"+id+"/wait?timeout=30", nil), 200).json(t); op["status"] != db.OpSucceeded {
			t.Fatalf("%s: %v", action, op)
		}
	}
	// Limits, settings, plan, customer, staff user, token: each changes.
	pg = b.post("/containers/103/limits", url.Values{"numproc": {"300"}})
	if pg.Status != http.StatusSeeOther || !strings.Contains(pg.Header.Get("Location"), "op=") {
		t.Fatalf("limits: %d %s", pg.Status, pg.Body)
	}
	pg = b.post("/containers/103/settings", url.Values{"hostname": {"www3.example.com"}, "name": {"web3"}, "onboot": {"1"}})
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("settings: %d %s", pg.Status, pg.Body)
	}
	b.expect(b.post("/plans", url.Values{"name": {"big"}, "numproc": {"2000"}, "physpages": {"1G"},
		"network.present": {"1"}, "network.rate_in_mbit": {"lots"}, "network.ip_addresses": {"-3"}}), http.StatusUnprocessableEntity,
		"network.rate_in_mbit", "network.ip_addresses", "between 1 and 100000 Mbit/s", "between 0 and 65536")
	b.expect(b.post("/plans", url.Values{"name": {"big"}, "numproc": {"2000"}, "physpages": {"1G"},
		"network.present": {"1"}, "network.rate_in_mbit": {"250"}, "network.ip_addresses": {"3"}}), http.StatusSeeOther)
	b.expect(b.get("/plans"), 200, "big", "1G", "250")
	if v := p.expect(p.do(p.admin, "GET", "/api/v1/plans/big", nil), 200).json(t)["network"].(map[string]any); v["rate_in_mbit"] != float64(250) || v["ip_addresses"] != float64(3) || v["rate_out_mbit"] != nil {
		t.Fatalf("the plan's network from the form: %v", v)
	}
	// Blank clears.
	b.expect(b.post("/plans/big", url.Values{"numproc": {"2000"}, "network.present": {"1"}, "network.ip_addresses": {"3"}}), http.StatusSeeOther)
	if v := p.expect(p.do(p.admin, "GET", "/api/v1/plans/big", nil), 200).json(t)["network"].(map[string]any); v["rate_in_mbit"] != nil || v["ip_addresses"] != float64(3) {
		t.Fatalf("the plan's network after clearing the rate: %v", v)
	}
	b.expect(b.post("/customers", url.Values{"username": {"carol"}, "email": {"carol@example.com"}, "password": {"carol password"}}), http.StatusSeeOther)
	carol := p.browser()
	carol.mustLogin("carol", "carol password")
	carol.expect(carol.get("/"), 200, "You have no containers yet")
	b.expect(b.post("/users", url.Values{"username": {"eve"}, "role": {"staff"}, "password": {"eve password"}}), http.StatusSeeOther)
	pg = b.expect(b.post("/tokens", url.Values{"name": {"billing"}, "role": {"billing"}}), http.StatusCreated, "shown only this once")
	secret := regexp.MustCompile(`id="token-secret">([^<]+)<`).FindStringSubmatch(pg.Body)
	if secret == nil {
		t.Fatalf("token page without the secret:\n%s", pg.Body)
	}
	p.expect(p.do(secret[1], "GET", "/api/v1/containers", nil), 200)
	b.expect(b.get("/tokens"), 200, "billing")
	if strings.Contains(b.get("/tokens").Body, secret[1]) {
		t.Fatal("the token list shows a secret")
	}
	b.expect(b.get("/audit"), 200, "root (web)", "container.create")

	// Destroy with confirmation and force.
	pg = b.post("/containers/103/destroy", url.Values{"confirm": {"103"}, "force": {"1"}})
	if pg.Status != http.StatusSeeOther || !strings.HasPrefix(pg.Header.Get("Location"), "/?done=destroy&op=") {
		t.Fatalf("destroy: %d %q %s", pg.Status, pg.Header.Get("Location"), pg.Body)
	}
	id := strings.TrimPrefix(pg.Header.Get("Location"), "/?done=destroy&op=")
	if op := p.expect(p.do(p.admin, "GET", "/api/v1/operations/"+id+"/wait?timeout=30", nil), 200).json(t); op["status"] != db.OpSucceeded {
		t.Fatalf("destroy: %v", op)
	}
	b.expect(b.get("/containers/103"), 404)

	// A staff user (not admin) cannot manage staff or tokens.
	ops := p.browser()
	ops.mustLogin("ops", "correct horse")
	ops.expect(ops.get("/users"), http.StatusForbidden)
	ops.expect(ops.get("/tokens"), http.StatusForbidden)
}

func TestUIPasswordChange(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	p.account("alice", db.RoleCustomer, "alice password")
	b, other := p.browser(), p.browser()
	b.mustLogin("alice", "alice password")
	other.mustLogin("alice", "alice password")
	pg := b.post("/account/password", url.Values{"current": {"alice password"}, "password": {"new alice password"}, "confirm": {"new alice password"}})
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("change password: %d %s", pg.Status, pg.Body)
	}
	b.expect(b.get(pg.Header.Get("Location")), 200, "Password changed")
	if pg := other.get("/"); pg.Status != http.StatusSeeOther {
		t.Fatalf("the other session survived a password change: %d", pg.Status)
	}
	p.browser().expect(p.browser().login("alice", "alice password"), http.StatusUnauthorized)
	p.browser().mustLogin("alice", "new alice password")
}

func TestEnsureAdminUser(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	ctx := context.Background()
	pw, err := p.app.EnsureAdminUser(ctx)
	if err != nil || len(pw) < 16 {
		t.Fatalf("first start: %q %v", pw, err)
	}
	again, err := p.app.EnsureAdminUser(ctx)
	if err != nil || again != "" {
		t.Fatalf("second start made another password: %q %v", again, err)
	}
	b := p.browser()
	b.mustLogin(FirstAdmin, pw)
	b.expect(b.get("/users"), 200, "admin")

	// From the environment: not generated, not shown.
	p2 := newTestPanel(t, lxcdriver.NewFake(), "")
	p2.app.Cfg.AdminPassword = "from the environment"
	if pw, err := p2.app.EnsureAdminUser(ctx); err != nil || pw != "" {
		t.Fatalf("env password: %q %v", pw, err)
	}
	p2.browser().mustLogin(FirstAdmin, "from the environment")
}

func TestUISessionCookieOnWebsocketOrigin(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	p.account("ops", db.RoleStaff, "correct horse")
	b := p.browser()
	b.mustLogin("ops", "correct horse")
	// /session.json gives the page scripts the CSRF token; signed out it
	// is a redirect to the sign-in page, not the token.
	pg := b.expect(b.get("/session.json"), 200, `"csrf_token"`, b.csrf)
	_ = pg
	if pg := p.browser().get("/session.json"); pg.Status != http.StatusSeeOther {
		t.Fatalf("session.json signed out: %d", pg.Status)
	}
	_ = time.Second
}

// TestUILoginLimitHoldsUnderParallelGuesses: a hundred wrong guesses at
// once for one user get no more than the limit's worth of password
// comparisons; the rest are 429s, and the right password straight after
// does not sign in. (The right password is sent after the burst, not in
// it: a right guess that happened to be among the first few admitted
// would sign in, as it should, and reset the count.)
func TestUILoginLimitHoldsUnderParallelGuesses(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	p.account("ops", db.RoleStaff, "correct horse")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	try := func(pw string) (int, bool) {
		req, _ := http.NewRequest("POST", p.srv.URL+"/login", strings.NewReader(url.Values{"username": {"ops"}, "password": {pw}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		res, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return 0, false
		}
		res.Body.Close()
		return res.StatusCode, len(res.Cookies()) > 0
	}
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			code, _ := try(fmt.Sprintf("guess %d", i))
			mu.Lock()
			statuses[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if tried := statuses[http.StatusUnauthorized] + statuses[http.StatusSeeOther]; tried > 5 || statuses[http.StatusTooManyRequests] < 95 {
		t.Fatalf("answers %v: more than 5 guesses were compared", statuses)
	}
	if code, cookie := try("correct horse"); code != http.StatusTooManyRequests || cookie {
		t.Fatalf("the right password after the burst: %d (cookie %v), want 429 and no session", code, cookie)
	}
}

// TestUIControlCharactersAreRefused: a control character in a page's
// address or a NUL byte in a form is a 4xx page, never a 500.
func TestUIControlCharactersAreRefused(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	p.account("ops", db.RoleStaff, "correct horse")
	b := p.browser()
	b.mustLogin("ops", "correct horse")
	b.expect(b.get("/containers/%00"), http.StatusBadRequest, "control character")
	b.expect(b.get("/audit?q=%0A"), http.StatusBadRequest)
	pg := b.post("/customers", url.Values{"username": {"acme\x00"}, "name": {"ACME"}})
	if pg.Status < 400 || pg.Status >= 500 {
		t.Fatalf("a NUL in a form: %d, want a 4xx", pg.Status)
	}
	pg = b.post("/plans", url.Values{"name": {"small"}, "description": {"a\x00b"}})
	if pg.Status < 400 || pg.Status >= 500 {
		t.Fatalf("a NUL in a plan's description: %d, want a 4xx: %s", pg.Status, pg.Body)
	}
}
