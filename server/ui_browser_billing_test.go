package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// confirmSubmit clicks a button that asks first (data-confirm), answers
// the panel's dialog with Confirm and waits for the next page.
func (c *chrome) confirmSubmit(buttonSel string) {
	c.t.Helper()
	before := jsEval[float64](c, `performance.timeOrigin`)
	c.do(chromedp.Click(chromedp.CSS(buttonSel)))
	c.waitFor("the confirmation dialog", `document.getElementById('confirm-dialog').open`, 5*time.Second)
	c.do(chromedp.Click(chromedp.CSS("#confirm-ok")))
	c.waitFor("the page after "+buttonSel, fmt.Sprintf(`performance.timeOrigin !== %v && document.readyState === 'complete'`, before), 30*time.Second)
}

// TestBrowserBillingVerbs: staff suspend a VPS from its page with a
// reason, its customer sees why and cannot start it, staff unsuspend it,
// move it to another plan after the preview, reset its root password
// (shown once) and give it to another customer, each asked once.
func TestBrowserBillingVerbs(t *testing.T) {
	requireChromium(t)
	p := uiFarm(t) // 101 alice's on plan small, running
	p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "big", "limits": map[string]any{"numproc": "400"}}), 201)
	staff := newChrome(t, p.srv.URL)
	staff.login("ops", "correct horse")

	staff.open("/containers/101")
	staff.fill("#suspend-form", map[string]string{"reason": "unpaid invoice 42"})
	staff.confirmSubmit("#suspend-form button")
	staff.waitFor("the suspension", `(document.getElementById('suspended-notice') || {}).textContent.includes('unpaid invoice 42')`, 15*time.Second)

	alice := newChrome(t, p.srv.URL)
	alice.login("alice", "alice password")
	alice.open("/containers/101")
	alice.waitFor("the customer's notice", `(document.getElementById('suspended-notice') || {}).textContent.includes('This VPS is suspended: unpaid invoice 42')`, 10*time.Second)
	if !jsEval[bool](alice, `document.querySelector('form[action$="/start"] button').disabled && document.querySelector('form[action$="/restart"] button').disabled`) {
		t.Error("the suspended VPS's start or restart is not disabled for its customer")
	}
	alice.shot("container-suspended-customer")

	staff.open("/containers/101")
	staff.submit("#suspended-notice form button")
	staff.waitFor("unsuspended", `!document.getElementById('suspended-notice')`, 15*time.Second)

	// Change plan: the preview names the limits that change, then the move.
	staff.open("/containers/101")
	staff.do(chromedp.SetValue(chromedp.CSS("#change-plan-form select"), "big"))
	staff.submit("#change-plan-form button")
	staff.waitFor("the preview", `(document.getElementById('plan-preview') || {}).textContent.includes('numproc')`, 10*time.Second)
	staff.submit("#plan-preview form button.primary")
	deadline := time.Now().Add(15 * time.Second)
	for p.expect(p.do(p.admin, "GET", "/api/v1/containers/101", nil), 200).json(t)["plan"] != "big" {
		if time.Now().After(deadline) {
			t.Fatal("101 did not move to plan big")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Root password: a made one, shown once.
	staff.open("/containers/101")
	staff.waitFor("no operation running", `!document.querySelector('#op-progress:not(.done)')`, 15*time.Second)
	staff.confirmSubmit("#root-password-form button")
	staff.waitFor("the new password", `(document.querySelector('#new-root-password code') || {textContent: ''}).textContent.length >= 12`, 15*time.Second)

	// Change owner: to bob, who then sees it; alice no longer does.
	staff.open("/containers/101")
	staff.fill("#change-owner-form", map[string]string{"owner": "bob"})
	staff.confirmSubmit("#change-owner-form button")
	staff.waitFor("the new owner", `(document.getElementById('owner-changed') || {}).textContent.includes("bob's now")`, 10*time.Second)
	alice.open("/containers/101")
	alice.waitFor("101 gone for alice", `document.title.includes('Not found') || document.body.textContent.includes('Not found')`, 10*time.Second)
}
