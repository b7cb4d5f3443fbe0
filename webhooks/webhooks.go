// Package webhooks tells billing systems what happened: events from the
// bus become signed HTTP deliveries, sent and retried with backoff by
// durable River jobs, each attempt recorded.
package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/monitor"
)

// Events a webhook can subscribe to.
var Events = []string{"operation.finished", "container.created", "container.suspended",
	"container.unsuspended", "container.terminated", "failcnt.alert"}

// Signature is the header value for body sent at timestamp: HMAC-SHA256
// over "<timestamp>.<body>" with the endpoint's secret.
func Signature(secret string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%d.", timestamp)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// names maps a bus event to webhook event names.
func names(e monitor.Event) []string {
	if e.Type == "alert" {
		return []string{"failcnt.alert"}
	}
	out := []string{"operation.finished"}
	if e.Status != db.OpSucceeded {
		return out
	}
	switch e.Action {
	case "create", "clone":
		out = append(out, "container.created")
	case "suspend":
		out = append(out, "container.suspended")
	case "unsuspend":
		out = append(out, "container.unsuspended")
	case "destroy":
		out = append(out, "container.terminated")
	}
	return out
}

// DeliveryArgs is the River job sending one delivery.
type DeliveryArgs struct {
	DeliveryID int64 `json:"delivery_id"`
}

// Kind names the job.
func (DeliveryArgs) Kind() string { return "webhook_delivery" }

// InsertOpts: retried with River's backoff (attempt^4 seconds), about 11
// hours in all.
func (DeliveryArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 12} }

// Dispatcher turns bus events into deliveries.
type Dispatcher struct {
	Store  *db.Store
	Client *river.Client[pgx.Tx]
	Log    *slog.Logger
}

// ReplayWindow is how far back start-up looks for events whose
// deliveries a crash kept from being recorded.
const ReplayWindow = 24 * time.Hour

// Run records the deliveries of the events a crash left unrecorded, then
// consumes events until ctx ends or events is closed.
func (d *Dispatcher) Run(ctx context.Context, events <-chan monitor.Event) {
	if err := d.Replay(ctx); err != nil && ctx.Err() == nil {
		d.Log.Warn("webhook replay", "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			// Whatever else is queued already goes in the same
			// transaction: one commit for a burst of events.
			batch := []monitor.Event{e}
		more:
			for len(batch) < maxBatch {
				select {
				case e, ok := <-events:
					if !ok {
						break more
					}
					batch = append(batch, e)
				default:
					break more
				}
			}
			d.dispatchEach(ctx, batch)
		}
	}
}

// dispatchEach records a batch of events in one transaction or, if that
// fails, one event at a time, so that one event that cannot be recorded
// (a webhook deleted meanwhile) holds back no other.
func (d *Dispatcher) dispatchEach(ctx context.Context, batch []monitor.Event) {
	err := d.dispatch(ctx, batch)
	if err == nil || ctx.Err() != nil {
		return
	}
	if len(batch) > 1 {
		for _, e := range batch {
			d.dispatchEach(ctx, []monitor.Event{e})
		}
		return
	}
	e := batch[0]
	d.Log.Warn("webhook dispatch", "type", e.Type, "operation", e.Operation, "alert", e.AlertID, "err", err)
}

// maxBatch bounds the events recorded in one transaction.
const maxBatch = 100

// Replay records the deliveries of the finished operations and alerts of
// the last ReplayWindow whose events were never recorded.
func (d *Dispatcher) Replay(ctx context.Context) error {
	if hooks, err := d.Store.ListWebhooks(ctx, ""); err != nil || len(hooks) == 0 {
		return err // nothing to deliver to
	}
	ops, alerts, err := d.Store.UnsentEvents(ctx, time.Now().Add(-ReplayWindow))
	if err != nil {
		return err
	}
	var events []monitor.Event
	for _, o := range ops {
		e := monitor.Event{Type: "operation", CTID: o.CTID, Action: o.Action, Operation: o.ID, Status: o.Status, Error: o.Error, State: o.State}
		if o.FinishedAt != nil {
			e.At = o.FinishedAt.UTC()
		}
		events = append(events, e)
	}
	for _, a := range alerts {
		old, cur, at := a.Old, a.New, a.At
		if a.RaisedAt != nil {
			at = *a.RaisedAt
		}
		events = append(events, monitor.Event{Type: "alert", CTID: a.CTID, Resource: a.Resource, Old: &old, New: &cur, AlertID: a.ID, Count: a.Count, At: at.UTC()})
	}
	for batch := range slices.Chunk(events, maxBatch) {
		if err := d.dispatch(ctx, batch); err != nil {
			return err
		}
	}
	if n := len(ops) + len(alerts); n > 0 {
		d.Log.Warn("webhook events a restart had kept from being recorded were dispatched", "operations", len(ops), "alerts", len(alerts))
	}
	return nil
}

