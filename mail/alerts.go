package mail

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
)

// AlertNotifier hears of each failcnt alert that opens (the server wires
// StaffAlerts into the monitor's Notifiers).
type AlertNotifier interface {
	AlertOpened(ctx context.Context, a db.Alert) error
}

// StaffAlerts mails a notice of an alert to the outbox's AlertTo, or,
// when that is empty, to every enabled staff account with an e-mail
// address. A counter that keeps growing is mailed once per Quiet.
type StaffAlerts struct {
	Store  *db.Store
	Outbox *Outbox
	// BaseURL is the panel's public URL for the container link (empty:
	// no link).
	BaseURL string
	// Quiet is how long after a notice the same container's same
	// resource is not mailed again (default 1h).
	Quiet time.Duration

	mu   sync.Mutex
	last map[alertKey]time.Time
}

type alertKey struct {
	ctid     int
	resource string
}

var _ AlertNotifier = (*StaffAlerts)(nil)

// AlertOpened queues the notice of a; nothing when mail is off, no one
// has an address, or the same counter was mailed within Quiet.
func (n *StaffAlerts) AlertOpened(ctx context.Context, a db.Alert) error {
	if !n.Outbox.Enabled() {
		return nil
	}
	quiet := n.Quiet
	if quiet <= 0 {
		quiet = time.Hour
	}
	key := alertKey{a.CTID, a.Resource}
	n.mu.Lock()
	if n.last == nil {
		n.last = map[alertKey]time.Time{}
	}
	if t, ok := n.last[key]; ok && time.Since(t) < quiet {
		n.mu.Unlock()
		return nil
	}
	n.last[key] = time.Now()
	n.mu.Unlock()

	to := n.Outbox.AlertTo
	if len(to) == 0 {
		var err error
		if to, err = n.Store.StaffEmails(ctx); err != nil {
			return err
		}
	}
	if len(to) == 0 {
		return nil
	}
	name := fmt.Sprintf("container %d", a.CTID)
	if c, err := n.Store.GetContainer(ctx, a.CTID); err == nil && c.Name != nil && *c.Name != "" {
		name = fmt.Sprintf("container %d (%s)", a.CTID, *c.Name)
	}
	link := ""
	if n.BaseURL != "" {
		link = fmt.Sprintf("%s/containers/%d", n.BaseURL, a.CTID)
	}
	err := n.Store.InTx(ctx, func(_ pgx.Tx, q *db.Queries) error {
		for _, addr := range to {
			if err := n.Outbox.Queue(ctx, q, AlertMail(addr, a, name, link)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mail: alert %d notice: %w", a.ID, err)
	}
	n.Outbox.Wake()
	return nil
}
