package monitor

import (
	"context"
	"testing"
	"time"
)

// TestSubscribeAllMissesNothing: a SubscribeAll subscriber that falls far
// behind still gets every event, in order, while Publish never waits for
// it; a plain subscriber that does not read loses what does not fit.
func TestSubscribeAllMissesNothing(t *testing.T) {
	b := NewBus()
	all, stopAll := b.SubscribeAll(t.Context())
	lossy, stopLossy := b.Subscribe()
	defer stopLossy()

	const n = 5000
	start := time.Now()
	for i := range n {
		b.Publish(Event{Type: "operation", CTID: i})
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("publishing %d events to a subscriber that reads nothing took %s", n, took)
	}
	for i := range n {
		if i%1000 == 0 {
			time.Sleep(20 * time.Millisecond) // a slow reader
		}
		select {
		case e := <-all:
			if e.CTID != i || e.At.IsZero() {
				t.Fatalf("event %d: got %+v", i, e)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d of %d never came", i, n)
		}
	}
	if got := len(lossy); got != cap(lossy) {
		t.Fatalf("the plain subscriber holds %d events, want its %d", got, cap(lossy))
	}
	stopAll()
	stopAll() // twice is fine
	select {
	case _, open := <-all:
		if open {
			t.Fatal("an event after the stop")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the channel was not closed after the stop")
	}
	b.Publish(Event{Type: "operation"}) // no subscriber queue left to grow
	if len(b.lossless) != 0 || b.Dropped() != 0 {
		t.Fatalf("%d lossless subscribers left, %d events dropped", len(b.lossless), b.Dropped())
	}
}

// TestSubscribeAllStopDeliversTheQueue: the stop ends the subscription
// after what was queued is delivered; a subscriber that is gone (its
// context ended) is not waited for.
func TestSubscribeAllStopDeliversTheQueue(t *testing.T) {
	b := NewBus()
	all, stop := b.SubscribeAll(t.Context())
	for i := range 100 {
		b.Publish(Event{Type: "operation", CTID: i})
	}
	stop()
	b.Publish(Event{Type: "operation", CTID: 999}) // after the stop: not delivered
	n := 0
	for e := range all {
		if e.CTID != n {
			t.Fatalf("event %d: %+v", n, e)
		}
		n++
	}
	if n != 100 {
		t.Fatalf("%d events delivered after the stop, want the 100 queued", n)
	}

	ctx, cancel := context.WithCancel(t.Context())
	gone, stop2 := b.SubscribeAll(ctx)
	defer stop2()
	b.Publish(Event{Type: "operation"})
	cancel()
	select {
	case <-waitClosed(gone):
	case <-time.After(5 * time.Second):
		t.Fatal("a subscription whose context ended kept its goroutine")
	}
}

// waitClosed reads ch until it is closed.
func waitClosed(ch <-chan Event) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	return done
}

// TestSubscribeAllBounded: a subscriber that never reads holds at most
// maxQueued events; the rest are counted as dropped.
func TestSubscribeAllBounded(t *testing.T) {
	b := NewBus()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, stop := b.SubscribeAll(ctx)
	for range maxQueued + 10 {
		b.Publish(Event{Type: "operation"})
	}
	// The forwarder may hold one event in hand, waiting to send it.
	if d := b.Dropped(); d < 9 || d > 10 {
		t.Fatalf("dropped %d, want 10 (or 9)", d)
	}
	stop()
}
