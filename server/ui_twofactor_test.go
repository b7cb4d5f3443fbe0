package server

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain/twofactor"
	"github.com/ctpanel/ctpanel/handlers/auth"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// testClock is the panel's TOTP clock in a test: codes of any step
// without waiting 30 seconds for the next.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// step moves the clock to the next 30-second step.
func (c *testClock) step() { c.mu.Lock(); c.t = c.t.Add(twofactor.Period * time.Second); c.mu.Unlock() }

func (c *testClock) code(t testing.TB, secret string) string {
	t.Helper()
	s, err := totp.GenerateCode(secret, c.now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	totpSecretRe   = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
	recoveryCodeRe = regexp.MustCompile(`<li><code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code></li>`)
)

// setUpTwoFactor turns on b's user's two-factor sign-in on the account
// page (a wrong code first) and returns the secret and recovery codes.
func setUpTwoFactor(t *testing.T, b *browser, clk *testClock) (string, []string) {
	t.Helper()
	b.expect(b.get("/account"), 200, `id="setup-form"`)
	pg := b.post("/account/two-factor/setup", nil)
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("setup: %d %s", pg.Status, pg.Body)
	}
	pg = b.expect(b.get("/account"), 200, `id="enable-form"`, `src="data:image/png;base64,`, `otpauth://totp/ctpanel:`)
	m := totpSecretRe.FindStringSubmatch(pg.Body)
	if m == nil {
		t.Fatalf("no secret on the setup page:\n%s", pg.Body)
	}
	secret := m[1]
	if !strings.Contains(pg.Body, "secret="+secret) {
		t.Fatal("the otpauth URI does not carry the secret shown")
	}
	wrong, _ := totp.GenerateCode(secret, clk.now().Add(-10*time.Minute))
	pg = b.expect(b.post("/account/two-factor/enable", url.Values{"code": {wrong}}), http.StatusUnprocessableEntity)
	if fieldError(pg.Body, "code") == "" {
		t.Fatalf("a wrong code: no error next to the code:\n%s", pg.Body)
	}
	b.expect(b.get("/account"), 200, `id="two-factor-state">off<`)
	pg = b.expect(b.post("/account/two-factor/enable", url.Values{"code": {clk.code(t, secret)}}), 200, `id="recovery-codes"`)
	var codes []string
	for _, m := range recoveryCodeRe.FindAllStringSubmatch(pg.Body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10", len(codes))
	}
	pg = b.expect(b.get("/account"), 200, `id="two-factor-state">on<`)
	if strings.Contains(pg.Body, codes[0]) {
		t.Fatal("the recovery codes are shown again")
	}
	clk.step() // the setup's code is spent
	return secret, codes
}

// passwordStep signs in with the password of a user with two-factor
// sign-in and checks that it leads to the code page, and only there.
func passwordStep(t *testing.T, b *browser, user, password string) {
	t.Helper()
	pg := b.login(user, password)
	if pg.Status != http.StatusSeeOther || pg.Header.Get("Location") != "/login/code" {
		t.Fatalf("password step: %d %q: %s", pg.Status, pg.Header.Get("Location"), pg.Body)
	}
	if b.cookie() != nil {
		t.Fatal("the password alone set a session cookie")
	}
	if sc := pg.Header.Get("Set-Cookie"); !strings.Contains(sc, auth.ChallengeCookie+"=") || !strings.Contains(sc, "Path=/login") || !strings.Contains(sc, "HttpOnly") {
		t.Fatalf("challenge cookie: %q", sc)
	}
	b.expect(b.get("/login/code"), 200, `name="code"`)
}

func sendCode(b *browser, code string) page {
	return b.post("/login/code", url.Values{"code": {code}})
}

func auditCount(t *testing.T, p *testPanel, action string) int {
	t.Helper()
	list, err := p.app.Store.ListAudit(context.Background(), db.AuditFilter{Search: action})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range list {
		if a.Action == action {
			n++
		}
	}
	return n
}

