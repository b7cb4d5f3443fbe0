package server

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// TestPasswordLink: a billing token makes a one-time link for a customer
// it created without a password; the customer opens it, is told what is
// wrong with a bad password, sets one, signs in with it; the link works
// once, other customers' tokens cannot make links, and expired links are
// refused.
func TestPasswordLink(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	billing := p.token("billing", nil)
	_, aliceTok := p.customer("alice")
	c := p.expect(p.do(billing, "POST", "/api/v1/customers", map[string]any{"username": "acme", "email": "ops@acme.example"}), 201).json(t)
	id := jsonNum(c["id"])
	if c["has_password"] != false {
		t.Fatalf("customer made without a password: %v", c)
	}

	p.expect(p.do(aliceTok, "POST", "/api/v1/customers/"+id+"/password-link", nil), http.StatusForbidden)
	p.expect(p.do(billing, "POST", "/api/v1/customers/424242/password-link", nil), http.StatusNotFound)
	if got := p.expect(p.doMalformed(billing, "POST", "/api/v1/customers/"+id+"/password-link", map[string]any{"valid_hours": 0}), 422).errorField(t, "valid_hours"); got == "" {
		t.Fatal("valid_hours 0 accepted")
	}
	link := p.expect(p.do(billing, "POST", "/api/v1/customers/"+id+"/password-link", map[string]any{"valid_hours": 2}), 201).json(t)
	secret, _ := link["token"].(string)
	if !strings.HasPrefix(secret, "ctpl_") || link["url"] != p.srv.URL+link["path"].(string) || !strings.Contains(link["path"].(string), url.QueryEscape(secret)) {
		t.Fatalf("link answer: %v", link)
	}
	if exp, err := time.Parse(time.RFC3339Nano, link["expires_at"].(string)); err != nil || time.Until(exp) < 119*time.Minute || time.Until(exp) > 121*time.Minute {
		t.Fatalf("expires_at %v (%v), want in 2 hours", link["expires_at"], err)
	}
	// Only the secret's hash is kept.
	var plain, hashed int
	if err := p.app.Pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE l::text LIKE '%' || $1 || '%'),
		count(*) FILTER (WHERE l.secret_hash = sha256(convert_to($1, 'UTF8'))) FROM password_links l`, secret).Scan(&plain, &hashed); err != nil || plain != 0 || hashed != 1 {
		t.Fatalf("stored: %d rows with the secret itself, %d with its hash (%v)", plain, hashed, err)
	}

	b := p.browser()
	b.expect(b.get(link["path"].(string)), 200, "acme", `name="token"`)
	// A bad password is explained next to its field; the link still works.
	pg := b.post("/set-password", url.Values{"token": {secret}, "password": {"short"}, "confirm": {"short"}})
	b.expect(pg, http.StatusUnprocessableEntity, "The password was not set.")
	if fieldError(pg.Body, "password") == "" {
		t.Fatalf("no error next to the password:\n%s", pg.Body)
	}
	pg = b.post("/set-password", url.Values{"token": {secret}, "password": {"a good password"}, "confirm": {"another one"}})
	if b.expect(pg, http.StatusUnprocessableEntity); fieldError(pg.Body, "confirm") == "" {
		t.Fatalf("no error next to the confirmation:\n%s", pg.Body)
	}
	pg = b.post("/set-password", url.Values{"token": {secret}, "password": {"a good password"}, "confirm": {"a good password"}})
	if pg.Status != http.StatusSeeOther || pg.Header.Get("Location") != "/login?done=password" {
		t.Fatalf("set password: %d %s: %s", pg.Status, pg.Header.Get("Location"), pg.Body)
	}
	b.expect(b.get("/login?done=password"), 200, "Your password is set")
	b.mustLogin("acme", "a good password")
	if got := p.expect(p.do(billing, "GET", "/api/v1/customers/"+id, nil), 200).json(t); got["has_password"] != true {
		t.Fatalf("customer after the link: %v", got)
	}

	// Once only, and nothing else opens the form.
	other := p.browser()
	other.expect(other.get(link["path"].(string)), http.StatusGone, "no longer valid")
	other.expect(other.post("/set-password", url.Values{"token": {secret}, "password": {"stolen password"}, "confirm": {"stolen password"}}), http.StatusGone)
	other.expect(other.get("/set-password?token=ctpl_nonsense"), http.StatusGone)
	other.expect(other.get("/set-password"), http.StatusGone)
	if pg := other.login("acme", "stolen password"); pg.Status == http.StatusSeeOther {
		t.Fatal("a used link set the password again")
	}

	// An expired link is refused.
	late := p.expect(p.do(billing, "POST", "/api/v1/customers/"+id+"/password-link", nil), 201).json(t)
	if _, err := p.app.Pool.Exec(context.Background(), `UPDATE password_links SET expires_at = now() - interval '1 minute' WHERE used_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	other.expect(other.get(late["path"].(string)), http.StatusGone)

	// A cross-site post of the form is refused before the token is looked at.
	fresh := p.expect(p.do(billing, "POST", "/api/v1/customers/"+id+"/password-link", nil), 201).json(t)
	other.expect(other.post("/set-password", url.Values{"token": {fresh["token"].(string)}, "password": {"evil password"}, "confirm": {"evil password"}},
		"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
	other.expect(other.get(fresh["path"].(string)), 200)

	// Staff make one on the customers page: shown once, and it works.
	p.account("ops", db.RoleStaff, "ops password")
	staff := p.browser()
	staff.mustLogin("ops", "ops password")
	staff.expect(staff.get("/customers"), 200, `action="/customers/`+id+`/password-link"`)
	pg = staff.expect(staff.post("/customers/"+id+"/password-link", nil), http.StatusCreated, "shown only this once")
	m := regexp.MustCompile(`/set-password\?token=(ctpl_[A-Za-z0-9_-]+)`).FindStringSubmatch(pg.Body)
	if m == nil {
		t.Fatalf("no link on the page:\n%s", pg.Body)
	}
	fromPage := p.browser()
	fromPage.expect(fromPage.get("/set-password?token="+m[1]), 200, "acme")
}
