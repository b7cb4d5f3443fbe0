package pages

import (
	"fmt"
	"testing"
	"time"
)

func TestSafeNextStaysOnThisSite(t *testing.T) {
	for next, want := range map[string]string{
		"/containers/101":       "/containers/101",
		"/containers?q=a%20b":   "/containers?q=a%20b",
		"":                      "/",
		"https://evil.example/": "/",
		"//evil.example/":       "/",
		"/\\evil.example/":      "/",
		"/\t/evil.example:80/":  "/",
		"/\n/evil.example/":     "/",
		"/\x00/evil":            "/",
		"evil":                  "/",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// clock is a settable time for the login limiter.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLoginLimitNeitherOfficeNorAdminLockout(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	l := newLoginLimiter()
	l.now = c.now
	try := func(ip, user string) bool {
		ok, _, _ := l.attempt(ip, user)
		return ok
	}
	// Five failures for a made-up user lock that pair, not the office.
	for range loginMaxFailures {
		if !try("198.18.0.1", "ghost") {
			t.Fatal("refused before the limit")
		}
	}
	if try("198.18.0.1", "ghost") {
		t.Fatal("a sixth guess at one user from one address went ahead")
	}
	if !try("198.18.0.1", "ops") {
		t.Fatal("another user behind the same address was locked out")
	}
	// A spray across many users from one address is stopped.
	for i := 0; i < loginMaxPerAddress; i++ {
		try("198.18.0.2", fmt.Sprintf("user%d", i))
	}
	if try("198.18.0.2", "someone-else") {
		t.Fatal("an address spraying usernames was not stopped")
	}
	// Failures at admin from many addresses slow it down; they do not
	// lock it for the window.
	for i := range loginUserFree {
		if !try(fmt.Sprintf("198.18.1.%d", i), "admin") {
			t.Fatalf("attempt %d at admin refused before the backoff starts", i)
		}
	}
	if try("198.18.2.1", "admin") {
		t.Fatal("no backoff after many failures at admin")
	}
	c.t = c.t.Add(time.Second)
	if !try("198.18.2.1", "admin") {
		t.Fatal("admin still refused once the backoff passed")
	}
}
