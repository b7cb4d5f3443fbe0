package monitor

import (
	"testing"
	"time"
)

// TestSubscribeAllMissesNothing: a SubscribeAll subscriber that falls far
// behind still gets every event, in order, while Publish never waits for
// it; a plain subscriber that does not read loses what does not fit.
func TestSubscribeAllMissesNothing(t *testing.T) {
	b := NewBus()
	all, stopAll := b.SubscribeAll()
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
	if len(b.lossless) != 0 {
		t.Fatalf("%d lossless subscribers left", len(b.lossless))
	}
}