// dispatch records the deliveries of events to every webhook that wants
// them, in one transaction that also marks each event's operation or alert
// as dispatched: an event is recorded once, or not at all (and then Replay
// does it). So the commit does not wait for the disk (synchronous_commit
// off): what a database crash loses of it, Replay records again at the
// next start, and the operation that comes next on the container does not
// queue behind a flush.
//
// With no webhook registered nothing is written: an event is delivered
// only to webhooks registered before it happened, so one registered later
// has no claim on it (Replay included).
func (d *Dispatcher) dispatch(ctx context.Context, events []monitor.Event) error {
	hooks, err := d.Store.ListWebhooks(ctx, "")
	if err != nil || len(hooks) == 0 {
		return err
	}
	return d.Store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
			return err
		}
		for _, e := range events {
			claimed := true
			switch {
			case e.Type == "operation" && e.Operation != "":
				claimed, err = q.ClaimOperationEvents(ctx, e.Operation)
			case e.Type == "alert" && e.AlertID != 0:
				claimed, err = q.ClaimAlertEvents(ctx, e.AlertID)
			}
			if err != nil {
				return err
			}
			if !claimed {
				continue
			}
			for _, name := range names(e) {
				var payload []byte
				for _, h := range hooks {
					if !slices.Contains(h.Events, name) || (!e.At.IsZero() && h.CreatedAt.After(e.At)) {
						continue
					}
					if payload == nil {
						if payload, err = json.Marshal(PayloadOf(name, e)); err != nil {
							return err
						}
					}
					del, err := q.InsertDelivery(ctx, h.ID, name, payload)
					if err != nil {
						return err
					}
					if _, err := d.Client.InsertTx(ctx, tx, DeliveryArgs{DeliveryID: del.ID}, nil); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// Sender is the River worker that posts a delivery.
type Sender struct {
	river.WorkerDefaults[DeliveryArgs]
	Store  *db.Store
	Client *http.Client
}

// Timeout bounds one attempt.
func (s *Sender) Timeout(*river.Job[DeliveryArgs]) time.Duration { return 15 * time.Second }

// Work sends the delivery once; an error makes River retry it later.
func (s *Sender) Work(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	del, err := s.Store.GetDelivery(ctx, job.Args.DeliveryID)
	if err != nil {
		return nil // the webhook was deleted with its deliveries
	}
	hook, err := s.Store.GetWebhook(ctx, del.WebhookID)
	if err != nil {
		return nil
	}
	ts := time.Now().Unix()
	body := []byte(del.Payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		_ = s.Store.RecordAttempt(ctx, del.ID, 0, err.Error(), false, true)
		return nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ctpanel-webhooks")
	req.Header.Set("X-Ctpanel-Event", del.Event)
	req.Header.Set("X-Ctpanel-Delivery", strconv.FormatInt(del.ID, 10))
	req.Header.Set("X-Ctpanel-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Ctpanel-Signature", Signature(hook.Secret, ts, body))
	client := s.Client
	if client == nil {
		client = Guard{}.Client()
	}
	final := job.Attempt >= job.MaxAttempts
	res, err := client.Do(req)
	if err != nil {
		_ = s.Store.RecordAttempt(ctx, del.ID, 0, err.Error(), false, final)
		return fmt.Errorf("webhook %d: %w", hook.ID, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		_ = s.Store.RecordAttempt(ctx, del.ID, res.StatusCode, "receiver answered "+res.Status, false, final)
		return fmt.Errorf("webhook %d: receiver answered %s", hook.ID, res.Status)
	}
	return s.Store.RecordAttempt(ctx, del.ID, res.StatusCode, "", true, false)
}
