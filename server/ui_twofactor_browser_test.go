package server

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// TestBrowserTwoFactorSignIn sets two-factor sign-in up and signs in with
// it in real Chromium, the codes made by pquerna/otp as an authenticator
// app would.
func TestBrowserTwoFactorSignIn(t *testing.T) {
	requireChromium(t)
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	clk := &testClock{t: time.Now()}
	p.app.Services.TwoFactor.Now = clk.now
	p.account("dana", db.RoleCustomer, "dana password")
	c := newChrome(t, p.srv.URL)

	c.login("dana", "dana password")
	c.open("/account")
	c.waitFor("the account page", `document.getElementById('setup-form')`, 10*time.Second)
	c.submit(`#setup-form button[type=submit]`)
	c.waitFor("the setup", `document.getElementById('totp-secret')`, 10*time.Second)
	// The QR code is an inline data: image the page's CSP lets load.
	c.waitFor("the QR code", `document.getElementById('totp-qr').complete && document.getElementById('totp-qr').naturalWidth > 0`, 10*time.Second)
	secret := c.text("#totp-secret")
	if !strings.Contains(c.text("#totp-uri"), "secret="+secret) {
		t.Fatalf("URI %q lacks the secret %q", c.text("#totp-uri"), secret)
	}
	c.shot("account-2fa-setup")
	c.fill("#enable-form", map[string]string{"code": "123456"})
	if clk.code(t, secret) == "123456" {
		clk.step()
	}
	c.submit(`#enable-form button[type=submit]`)
	c.waitFor("the code's error", `document.querySelector('#enable-form .field-error')`, 5*time.Second)
	c.fill("#enable-form", map[string]string{"code": clk.code(t, secret)})
	c.submit(`#enable-form button[type=submit]`)
	c.waitFor("the recovery codes", `document.querySelectorAll('#recovery-codes li').length === 10`, 10*time.Second)
	if got := c.text("#two-factor-state"); got != "on" {
		t.Fatalf("two-factor state %q", got)
	}
	clk.step()

	// Sign out and in again: the password, then the code page.
	c.submit(`form[action="/logout"] button`)
	c.waitFor("the sign-in page", `location.pathname === '/login'`, 10*time.Second)
	c.do(chromedp.SendKeys(chromedp.CSS("#username"), "dana"))
	c.do(chromedp.SendKeys(chromedp.CSS("#password"), "dana password"))
	c.submit(`form[action="/login"] button[type=submit]`)
	c.waitFor("the code page", `location.pathname === '/login/code' && document.getElementById('code')`, 10*time.Second)
	c.shot("login-code")
	// Half signed in, nothing else opens.
	if st := c.fetchStatus("GET", "/api/v1/containers", "", nil); st != 401 {
		t.Fatalf("half signed in, the API answers %d", st)
	}
	c.do(chromedp.SendKeys(chromedp.CSS("#code"), "000000"))
	if clk.code(t, secret) == "000000" {
		clk.step()
	}
	c.submit(`#code-form button[type=submit]`)
	c.waitFor("the wrong code's error", `document.querySelector('#code-form .field-error')`, 5*time.Second)
	c.do(chromedp.SendKeys(chromedp.CSS("#code"), clk.code(t, secret)))
	c.submit(`#code-form button[type=submit]`)
	c.waitFor("the home page", `location.pathname === '/' && document.querySelector('.who')`, 10*time.Second)
	if st := c.fetchStatus("GET", "/api/v1/containers", "", nil); st != 200 {
		t.Fatalf("signed in, the API answers %d", st)
	}
}
