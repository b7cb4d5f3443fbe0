package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/monitor"
)

// Websocket bounds.
const (
	wsMaxMessage   = 4096
	wsWriteTimeout = 5 * time.Second
	wsPingEvery    = 20 * time.Second
	minStatsEvery  = 200 * time.Millisecond
	maxStatsEvery  = 60 * time.Second
)

// checkOrigin lets non-browser clients (no Origin) in, and browsers only
// from the panel's own origin or a configured one.
func (a *API) checkOrigin(r *http.Request) bool { return a.Origins.OriginAllowed(r) }

func (a *API) upgrade(w http.ResponseWriter, r *http.Request) (*websocket.Conn, bool) {
	if !a.checkOrigin(r) {
		a.smartError(w, r, apiErr(http.StatusForbidden, "forbidden_origin", "origin %q may not open this websocket", r.Header.Get("Origin")))
		return nil, false
	}
	up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 16384, CheckOrigin: func(*http.Request) bool { return true }}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return nil, false // the upgrader has answered
	}
	conn.SetReadLimit(wsMaxMessage)
	return conn, true
}

// wsReader reads client messages in a goroutine of its own until the
// connection ends, handing text frames to onText; the returned context ends
// with the connection. gorilla/websocket allows one writer at a time, so the
// reader never writes data frames itself: what onText returns for the
// client (nil for nothing) comes out of replies, for the handler's own
// loop, the connection's only writer, to send. Replies the writer has no
// room for are dropped, so a client flooding the socket cannot stall the
// reader or grow memory.
func wsReader(ctx context.Context, conn *websocket.Conn, onText func([]byte) any) (context.Context, <-chan any) {
	ctx, cancel := context.WithCancel(ctx)
	replies := make(chan any, 8)
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(3 * wsPingEvery))
	})
	_ = conn.SetReadDeadline(time.Now().Add(3 * wsPingEvery))
	go func() {
		defer cancel()
		for {
			kind, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if kind != websocket.TextMessage || onText == nil {
				continue
			}
			if reply := onText(msg); reply != nil {
				select {
				case replies <- reply:
				default:
				}
			}
		}
	}()
	return ctx, replies
}

func wsSend(conn *websocket.Conn, v any) error {
	_ = conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	return conn.WriteJSON(v)
}

// StatsWS is GET /api/v1/containers/{ref}/stats/ws: the container's rows
// every second (?interval=ms, or a {"type":"interval","ms":N} message,
// from 200 ms to 60 s) while the client watches.
func (a *API) StatsWS(w http.ResponseWriter, r *http.Request) {
	c, err := a.lookup(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	every := time.Second
	if s := r.URL.Query().Get("interval"); s != "" {
		ms, err := strconv.Atoi(s)
		if err != nil || time.Duration(ms)*time.Millisecond < minStatsEvery || time.Duration(ms)*time.Millisecond > maxStatsEvery {
			a.smartError(w, r, &APIError{Status: http.StatusBadRequest, Code: "invalid_parameter",
				Message: "interval must be 200 to 60000 milliseconds", Fields: map[string]string{"interval": "200 to 60000 ms"}})
			return
		}
		every = time.Duration(ms) * time.Millisecond
	}
	conn, ok := a.upgrade(w, r)
	if !ok {
		return
	}
	defer conn.Close()
	changes := make(chan time.Duration, 1)
	ctx, replies := wsReader(context.WithoutCancel(r.Context()), conn, func(msg []byte) any {
		var m struct {
			Type string `json:"type"`
			MS   int    `json:"ms"`
		}
		if json.Unmarshal(msg, &m) != nil || m.Type != "interval" {
			return map[string]any{"type": "error", "message": `unknown message; send {"type":"interval","ms":1000}`}
		}
		d := min(max(time.Duration(m.MS)*time.Millisecond, minStatsEvery), maxStatsEvery)
		select {
		case changes <- d:
		default:
		}
		return nil
	})
	tick := time.NewTicker(every)
	defer tick.Stop()
	ping := time.NewTicker(wsPingEvery)
	defer ping.Stop()
	lastStatus := ""
	for {
		rows, readAt, err := a.Mon.LiveAt(ctx, c.CTID)
		switch {
		case errors.Is(err, lxcdriver.ErrNotRunning) || errors.Is(err, lxcdriver.ErrNotFound):
			if lastStatus != "stopped" {
				lastStatus = "stopped"
				if wsSend(conn, map[string]any{"type": "status", "ctid": c.CTID, "status": "stopped"}) != nil {
					return
				}
			}
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			a.Log.Warn("stats websocket read", "ctid", c.CTID, "err", err)
		default:
			lastStatus = "running"
			// "at" is when the rows were read from the kernel, so a
			// watcher sees how fresh they are.
			if wsSend(conn, map[string]any{"type": "beancounters", "ctid": c.CTID, "at": readAt.UTC(), "beancounters": rows}) != nil {
				return
			}
		}
		// Answers to the client go out as they come, without pushing
		// rows early; the rest wakes the loop for the next push.
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-replies:
				if wsSend(conn, m) != nil {
					return
				}
				continue
			case d := <-changes:
				tick.Reset(d)
			case <-ping.C:
				_ = conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteTimeout))
			case <-tick.C:
			}
			break wait
		}
	}
}

// EventsWS is GET /api/v1/events/ws: lifecycle changes and failcnt alerts
// as they happen; a customer hears only of their own containers.
func (a *API) EventsWS(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	conn, ok := a.upgrade(w, r)
	if !ok {
		return
	}
	defer conn.Close()
	events, stop := a.Bus.Subscribe()
	defer stop()
	ctx, _ := wsReader(context.WithoutCancel(r.Context()), conn, nil)
	ping := time.NewTicker(wsPingEvery)
	defer ping.Stop()
	if wsSend(conn, map[string]any{"type": "hello", "at": time.Now().UTC()}) != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			_ = conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteTimeout))
		case e, ok := <-events:
			if !ok {
				return
			}
			if !p.IsStaff() && !a.owns(ctx, p.UserID, e) {
				continue
			}
			e.Error = policy.ErrorFor(p, e.Error)
			if wsSend(conn, e) != nil {
				return
			}
		}
	}
}

func (a *API) owns(ctx context.Context, userID *int64, e monitor.Event) bool {
	c, err := a.Store.GetContainer(ctx, e.CTID)
	return err == nil && userID != nil && c.OwnerID != nil && *c.OwnerID == *userID
}
