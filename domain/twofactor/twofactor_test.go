package twofactor_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/db/dbtest"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/domaintest"
	"github.com/ctpanel/ctpanel/domain/twofactor"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// clock is a settable time for the service.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newEnv(t *testing.T) (*domaintest.Env, *clock) {
	e := domaintest.New(t)
	// The middle of a step, so "the step before" and "after" are 30 s away.
	c := &clock{t: time.Unix(1_800_000_015, 0)}
	e.TwoFactor.Now = c.now
	return e, c
}

// user makes a panel account with password "secret password" and the
// principal of its web session.
func user(t *testing.T, e *domaintest.Env, name, role string) db.Principal {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("secret password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := e.Store.CreateAccount(context.Background(), db.Account{Username: name, Role: role}, string(hash))
	if err != nil {
		t.Fatal(err)
	}
	id := acc.ID
	return db.Principal{Role: role, UserID: &id, Username: name, TokenName: "web session", Session: true}
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fieldErr is the 422's message for field, failing on anything else.
func fieldErr(t *testing.T, err error, field string) string {
	t.Helper()
	de := domain.AsError(err)
	if de == nil || de.Status != http.StatusUnprocessableEntity || de.Fields[field] == "" {
		t.Fatalf("got %v, want a 422 naming %s", err, field)
	}
	return de.Fields[field]
}

func status(err error) int {
	if de := domain.AsError(err); de != nil {
		return de.Status
	}
	return 0
}

// enable sets p's two-factor sign-in up and returns its secret and
// recovery codes.
func enable(t *testing.T, e *domaintest.Env, c *clock, p db.Principal) (string, []string) {
	t.Helper()
	ctx := context.Background()
	setup, err := e.TwoFactor.BeginSetup(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := e.TwoFactor.Enable(ctx, p, code(t, setup.Secret, c.now()))
	if err != nil {
		t.Fatal(err)
	}
	c.add(twofactor.Period * time.Second) // the setup's code is spent
	return setup.Secret, codes
}

func TestSetupNeedsAConfirmingCode(t *testing.T) {
	e, c := newEnv(t)
	ctx := context.Background()
	alice := user(t, e, "alice", db.RoleCustomer)

	setup, err := e.TwoFactor.BeginSetup(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(setup.URI, "otpauth://totp/ctpanel:alice?") || !strings.Contains(setup.URI, "secret="+setup.Secret) ||
		len(setup.QRPNG) < 100 || string(setup.QRPNG[1:4]) != "PNG" {
		t.Fatalf("setup: uri %q, %d bytes of QR", setup.URI, len(setup.QRPNG))
	}
	again, err := e.TwoFactor.PendingSetup(ctx, alice)
	if err != nil || again.Secret != setup.Secret {
		t.Fatalf("pending setup: %v %q, want the same secret", err, again.Secret)
	}
	for _, bad := range []string{"", "12345", "abcdef", "1234567"} {
		fieldErr(t, mustFail(e.TwoFactor.Enable(ctx, alice, bad)), "code")
	}
	wrong := code(t, setup.Secret, c.now().Add(-5*time.Minute))
	if msg := fieldErr(t, mustFail(e.TwoFactor.Enable(ctx, alice, wrong)), "code"); !strings.Contains(msg, "does not match") {
		t.Fatalf("wrong code: %q", msg)
	}
	if on, err := e.TwoFactor.EnabledFor(ctx, *alice.UserID); err != nil || on {
		t.Fatalf("after a wrong code: enabled %v %v", on, err)
	}
	codes, err := e.TwoFactor.Enable(ctx, alice, code(t, setup.Secret, c.now()))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != twofactor.RecoveryCodes {
		t.Fatalf("%d recovery codes", len(codes))
	}
	st, err := e.TwoFactor.StatusOf(ctx, alice)
	if err != nil || !st.Enabled || st.Pending || st.RecoveryLeft != 10 || st.EnabledAt == nil {
		t.Fatalf("status %+v %v", st, err)
	}
	// Only hashes are kept: no recovery code, in any spelling, is in the
	// table.
	var dump string
	if err := e.Store.Pool.QueryRow(ctx, `SELECT coalesce(string_agg(encode(code_hash, 'escape'), ' '), '') FROM totp_recovery_codes`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	for _, rc := range codes {
		if strings.Contains(dump, rc) || strings.Contains(dump, strings.ReplaceAll(rc, "-", "")) {
			t.Fatalf("recovery code %s stored as it is", rc)
		}
	}
	// A second setup is refused while it is on.
	if _, err := e.TwoFactor.BeginSetup(ctx, alice); status(err) != http.StatusConflict {
		t.Fatalf("setup while on: %v", err)
	}
	// Tokens have no say in it.
	tok := alice
	tok.Session = false
	if _, err := e.TwoFactor.BeginSetup(ctx, tok); status(err) != http.StatusForbidden {
		t.Fatalf("setup with a token: %v", err)
	}
}

func mustFail[T any](_ T, err error) error { return err }

func TestSignInCodesAreUsedOnce(t *testing.T) {
	e, c := newEnv(t)
	ctx := context.Background()
	bob := user(t, e, "bob", db.RoleCustomer)
	secret, recovery := enable(t, e, c, bob)
	id := *bob.UserID

	now := code(t, secret, c.now())
	if m, err := e.TwoFactor.VerifySignIn(ctx, id, now); err != nil || m != twofactor.MethodTOTP {
		t.Fatalf("current code: %v %v", m, err)
	}
	if msg := fieldErr(t, mustFail(e.TwoFactor.VerifySignIn(ctx, id, now)), "code"); !strings.Contains(msg, "used already") {
		t.Fatalf("replayed code: %q", msg)
	}
	// A code of the step before, once a later one is used: refused too.
	c.add(twofactor.Period * time.Second)
	prev := now
	fieldErr(t, mustFail(e.TwoFactor.VerifySignIn(ctx, id, prev)), "code")
	next := code(t, secret, c.now())
	if _, err := e.TwoFactor.VerifySignIn(ctx, id, next[:3]+" "+next[3:]); err != nil {
		t.Fatalf("next step's code, typed with a space: %v", err)
	}
	// A code from minutes ago is wrong, and one from the next step (a
	// clock ahead) is fine.
	c.add(twofactor.Period * time.Second)
	fieldErr(t, mustFail(e.TwoFactor.VerifySignIn(ctx, id, code(t, secret, c.now().Add(-3*time.Minute)))), "code")
	if _, err := e.TwoFactor.VerifySignIn(ctx, id, code(t, secret, c.now().Add(twofactor.Period*time.Second))); err != nil {
		t.Fatalf("a code one step ahead: %v", err)
	}
	// ...after which the current step's code is older than the last used.
	fieldErr(t, mustFail(e.TwoFactor.VerifySignIn(ctx, id, code(t, secret, c.now()))), "code")

	// Recovery codes: once each, in any case, with or without dashes.
	if m, err := e.TwoFactor.VerifySignIn(ctx, id, strings.ToUpper(recovery[0])); err != nil || m != twofactor.MethodRecovery {
		t.Fatalf("recovery code: %v %v", m, err)
	}
	if msg := fieldErr(t, mustFail(e.TwoFactor.VerifySignIn(ctx, id, recovery[0])), "code"); !strings.Contains(msg, "used") {
		t.Fatalf("recovery code again: %q", msg)
	}
	if _, err := e.TwoFactor.VerifySignIn(ctx, id, strings.ReplaceAll(recovery[1], "-", "")); err != nil {
		t.Fatalf("recovery code without dashes: %v", err)
	}
	fieldErr(t, mustFail(e.TwoFactor.VerifySignIn(ctx, id, "abcd-efgh-jkmn")), "code")
	fieldErr(t, mustFail(e.TwoFactor.VerifySignIn(ctx, id, "")), "code")
	// Another user's recovery code is not yours.
	carol := user(t, e, "carol", db.RoleCustomer)
	_, carolCodes := enable(t, e, c, carol)
	fieldErr(t, mustFail(e.TwoFactor.VerifySignIn(ctx, id, carolCodes[0])), "code")
	st, _ := e.TwoFactor.StatusOf(ctx, bob)
	if st.RecoveryLeft != 8 {
		t.Fatalf("recovery codes left: %d, want 8", st.RecoveryLeft)
	}

	// New recovery codes: the old ones stop working.
	fieldErr(t, mustFail(e.TwoFactor.RegenerateRecoveryCodes(ctx, bob, "", "")), "password")
	fieldErr(t, mustFail(e.TwoFactor.RegenerateRecoveryCodes(ctx, bob, "not it", "")), "password")
	fresh, err := e.TwoFactor.RegenerateRecoveryCodes(ctx, bob, "secret password", "")
	if err != nil || len(fresh) != 10 {
		t.Fatalf("regenerate: %d %v", len(fresh), err)
	}
	fieldErr(t, mustFail(e.TwoFactor.VerifySignIn(ctx, id, recovery[2])), "code")
	if _, err := e.TwoFactor.VerifySignIn(ctx, id, fresh[0]); err != nil {
		t.Fatalf("a new recovery code: %v", err)
	}
}

func TestParallelUsesOfOneCodeAcceptOne(t *testing.T) {
	e, c := newEnv(t)
	ctx := context.Background()
	dan := user(t, e, "dan", db.RoleCustomer)
	secret, recovery := enable(t, e, c, dan)
	for _, guess := range []string{code(t, secret, c.now()), recovery[0]} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.TwoFactor.VerifySignIn(ctx, *dan.UserID, guess); err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("%s accepted %d times in parallel, want once", guess, ok)
		}
	}
}

func TestDisableNeedsPasswordOrCode(t *testing.T) {
	e, c := newEnv(t)
	ctx := context.Background()
	erin := user(t, e, "erin", db.RoleStaff)
	secret, _ := enable(t, e, c, erin)

	err := e.TwoFactor.Disable(ctx, erin, "", "")
	fieldErr(t, err, "password")
	fieldErr(t, err, "code")
	fieldErr(t, e.TwoFactor.Disable(ctx, erin, "wrong", ""), "password")
	fieldErr(t, e.TwoFactor.Disable(ctx, erin, "", "000000"), "code")
	if on, _ := e.TwoFactor.EnabledFor(ctx, *erin.UserID); !on {
		t.Fatal("refused disables turned it off")
	}
	if err := e.TwoFactor.Disable(ctx, erin, "", code(t, secret, c.now())); err != nil {
		t.Fatal(err)
	}
	if on, _ := e.TwoFactor.EnabledFor(ctx, *erin.UserID); on {
		t.Fatal("still on after disable")
	}
	// With the password, after setting it up again.
	enable(t, e, c, erin)
	if err := e.TwoFactor.Disable(ctx, erin, "secret password", ""); err != nil {
		t.Fatal(err)
	}
	if n := audits(t, e, "user.2fa_disable"); n != 2 {
		t.Fatalf("%d disable audit entries, want 2", n)
	}
}

func audits(t *testing.T, e *domaintest.Env, action string) int {
	t.Helper()
	list, err := e.Store.ListAudit(context.Background(), db.AuditFilter{Search: action})
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

func TestStaffResetAndPolicy(t *testing.T) {
	e, c := newEnv(t)
	ctx := context.Background()
	admin := user(t, e, "root", db.RoleAdmin)
	staff := user(t, e, "ops", db.RoleStaff)
	other := user(t, e, "ops2", db.RoleStaff)
	fay := user(t, e, "fay", db.RoleCustomer)
	gus := user(t, e, "gus", db.RoleCustomer)
	enable(t, e, c, fay)
	enable(t, e, c, other)
	id := func(p db.Principal) string { return strconv.FormatInt(*p.UserID, 10) }

	if _, err := e.TwoFactor.Reset(ctx, gus, id(fay)); status(err) != http.StatusForbidden {
		t.Fatalf("a customer resets another's 2FA: %v", err)
	}
	if _, err := e.TwoFactor.Reset(ctx, staff, id(other)); status(err) != http.StatusNotFound {
		t.Fatalf("staff resets a staff account's 2FA: %v, want 404", err)
	}
	if _, err := e.TwoFactor.Reset(ctx, staff, id(gus)); status(err) != http.StatusConflict {
		t.Fatalf("reset of a customer without 2FA: %v, want 409", err)
	}
	if _, err := e.TwoFactor.Reset(ctx, staff, "nope"); status(err) != http.StatusNotFound {
		t.Fatalf("reset of no one: %v", err)
	}
	if acc, err := e.TwoFactor.Reset(ctx, staff, id(fay)); err != nil || acc.Username != "fay" {
		t.Fatalf("staff resets a customer: %v", err)
	}
	if on, _ := e.TwoFactor.EnabledFor(ctx, *fay.UserID); on {
		t.Fatal("fay's 2FA still on after the reset")
	}
	if _, err := e.TwoFactor.Reset(ctx, admin, id(other)); err != nil {
		t.Fatalf("admin resets staff: %v", err)
	}
	if n := audits(t, e, "user.2fa_reset"); n != 2 {
		t.Fatalf("%d reset audit entries, want 2", n)
	}

	// The policy: staff may require it, only an admin stop requiring it.
	if err := e.TwoFactor.SetStaffRequired(ctx, gus, true); status(err) != http.StatusForbidden {
		t.Fatalf("a customer sets the policy: %v", err)
	}
	if err := e.TwoFactor.SetStaffRequired(ctx, staff, true); err != nil {
		t.Fatal(err)
	}
	st, err := e.TwoFactor.StatusOf(ctx, staff)
	if err != nil || !st.StaffRequired || !st.SetupDue {
		t.Fatalf("staff without 2FA under the policy: %+v %v", st, err)
	}
	if st, _ := e.TwoFactor.StatusOf(ctx, gus); st.SetupDue {
		t.Fatal("a customer is made to set 2FA up")
	}
	if err := e.TwoFactor.SetStaffRequired(ctx, staff, false); status(err) != http.StatusForbidden {
		t.Fatalf("staff stops requiring it: %v", err)
	}
	if err := e.TwoFactor.SetStaffRequired(ctx, admin, false); err != nil {
		t.Fatal(err)
	}
	if n := audits(t, e, "settings.staff_2fa"); n != 2 {
		t.Fatalf("%d policy audit entries, want 2", n)
	}
	for _, tc := range []struct {
		role              string
		required, enabled bool
		due               bool
	}{
		{db.RoleAdmin, true, false, true}, {db.RoleStaff, true, false, true}, {db.RoleStaff, true, true, false},
		{db.RoleStaff, false, false, false}, {db.RoleCustomer, true, false, false},
	} {
		if got := twofactor.SetupDue(tc.role, tc.required, tc.enabled); got != tc.due {
			t.Errorf("SetupDue(%+v) = %v", tc, got)
		}
	}
}
