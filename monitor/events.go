// Package monitor watches running containers: a sampler records their
// beancounters into PostgreSQL (cumulative failcnt, downsampling,
// retention, alerts), live reads are shared between websocket watchers
// through a short cache, and an event bus carries lifecycle changes and
// failcnt alerts to whoever listens.
package monitor

import (
	"context"
	"sync"
	"time"
)

// Event is one thing that happened, as /api/v1/events/ws sends it.
type Event struct {
	Type      string    `json:"type"` // "operation" or "alert"
	CTID      int       `json:"ctid"`
	At        time.Time `json:"at"`
	Action    string    `json:"action,omitempty"`
	Operation string    `json:"operation,omitempty"`
	Status    string    `json:"status,omitempty"`
	State     string    `json:"state,omitempty"`
	Error     string    `json:"error,omitempty"`
	Resource  string    `json:"resource,omitempty"`
	Old       *uint64   `json:"old_failcnt,omitempty"`
	New       *uint64   `json:"new_failcnt,omitempty"`
	AlertID   int64     `json:"alert_id,omitempty"`
	// Count is how many growths an alert took in by the time it opened
	// (more than 1 when a plan's threshold held it back).
	Count int `json:"count,omitempty"`
}

// Bus fans events out to subscribers. A subscriber too slow to keep up
// loses events rather than slowing everyone down, unless it subscribed
// with SubscribeAll.
type Bus struct {
	mu       sync.Mutex
	subs     map[chan Event]struct{}
	lossless map[*queue]struct{}
	dropped  int // by lossless subscribers since stopped
}

// NewBus makes a Bus.
func NewBus() *Bus { return &Bus{subs: map[chan Event]struct{}{}, lossless: map[*queue]struct{}{}} }

// queue holds a SubscribeAll subscriber's events until it takes them.
type queue struct {
	mu      sync.Mutex
	events  []Event
	dropped int
	wake    chan struct{} // one pending wake-up at most
	done    chan struct{}
}

// maxQueued bounds what a SubscribeAll subscriber may fall behind by; past
// it events are counted as dropped (Dropped), so a stuck subscriber cannot
// take all memory.
const maxQueued = 100_000

// SubscribeAll is Subscribe for a subscriber that must see every event
// (the webhook dispatcher): events wait in memory, in order, for as long as
// it takes, and Publish never blocks on it. The stop function ends the
// subscription after the events queued so far are delivered; ctx ending
// abandons them.
func (b *Bus) SubscribeAll(ctx context.Context) (<-chan Event, func()) {
	q := &queue{wake: make(chan struct{}, 1), done: make(chan struct{})}
	out := make(chan Event)
	b.mu.Lock()
	b.lossless[q] = struct{}{}
	b.mu.Unlock()
	go func() {
		defer close(out)
		stopping := false
		for {
			if !stopping {
				select {
				case <-q.wake:
				case <-q.done:
					stopping = true
				case <-ctx.Done():
					return
				}
			}
			for {
				q.mu.Lock()
				if len(q.events) == 0 {
					q.mu.Unlock()
					break
				}
				e := q.events[0]
				q.events[0] = Event{}
				q.events = q.events[1:]
				q.mu.Unlock()
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
			if stopping {
				return
			}
		}
	}()
	var once sync.Once
	return out, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.lossless, q)
			q.mu.Lock()
			b.dropped += q.dropped
			q.mu.Unlock()
			b.mu.Unlock()
			close(q.done)
		})
	}
}

// Dropped counts the events SubscribeAll subscribers lost by falling more
// than maxQueued behind.
func (b *Bus) Dropped() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.dropped
	for q := range b.lossless {
		q.mu.Lock()
		n += q.dropped
		q.mu.Unlock()
	}
	return n
}

// Subscribe returns a channel of events and a function to stop.
func (b *Bus) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 256)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
		b.mu.Unlock()
	}
}

// Publish sends e to every subscriber that has room.
func (b *Bus) Publish(e Event) {
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- e:
		default:
		}
	}
	for q := range b.lossless {
		q.mu.Lock()
		if len(q.events) < maxQueued {
			q.events = append(q.events, e)
		} else {
			q.dropped++
		}
		q.mu.Unlock()
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}