func TestUITwoFactorSignIn(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	clk := &testClock{t: time.Now()}
	p.app.Services.TwoFactor.Now = clk.now
	alice := p.account("alice", db.RoleCustomer, "alice password")
	p.account("ops", db.RoleStaff, "ops password")

	a := p.browser()
	a.mustLogin("alice", "alice password")
	secret, recovery := setUpTwoFactor(t, a, clk)
	a.expect(a.post("/logout", nil), http.StatusSeeOther)

	// The password alone grants nothing: no page, no API.
	b := p.browser()
	passwordStep(t, b, "alice", "alice password")
	if pg := b.get("/"); pg.Status != http.StatusSeeOther || !strings.HasPrefix(pg.Header.Get("Location"), "/login") {
		t.Fatalf("half signed in, home: %d %q", pg.Status, pg.Header.Get("Location"))
	}
	if pg := b.get("/api/v1/containers"); pg.Status != http.StatusUnauthorized {
		t.Fatalf("half signed in, API: %d", pg.Status)
	}
	// A wrong code is refused next to the field.
	pg := b.expect(sendCode(b, "000000"), http.StatusUnprocessableEntity)
	if fieldError(pg.Body, "code") == "" || b.cookie() != nil {
		t.Fatalf("wrong code: error %q, cookie %v", fieldError(pg.Body, "code"), b.cookie())
	}
	used := clk.code(t, secret)
	pg = sendCode(b, used)
	if pg.Status != http.StatusSeeOther || pg.Header.Get("Location") != "/" || b.cookie() == nil {
		t.Fatalf("right code: %d %q: %s", pg.Status, pg.Header.Get("Location"), pg.Body)
	}
	b.expect(b.get("/"), 200)
	if n := auditCount(t, p, "session.login"); n < 2 {
		t.Fatalf("%d sign-ins audited", n)
	}

	// The same code again, in another browser: replayed, refused.
	c := p.browser()
	passwordStep(t, c, "alice", "alice password")
	pg = c.expect(sendCode(c, used), http.StatusUnprocessableEntity)
	if got := fieldError(pg.Body, "code"); !strings.Contains(got, "used already") {
		t.Fatalf("replayed code: %q", got)
	}
	// A recovery code works, once.
	if pg := sendCode(c, strings.ToUpper(recovery[0])); pg.Status != http.StatusSeeOther || c.cookie() == nil {
		t.Fatalf("recovery code: %d %s", pg.Status, pg.Body)
	}
	d := p.browser()
	passwordStep(t, d, "alice", "alice password")
	pg = d.expect(sendCode(d, recovery[0]), http.StatusUnprocessableEntity)
	if got := fieldError(pg.Body, "code"); !strings.Contains(got, "used") {
		t.Fatalf("recovery code again: %q", got)
	}

	// A challenge is the browser's: another browser without its cookie
	// gets the sign-in page; an expired one ends too.
	e := p.browser()
	e.expect(sendCode(e, clk.code(t, secret)), http.StatusUnauthorized, "Sign in again")
	if pg := e.get("/login/code"); pg.Status != http.StatusSeeOther || pg.Header.Get("Location") != "/login" {
		t.Fatalf("code page without a challenge: %d %q", pg.Status, pg.Header.Get("Location"))
	}
	if _, err := p.app.Pool.Exec(context.Background(), `UPDATE login_challenges SET expires_at = now() - interval '1 second' WHERE user_id = $1`, alice.ID); err != nil {
		t.Fatal(err)
	}
	clk.step()
	d.expect(sendCode(d, clk.code(t, secret)), http.StatusUnauthorized, "Sign in again")
	if d.cookie() != nil {
		t.Fatal("an expired challenge signed in")
	}

	// Few attempts per challenge, then the password again; the sign-in
	// limits count wrong codes as wrong passwords.
	p.account("bob", db.RoleCustomer, "bob password")
	bb := p.browser()
	bb.mustLogin("bob", "bob password")
	bobSecret, _ := setUpTwoFactor(t, bb, clk)
	f := p.browser()
	passwordStep(t, f, "bob", "bob password")
	f.expect(sendCode(f, "111111"), http.StatusUnprocessableEntity, "2 attempt(s) left")
	f.expect(sendCode(f, "222222"), http.StatusUnprocessableEntity, "1 attempt(s) left")
	f.expect(sendCode(f, "333333"), http.StatusUnauthorized, "Sign in again")
	f.expect(sendCode(f, clk.code(t, bobSecret)), http.StatusUnauthorized, "Sign in again")
	if f.cookie() != nil {
		t.Fatal("a spent challenge signed in")
	}
	passwordStep(t, f, "bob", "bob password")
	pg = f.expect(sendCode(f, clk.code(t, bobSecret)), http.StatusTooManyRequests, "Too many wrong codes")
	if pg.Header.Get("Retry-After") == "" || f.cookie() != nil {
		t.Fatalf("rate-limited code: Retry-After %q, cookie %v", pg.Header.Get("Retry-After"), f.cookie())
	}
}
