package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ctpanel/ctpanel/db"
)

// Outbox is how the rest of the panel sends mail: Queue writes a message
// in the caller's transaction, Wake tells the worker after the commit. A
// nil *Outbox is mail switched off (no SMTP server set up).
type Outbox struct {
	wake chan struct{}
	// AlertTo: see Settings.AlertTo.
	AlertTo []string
	// Server ("host:port (tls mode)") and From say where mail goes
	// through, for staff to see.
	Server, From string
}

// NewOutbox makes the outbox of settings, nil when mail is off.
func NewOutbox(s Settings) *Outbox {
	if !s.Enabled() {
		return nil
	}
	return &Outbox{wake: make(chan struct{}, 1), AlertTo: s.AlertTo,
		Server: fmt.Sprintf("%s:%d (%s)", s.Host, s.Port, s.TLS), From: s.From}
}

// Enabled says whether mail is on.
func (o *Outbox) Enabled() bool { return o != nil }

// Queue adds m to the outbox through q (the caller's transaction);
// ErrOff when mail is off.
func (o *Outbox) Queue(ctx context.Context, q *db.Queries, m db.OutgoingMail) error {
	if o == nil {
		return ErrOff
	}
	_, err := q.QueueMail(ctx, m)
	return err
}

// Wake has the worker look at the outbox now rather than at its next
// poll; call it after the commit that queued mail.
func (o *Outbox) Wake() {
	if o == nil {
		return
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Worker drains the outbox: it sends each due message once, and on a
// failure retries it with a growing delay (Backoff) up to MaxAttempts.
type Worker struct {
	Store  *db.Store
	Sender *Sender
	Outbox *Outbox
	Log    *slog.Logger
	// Poll is how often the outbox is read besides wake-ups (default
	// 10s): messages another process queued, retries that came due.
	Poll time.Duration
	// MaxAttempts before a message is given up (default 10, about a day
	// with Backoff's delays).
	MaxAttempts int
	// Backoff is the delay after the n-th failed attempt (default
	// DefaultBackoff).
	Backoff func(n int) time.Duration
	// Keep is how long sent and given-up messages stay listed (default
	// 30 days).
	Keep time.Duration

	pruned time.Time
}

// DefaultBackoff waits 30s after the first failure, doubling up to 4h.
func DefaultBackoff(n int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < n && d < 4*time.Hour; i++ {
		d *= 2
	}
	return min(d, 4*time.Hour)
}

// batch is how many messages one round takes.
const batch = 20

func (w *Worker) defaults() {
	if w.Poll <= 0 {
		w.Poll = 10 * time.Second
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = 10
	}
	if w.Backoff == nil {
		w.Backoff = DefaultBackoff
	}
	if w.Keep <= 0 {
		w.Keep = 30 * 24 * time.Hour
	}
}

// prune deletes what is older than Keep, at most once an hour.
func (w *Worker) prune(ctx context.Context) {
	if time.Since(w.pruned) < time.Hour {
		return
	}
	w.pruned = time.Now()
	if n, err := w.Store.PruneMail(ctx, time.Now().Add(-w.Keep)); err != nil && ctx.Err() == nil {
		w.Log.Warn("mail outbox: prune", "err", err)
	} else if n > 0 {
		w.Log.Info("mail outbox: old messages removed", "count", n)
	}
}

// secret says whether a message's body holds a secret (a password link)
// to be emptied once it is sent or given up.
func secret(m db.OutgoingMail) bool { return m.Kind == KindPasswordLink || m.Kind == KindWelcome }

// Run drains the outbox until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	w.defaults()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.Outbox.wake:
		}
		for {
			n, err := w.DrainOnce(ctx)
			if err != nil && ctx.Err() == nil {
				w.Log.Warn("mail outbox", "err", err)
			}
			if n < batch || err != nil {
				break
			}
		}
		w.prune(ctx)
		// Sleep until the next retry comes due, or the poll.
		wait := w.Poll
		if at, ok, err := w.Store.NextMailDue(ctx); err == nil && ok {
			wait = min(wait, max(time.Until(at), 10*time.Millisecond))
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// DrainOnce sends up to one batch of due messages; it says how many it
// took.
func (w *Worker) DrainOnce(ctx context.Context) (int, error) {
	w.defaults()
	lease := 2*w.Sender.Settings.Timeout + time.Minute
	due, err := w.Store.ClaimDueMail(ctx, batch, lease)
	if err != nil {
		return 0, err
	}
	for _, m := range due {
		w.attempt(ctx, m)
	}
	return len(due), nil
}

func (w *Worker) attempt(ctx context.Context, m db.OutgoingMail) {
	err := w.Sender.Send(ctx, m)
	// What a shutdown interrupts is recorded all the same.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	log := w.Log.With("mail", m.ID, "kind", m.Kind, "to", m.To, "attempt", m.Attempts)
	if err == nil {
		if err := w.Store.MailSent(rctx, m.ID, secret(m)); err != nil {
			log.Warn("mail sent but not recorded as sent: it may be sent again", "err", err)
		} else {
			log.Info("mail sent")
		}
		return
	}
	var perm *PermanentError
	retry := time.Duration(0)
	if !errors.As(err, &perm) && m.Attempts < w.MaxAttempts {
		retry = w.Backoff(m.Attempts)
	}
	if rerr := w.Store.MailAttemptFailed(rctx, m.ID, err.Error(), retry, secret(m)); rerr != nil {
		log.Warn("mail failure not recorded", "err", rerr)
	}
	if retry == 0 {
		log.Error("mail given up", "err", err)
	} else {
		log.Warn("mail not sent; will retry", "in", retry, "err", err)
	}
}
