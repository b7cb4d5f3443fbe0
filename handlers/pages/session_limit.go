package pages

import (
	"strings"
	"sync"
	"time"
)

// Sign-in attempts: this many failures within loginWindow, from one
// address or for one username, and further attempts are refused until
// the oldest failure is loginWindow old.
const (
	loginMaxFailures = 5
	loginWindow      = 5 * time.Minute
)

// loginLimiter counts failed sign-ins in memory (ctpanel runs on one
// node; a restart forgets them, which costs an attacker a restart).
type loginLimiter struct {
	mu   sync.Mutex
	now  func() time.Time
	fail map[string][]time.Time
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{now: time.Now, fail: map[string][]time.Time{}}
}

func loginKeys(ip, username string) []string {
	return []string{"ip:" + ip, "user:" + strings.ToLower(strings.TrimSpace(username))}
}

// prune drops failures older than the window; the caller holds mu.
func (l *loginLimiter) prune(key string, now time.Time) []time.Time {
	list := l.fail[key]
	i := 0
	for i < len(list) && now.Sub(list[i]) >= loginWindow {
		i++
	}
	list = list[i:]
	if len(list) == 0 {
		delete(l.fail, key)
		return nil
	}
	l.fail[key] = list
	return list
}

// attempt counts a sign-in attempt as failed before its password is
// compared, under one lock with the check, so that parallel guesses
// cannot all pass the check first: it says whether the address or
// username may try now, and how long until it may when not. An attempt
// that then succeeds is forgotten with succeeded.
func (l *loginLimiter) attempt(ip, username string) (bool, time.Duration, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var wait time.Duration
	keys := loginKeys(ip, username)
	for _, k := range keys {
		if list := l.prune(k, now); len(list) >= loginMaxFailures {
			wait = max(wait, loginWindow-now.Sub(list[len(list)-loginMaxFailures]))
		}
	}
	if wait > 0 {
		return false, wait, now
	}
	if len(l.fail) > 100000 { // bound memory under a spray of usernames
		for k := range l.fail {
			l.prune(k, now)
		}
	}
	for _, k := range keys {
		l.fail[k] = append(l.fail[k], now)
	}
	return true, 0, now
}

// succeeded forgets the username's failures and the address's count of
// this attempt (at), not the address's earlier failures.
func (l *loginLimiter) succeeded(ip, username string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := loginKeys(ip, username)
	delete(l.fail, keys[1])
	list := l.fail[keys[0]]
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Equal(at) {
			l.fail[keys[0]] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(l.fail[keys[0]]) == 0 {
		delete(l.fail, keys[0])
	}
}
