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

// blocked reports whether the address or username may not try now, and
// how long until it may.
func (l *loginLimiter) blocked(ip, username string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var wait time.Duration
	for _, k := range loginKeys(ip, username) {
		if list := l.prune(k, now); len(list) >= loginMaxFailures {
			wait = max(wait, loginWindow-now.Sub(list[len(list)-loginMaxFailures]))
		}
	}
	return wait > 0, wait
}

// failed records a failed attempt.
func (l *loginLimiter) failed(ip, username string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.fail) > 100000 { // bound memory under a spray of usernames
		for k := range l.fail {
			l.prune(k, now)
		}
	}
	for _, k := range loginKeys(ip, username) {
		l.fail[k] = append(l.prune(k, now), now)
	}
}

// succeeded forgets the username's failures (not the address's).
func (l *loginLimiter) succeeded(username string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fail, loginKeys("", username)[1])
}
