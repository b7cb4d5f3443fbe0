package pages

import (
	"strings"
	"sync"
	"time"
)

// Sign-in attempts are limited three ways, so that guessing is slow but
// no one can lock out a whole office or the admin:
//   - one address trying one username: loginMaxFailures failures within
//     loginWindow, then refused until the oldest is loginWindow old;
//   - one address trying any usernames: loginMaxPerAddress failures
//     (a spray across accounts);
//   - one username from any addresses: after loginUserFree failures a
//     backoff, each further attempt waiting 2^(n-loginUserFree) seconds
//     after the last failure (at most loginMaxBackoff), rather than a
//     lockout anyone could keep up.
const (
	loginMaxFailures   = 5
	loginMaxPerAddress = 50
	loginUserFree      = 10
	loginMaxBackoff    = 5 * time.Minute
	loginWindow        = 5 * time.Minute
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

// loginKeys are the counters an attempt goes to: the address and
// username together, the address, the username.
func loginKeys(ip, username string) [3]string {
	user := strings.ToLower(strings.TrimSpace(username))
	return [3]string{"pair:" + ip + "|" + user, "ip:" + ip, "user:" + user}
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
// cannot all pass the check first: it says whether the attempt may go
// ahead, and how long until one may when not. An attempt that then
// succeeds is forgotten with succeeded.
func (l *loginLimiter) attempt(ip, username string) (bool, time.Duration, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	keys := loginKeys(ip, username)
	var wait time.Duration
	for k, most := range map[string]int{keys[0]: loginMaxFailures, keys[1]: loginMaxPerAddress} {
		if list := l.prune(k, now); len(list) >= most {
			wait = max(wait, loginWindow-now.Sub(list[len(list)-most]))
		}
	}
	if list := l.prune(keys[2], now); len(list) >= loginUserFree {
		backoff := min(loginMaxBackoff, time.Second<<min(len(list)-loginUserFree, 20))
		wait = max(wait, backoff-now.Sub(list[len(list)-1]))
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

// succeeded forgets the username's failures (from this address and from
// any) and the address's count of this attempt (at), not the address's
// earlier failures.
func (l *loginLimiter) succeeded(ip, username string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := loginKeys(ip, username)
	delete(l.fail, keys[0])
	delete(l.fail, keys[2])
	list := l.fail[keys[1]]
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Equal(at) {
			l.fail[keys[1]] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(l.fail[keys[1]]) == 0 {
		delete(l.fail, keys[1])
	}
}
