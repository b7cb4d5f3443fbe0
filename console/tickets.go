package console

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ctpanel/ctpanel/db"
)

// Ticket lifetime and how many may be outstanding at once, in all and
// for one user (or token): no one customer can spend the farm's.
const (
	TicketTTL          = 30 * time.Second
	maxTickets         = 10000
	maxTicketsPerOwner = 32
)

// ErrBadTicket is any ticket that does not open anything: unknown, used
// already, or expired. Which one is not told.
var ErrBadTicket = errors.New("console: ticket is unknown, used or expired")

// Ticket is a one-time permission to open one websocket, minted by an
// authenticated request for a browser, which cannot set headers on a
// websocket. It is bound to who minted it, the container and the kind.
type Ticket struct {
	Principal db.Principal
	CTID      int
	Kind      Kind
	// Session, when set, names the shell session to reattach.
	Session  string
	ReadOnly bool
	Expires  time.Time
}

// tickets is the in-memory ticket store (ctpanel runs on one node).
type tickets struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]Ticket
}

func newTickets() *tickets {
	return &tickets{now: time.Now, m: make(map[string]Ticket)}
}

// Mint stores t under a new random secret, valid for TicketTTL.
func (ts *tickets) Mint(t Ticket) (string, Ticket, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", t, fmt.Errorf("console: ticket: %w", err)
	}
	secret := "ctt_" + base64.RawURLEncoding.EncodeToString(b)
	now := ts.now()
	t.Expires = now.Add(TicketTTL)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.m) >= maxTickets/2 {
		for k, old := range ts.m {
			if !now.Before(old.Expires) {
				delete(ts.m, k)
			}
		}
	}
	if len(ts.m) >= maxTickets {
		return "", t, fmt.Errorf("%w: %d tickets are outstanding", ErrTooMany, len(ts.m))
	}
	owner, mine := OwnerKey(t.Principal), 0
	for _, old := range ts.m {
		if now.Before(old.Expires) && OwnerKey(old.Principal) == owner {
			mine++
		}
	}
	if mine >= maxTicketsPerOwner {
		return "", t, fmt.Errorf("%w: %d of your tickets are outstanding", ErrTooMany, mine)
	}
	ts.m[secret] = t
	return secret, t, nil
}

// Redeem takes the ticket out of the store: it opens at most one socket.
func (ts *tickets) Redeem(secret string) (Ticket, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t, ok := ts.m[secret]
	if !ok {
		return Ticket{}, ErrBadTicket
	}
	delete(ts.m, secret)
	if !ts.now().Before(t.Expires) {
		return Ticket{}, ErrBadTicket
	}
	return t, nil
}

// SpendUser removes every outstanding ticket of userID.
func (ts *tickets) SpendUser(userID int64) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for k, t := range ts.m {
		if t.Principal.UserID != nil && *t.Principal.UserID == userID {
			delete(ts.m, k)
		}
	}
}

// SpendContainer removes every outstanding ticket for container ctid.
func (ts *tickets) SpendContainer(ctid int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for k, t := range ts.m {
		if t.CTID == ctid {
			delete(ts.m, k)
		}
	}
}
