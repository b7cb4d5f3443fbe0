package server

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
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

func TestUITwoFactorStaffPolicyAndReset(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	clk := &testClock{t: time.Now()}
	p.app.Services.TwoFactor.Now = clk.now
	p.account("root", db.RoleAdmin, "root password")
	p.account("ops", db.RoleStaff, "ops password")
	carol := p.account("carol", db.RoleCustomer, "carol password")

	// A customer locks themself out: 2FA on, authenticator lost.
	cb := p.browser()
	cb.mustLogin("carol", "carol password")
	setUpTwoFactor(t, cb, clk)
	// A customer may not set the staff policy nor reset anyone.
	cb.expect(cb.post("/account/two-factor/policy", url.Values{"required": {"on"}}), http.StatusForbidden)
	cb.expect(cb.post("/customers/"+strconv.FormatInt(carol.ID, 10)+"/two-factor/reset", nil), http.StatusForbidden)

	// Staff require 2FA of staff accounts: audited.
	ops := p.browser()
	ops.mustLogin("ops", "ops password")
	ops.expect(ops.get("/account"), 200, `id="policy-form"`)
	if pg := ops.post("/account/two-factor/policy", url.Values{"required": {"on"}}); pg.Status != http.StatusSeeOther {
		t.Fatalf("require staff 2FA: %d %s", pg.Status, pg.Body)
	}
	if n := auditCount(t, p, "settings.staff_2fa"); n != 1 {
		t.Fatalf("%d policy audit entries", n)
	}
	// ops, signed in without 2FA, is now sent to set it up before any
	// other page; forms elsewhere and the API with the cookie are refused.
	if pg := ops.get("/"); pg.Status != http.StatusSeeOther || pg.Header.Get("Location") != "/account?setup=required#two-factor" {
		t.Fatalf("staff without 2FA, home: %d %q", pg.Status, pg.Header.Get("Location"))
	}
	if pg := ops.get("/customers"); pg.Status != http.StatusSeeOther {
		t.Fatalf("staff without 2FA, customers: %d", pg.Status)
	}
	ops.expect(ops.get("/account"), 200, `id="setup-required"`)
	ops.expect(ops.post("/customers/"+strconv.FormatInt(carol.ID, 10)+"/two-factor/reset", nil), http.StatusForbidden, "two-factor")
	if pg := ops.get("/api/v1/containers"); pg.Status != http.StatusUnauthorized || !strings.Contains(pg.Body, "two_factor_setup") {
		t.Fatalf("staff without 2FA, API with the cookie: %d %s", pg.Status, pg.Body)
	}
	// API tokens are not concerned.
	p.expect(p.do(p.token(db.RoleStaff, nil), "GET", "/api/v1/containers", nil), 200)
	// Customers are not concerned either.
	cb.expect(cb.get("/"), 200)

	// A new sign-in of an admin without 2FA goes to the setup too.
	root := p.browser()
	if pg := root.login("root", "root password"); pg.Status != http.StatusSeeOther {
		t.Fatalf("root sign-in: %d", pg.Status)
	}
	if pg := root.get("/"); pg.Status != http.StatusSeeOther || !strings.HasPrefix(pg.Header.Get("Location"), "/account?setup=required") {
		t.Fatalf("admin without 2FA, home: %d %q", pg.Status, pg.Header.Get("Location"))
	}

	// ops sets it up and may go on.
	setUpTwoFactor(t, ops, clk)
	ops.expect(ops.get("/"), 200)
	// Only an admin stops requiring it.
	ops.expect(ops.post("/account/two-factor/policy", nil), http.StatusForbidden, "only an admin")
	pg := ops.expect(ops.get("/customers"), 200)
	if !strings.Contains(pg.Body, "/customers/"+strconv.FormatInt(carol.ID, 10)+"/two-factor/reset") {
		t.Fatal("the customers page offers no 2FA reset for carol")
	}
	// ...and resets carol's, audited: carol signs in with her password.
	if pg := ops.post("/customers/"+strconv.FormatInt(carol.ID, 10)+"/two-factor/reset", nil); pg.Status != http.StatusSeeOther ||
		pg.Header.Get("Location") != "/customers?done=2fa-reset" {
		t.Fatalf("reset carol's 2FA: %d %q %s", pg.Status, pg.Header.Get("Location"), pg.Body)
	}
	if n := auditCount(t, p, "user.2fa_reset"); n != 1 {
		t.Fatalf("%d reset audit entries", n)
	}
	ops.expect(ops.post("/customers/"+strconv.FormatInt(carol.ID, 10)+"/two-factor/reset", nil), http.StatusConflict)
	c2 := p.browser()
	c2.mustLogin("carol", "carol password")

	// Staff may not reset a staff account's 2FA; an admin may (once set up).
	opsAcc, _, err := p.app.Store.AccountForLogin(context.Background(), "ops")
	if err != nil {
		t.Fatal(err)
	}
	setUpTwoFactor(t, root, clk)
	if pg := root.post("/users/"+strconv.FormatInt(opsAcc.ID, 10)+"/two-factor/reset", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("admin resets ops's 2FA: %d %s", pg.Status, pg.Body)
	}
	// ops is back to setting it up.
	if pg := ops.get("/"); pg.Status != http.StatusSeeOther {
		t.Fatalf("ops after the reset: %d", pg.Status)
	}
	// An admin stops requiring it (audited), then may turn their own off,
	// with the password or a code.
	root.expect(root.post("/account/two-factor/policy", nil), http.StatusSeeOther)
	pg = root.expect(root.post("/account/two-factor/disable", url.Values{"password": {"wrong"}}), http.StatusUnprocessableEntity)
	if fieldError(pg.Body, "password") == "" {
		t.Fatalf("disable with a wrong password: no field error:\n%s", pg.Body)
	}
	if pg := root.post("/account/two-factor/disable", url.Values{"password": {"root password"}}); pg.Status != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", pg.Status, pg.Body)
	}
	root.expect(root.get("/"), 200)
	root.expect(root.get("/account"), 200, `id="two-factor-state">off<`)
	if n := auditCount(t, p, "settings.staff_2fa"); n != 2 {
		t.Fatalf("%d policy audit entries", n)
	}
}
