package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// wsCollector reads a websocket's JSON text frames until it closes,
// counting them by type.
type wsCollector struct {
	mu       sync.Mutex
	byType   map[string]int
	closeErr error
	done     chan struct{}
}

func collectWS(conn *websocket.Conn) *wsCollector {
	c := &wsCollector{byType: map[string]int{}, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				c.mu.Lock()
				c.closeErr = err
				c.mu.Unlock()
				return
			}
			var m struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(msg, &m)
			c.mu.Lock()
			c.byType[m.Type]++
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *wsCollector) count(typ string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byType[typ]
}

// waitFor waits until the collector has seen n frames of the type.
func (c *wsCollector) waitFor(t *testing.T, typ string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for c.count(typ) < n {
		select {
		case <-c.done:
			t.Fatalf("socket closed (%v) after %d %q frames, want %d", c.closeErr, c.count(typ), typ, n)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %q frames after 15 s, want %d", c.count(typ), typ, n)
		}
	}
}

// TestStatsSocketSurvivesMalformedFrames: a customer sending garbage on
// their own stats websocket while rows are pushed gets error answers or a
// clean close, and the panel keeps serving. The handler once answered bad
// frames from its reader goroutine while its loop pushed rows, and
// gorilla/websocket panics on two concurrent writers, which took the whole
// panel down.
func TestStatsSocketSurvivesMalformedFrames(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	_, tok := p.customer("mallory")
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true, "owner": "mallory"})
	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	statsURL := p.wsURL("/api/v1/containers/101/stats/ws?interval=200")

	conn, _, err := websocket.DefaultDialer.Dial(statsURL, hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := collectWS(conn)
	got.waitFor(t, "beancounters", 1)

	// A flood of odd frames for two seconds while rows are pushed every
	// 200 ms: invalid JSON, JSON of another type, binary, empty, pings.
	frames := []struct {
		kind int
		data []byte
	}{
		{websocket.TextMessage, []byte(`{"type":`)},
		{websocket.TextMessage, []byte(`not json at all`)},
		{websocket.TextMessage, []byte(`{"type":"resize","cols":80}`)},
		{websocket.TextMessage, []byte(`[1,2,3]`)},
		{websocket.TextMessage, nil},
		{websocket.BinaryMessage, []byte{0, 1, 2, 0xff}},
		{websocket.BinaryMessage, bytes.Repeat([]byte{0x7f}, 4000)},
		{websocket.TextMessage, []byte(`{"type":"interval","ms":-5}`)},
	}
	sent := 0
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); sent++ {
		f := frames[sent%len(frames)]
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := conn.WriteMessage(f.kind, f.data); err != nil {
			t.Fatalf("frame %d: the panel stopped reading: %v (%v)", sent, err, got.closeErr)
		}
		if sent%50 == 0 {
			if err := conn.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(5*time.Second)); err != nil {
				t.Fatalf("ping: %v", err)
			}
		}
	}
	t.Logf("sent %d odd frames", sent)
	if got.count("error") == 0 {
		t.Fatal("no error answer to invalid messages")
	}
	// The socket still works: a valid message is taken and rows still come.
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"interval","ms":200}`)); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, "beancounters", got.count("beancounters")+2)

	// A frame above the limit closes the socket with 1009, cleanly.
	_ = conn.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), 64<<10))
	select {
	case <-got.done:
	case <-time.After(15 * time.Second):
		t.Fatal("an oversized frame did not close the socket")
	}
	// The panel sends close 1009 and hangs up; with the rest of the big
	// frame still unread on its side, its kernel may reset the connection
	// before the client has read the close frame.
	if ce := (*websocket.CloseError)(nil); !(errors.As(got.closeErr, &ce) && ce.Code == websocket.CloseMessageTooBig) &&
		!errors.Is(got.closeErr, syscall.ECONNRESET) {
		t.Errorf("closed with %v, want close 1009 (or the reset that may overtake it)", got.closeErr)
	}

	// The panel is up: it answers the API and opens a new stats socket.
	p.expect(p.do(tok, "GET", "/api/v1/containers/101", nil), http.StatusOK)
	p.expect(p.do("", "GET", "/healthz", nil), http.StatusOK)
	again, _, err := websocket.DefaultDialer.Dial(statsURL, hdr)
	if err != nil {
		t.Fatalf("a new stats socket after the abuse: %v", err)
	}
	defer again.Close()
	collectWS(again).waitFor(t, "beancounters", 1)
}
