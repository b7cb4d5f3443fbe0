package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// termClient is a terminal websocket as a test drives it: it collects
// the binary output and the JSON messages until the connection closes.
type termClient struct {
	t    testing.TB
	conn *websocket.Conn

	mu       sync.Mutex
	out      bytes.Buffer
	msgs     []map[string]any
	closeErr error
	done     chan struct{}
}

// wsURL turns a path of the panel into a ws:// URL.
func (p *testPanel) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(p.srv.URL, "http") + path
}

// ticket mints a terminal ticket (kind "console" or "shell") and returns
// the answer.
func (p *testPanel) ticket(token, ref, kind string, body any) map[string]any {
	p.t.Helper()
	return p.expect(p.do(token, "POST", "/api/v1/containers/"+ref+"/"+kind+"/ticket", body), http.StatusCreated).json(p.t)
}

// dialTerm opens a terminal websocket; hdr may carry Authorization and
// Origin.
func (p *testPanel) dialTerm(path string, hdr http.Header) (*termClient, *http.Response, error) {
	conn, res, err := websocket.DefaultDialer.Dial(p.wsURL(path), hdr)
	if err != nil {
		return nil, res, err
	}
	c := &termClient{t: p.t, conn: conn, done: make(chan struct{})}
	go c.read()
	p.t.Cleanup(func() { c.conn.Close() })
	return c, res, nil
}

// openTerm mints a ticket and opens the terminal with it, failing the
// test unless it attaches.
func (p *testPanel) openTerm(token, ref, kind string, body any) *termClient {
	p.t.Helper()
	tk := p.ticket(token, ref, kind, body)
	c, res, err := p.dialTerm(tk["url"].(string), nil)
	if err != nil {
		p.t.Fatalf("dial %s of %s: %v (%v)", kind, ref, err, res)
	}
	c.waitMsg("attached", func(m map[string]any) bool { return m["type"] == "status" && m["state"] == "attached" })
	return c
}

func (c *termClient) read() {
	defer close(c.done)
	for {
		kind, msg, err := c.conn.ReadMessage()
		c.mu.Lock()
		if err != nil {
			c.closeErr = err
			c.mu.Unlock()
			return
		}
		if kind == websocket.BinaryMessage {
			c.out.Write(msg)
		} else {
			var m map[string]any
			if json.Unmarshal(msg, &m) != nil {
				m = map[string]any{"unparsable": string(msg)}
			}
			c.msgs = append(c.msgs, m)
		}
		c.mu.Unlock()
	}
}

func (c *termClient) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// send types s (a binary frame).
func (c *termClient) send(s string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.BinaryMessage, []byte(s)); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

func (c *termClient) resize(cols, rows int) {
	c.t.Helper()
	if err := c.conn.WriteJSON(map[string]any{"type": "resize", "cols": cols, "rows": rows}); err != nil {
		c.t.Fatalf("resize: %v", err)
	}
}

// waitFor waits until the output holds want after byte from and returns
// the offset past it.
func (c *termClient) waitFor(from int, want string) int {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s := c.text()
		from := min(from, len(s))
		if i := strings.Index(s[from:], want); i >= 0 {
			return from + i + len(want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("no %q in the terminal output after byte %d:\n%q\nmessages: %v", want, from, c.text(), c.messages())
	return 0
}

func (c *termClient) messages() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.msgs...)
}

// waitMsg waits for a JSON message matching match.
func (c *termClient) waitMsg(what string, match func(map[string]any) bool) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range c.messages() {
			if match(m) {
				return m
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("no %s message; got %v (closed: %v)", what, c.messages(), c.closedErr())
	return nil
}

func (c *termClient) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// waitClosed waits for the server to close and returns its close code
// (-1 for a connection that ended without a close frame).
func (c *termClient) waitClosed() (int, string) {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		c.t.Fatalf("the server did not close the terminal; messages %v", c.messages())
	}
	var ce *websocket.CloseError
	if errors.As(c.closedErr(), &ce) {
		return ce.Code, ce.Text
	}
	return -1, ""
}

// drop ends the connection without a close frame, as a lost network or
// a killed browser would.
func (c *termClient) drop() {
	_ = c.conn.UnderlyingConn().Close()
	<-c.done
}

func bearerHeader(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// writeOversized writes a message bigger than the server's limit. The
// client sends it in fragments and the server may close the connection
// before the last one is out, so the write may fail with ErrCloseSent or
// a broken connection: that is the expected outcome, and the caller
// checks the close code the server sent.
func writeOversized(t *testing.T, conn *websocket.Conn, kind int, msg []byte) {
	t.Helper()
	if err := conn.WriteMessage(kind, msg); err != nil {
		t.Logf("writing the oversized message ended early: %v", err)
	}
}
