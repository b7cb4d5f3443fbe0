package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ctpanel/ctpanel/console"
	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/handlers/auth"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// Terminal websocket bounds.
const (
	// termMaxFrame bounds a frame from the client; a bigger one closes
	// the connection (1009).
	termMaxFrame = 64 << 10
	// termReadTimeout: a client that answers no ping for this long is
	// gone (a proxy ate the connection).
	termReadTimeout = 3 * wsPingEvery
)

// Close codes of the terminal websockets besides the standard ones: 1000
// when the session ended (exit, idle), 1001 when the panel shuts down,
// 1009 for an oversized frame, 1011 for an internal error.
const (
	closeBadRequest = 4400 // the request cannot be served as asked
	closeNoSession  = 4404 // the shell session is gone: start a new one
	closeTooSlow    = 4408 // the viewer fell behind: attach again
	closeNotRunning = 4409 // stopped, frozen or busy container: retry later
	closeTooMany    = 4429 // too many sessions or viewers
)

type ticketKey struct{}

// wsTicket is the ticket a websocket was opened with, if any.
func wsTicket(r *http.Request) (console.Ticket, bool) {
	t, ok := r.Context().Value(ticketKey{}).(console.Ticket)
	return t, ok
}

// AuthenticateWS guards the terminal websockets: the Origin must be the
// panel's own or a configured one, and the request must carry either a
// one-time ?ticket= (what a browser can send) or the API's bearer token.
func (a *API) AuthenticateWS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.checkOrigin(r) {
			a.smartError(w, r, apiErr(http.StatusForbidden, "forbidden_origin", "origin %q may not open this websocket", r.Header.Get("Origin")))
			return
		}
		secret := r.URL.Query().Get("ticket")
		if secret == "" {
			a.Authenticate(next).ServeHTTP(w, r)
			return
		}
		t, err := a.Console.RedeemTicket(secret)
		if err != nil {
			a.smartError(w, r, apiErr(http.StatusUnauthorized, "unauthorized",
				"ticket is unknown, used or expired: mint a new one with POST .../ticket"))
			return
		}
		ctx := context.WithValue(auth.WithPrincipal(r.Context(), t.Principal), ticketKey{}, t)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// TerminalTicket is POST /api/v1/containers/{ref}/console/ticket and
// .../shell/ticket: a one-time ticket, valid for 30 seconds, that opens
// the websocket once for the caller, this container and this kind. The
// body is optional: {"session":"<shell session id>","read_only":true}.
func (a *API) TerminalTicket(kind console.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Session  string `json:"session"`
			ReadOnly bool   `json:"read_only"`
		}
		if err := decodeJSON(w, r, &req, true); err != nil {
			a.smartError(w, r, err)
			return
		}
		c, err := a.lookup(r)
		if err != nil {
			a.smartError(w, r, err)
			return
		}
		p := principal(r)
		if kind == console.KindConsole {
			req.Session = "" // one console session per container
		}
		if p.ReadOnly && !req.ReadOnly {
			a.smartError(w, r, apiErr(http.StatusForbidden, "read_only", "this token is read-only: ask for a read_only ticket"))
			return
		}
		if err := a.checkTerminalRequest(p, c.CTID, kind, req.Session, req.ReadOnly); err != nil {
			a.smartError(w, r, err)
			return
		}
		secret, t, err := a.Console.MintTicket(console.Ticket{Principal: p, CTID: c.CTID, Kind: kind, Session: req.Session, ReadOnly: req.ReadOnly})
		if errors.Is(err, console.ErrTooMany) {
			a.smartError(w, r, apiErr(http.StatusTooManyRequests, "too_many_tickets", "too many tickets are outstanding; try again in a few seconds"))
			return
		}
		if err != nil {
			a.smartError(w, r, err)
			return
		}
		q := url.Values{"ticket": {secret}}
		writeJSON(w, http.StatusCreated, map[string]any{
			"ticket":     secret,
			"expires_at": t.Expires.UTC(),
			"url":        "/api/v1/containers/" + strconv.Itoa(c.CTID) + "/" + string(kind) + "?" + q.Encode(),
			"session":    req.Session,
			"read_only":  req.ReadOnly,
		})
	}
}

// checkTerminalRequest: a read-only view needs nothing more than seeing
// the container; a shell session is reattached by its owner only, and
// watched read-only by its owner or staff. Other sessions do not exist
// as far as the caller can tell.
func (a *API) checkTerminalRequest(p db.Principal, ctid int, kind console.Kind, session string, readOnly bool) error {
	if !policy.MayUseRoot(p) {
		return domain.Forbidden("a billing token cannot open consoles or shells")
	}
	if kind != console.KindShell || session == "" {
		if kind == console.KindShell && readOnly {
			return &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid_request",
				Message: "a read-only shell view needs the session to watch", Fields: map[string]string{"session": "required with read_only"}}
		}
		return nil
	}
	s, err := a.Console.Get(session)
	if err == nil && s.Kind == console.KindShell && s.CTID == ctid &&
		(s.Owner == console.OwnerKey(p) || (readOnly && policy.RequireOperator(p) == nil)) {
		return nil
	}
	return notFound("shell session %s does not exist or has ended", strconv.Quote(session))
}

// TerminalWS is GET /api/v1/containers/{ref}/console and .../shell, the
// websocket of a terminal: binary frames carry raw terminal bytes both
// ways, text frames JSON messages. The client may send
// {"type":"resize","cols":N,"rows":N}; the server sends
// {"type":"status","state":"attached"|"frozen"|"running",...},
// {"type":"error","code":...,"message":...} and, when the session ends,
// {"type":"end","reason":...,"message":...} before it closes.
//
// Query: ticket (see TerminalTicket; or an Authorization header), and
// without a ticket session (a shell to reattach) and read_only=1; cols
// and rows size a new terminal.
func (a *API) TerminalWS(kind console.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := a.lookup(r)
		if err != nil {
			a.smartError(w, r, err)
			return
		}
		p := principal(r)
		q := r.URL.Query()
		session, readOnly := q.Get("session"), q.Get("read_only") == "1" || q.Get("read_only") == "true"
		if t, ok := wsTicket(r); ok {
			if t.CTID != c.CTID || t.Kind != kind {
				a.smartError(w, r, apiErr(http.StatusUnauthorized, "unauthorized", "this ticket is for another container or terminal"))
				return
			}
			session, readOnly = t.Session, t.ReadOnly
		}
		if p.ReadOnly && !readOnly {
			a.smartError(w, r, apiErr(http.StatusForbidden, "read_only", "this token is read-only: open the terminal with read_only=1"))
			return
		}
		if kind == console.KindConsole {
			session = ""
		}
		cols, rows := 0, 0
		if q.Has("cols") || q.Has("rows") {
			cols, _ = strconv.Atoi(q.Get("cols"))
			rows, _ = strconv.Atoi(q.Get("rows"))
			if !console.ValidSize(cols, rows) {
				a.smartError(w, r, &APIError{Status: http.StatusBadRequest, Code: "invalid_parameter",
					Message: "cols and rows must be 1 to 1000", Fields: map[string]string{"cols": "1 to 1000", "rows": "1 to 1000"}})
				return
			}
		}
		if err := a.checkTerminalRequest(p, c.CTID, kind, session, readOnly); err != nil {
			a.smartError(w, r, err)
			return
		}
		up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 64 << 10,
			CheckOrigin: func(*http.Request) bool { return true }} // AuthenticateWS checked it
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // the upgrader has answered
		}
		defer conn.Close()
		conn.SetReadLimit(termMaxFrame)
		done, ok := a.Console.Track()
		defer done()
		t := &termConn{a: a, conn: conn, ctid: c.CTID, kind: kind}
		if !ok {
			t.fail(websocket.CloseGoingAway, "shutting_down", "the panel is shutting down")
			return
		}
		if c.Phase != db.PhaseReady {
			t.fail(closeNotRunning, "not_ready", fmt.Sprintf("container %d is %s", c.CTID, c.Phase))
			return
		}
		v, att, ok := t.attach(r.Context(), p, session, readOnly, cols, rows)
		if !ok {
			return
		}
		started := time.Now()
		how := t.serve(v, att)
		ended := time.Now()
		action := "console.session"
		if kind == console.KindShell {
			action = "shell.session"
		}
		id := c.CTID
		actx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if err := a.Store.Queries.Audit(actx, db.AuditEntry{Actor: p.Actor(), ActorRole: p.Role, Action: action, CTID: &id,
			Details: map[string]any{
				"kind": string(kind), "session": v.Session().ID, "read_only": readOnly, "user": p.Username,
				"token": p.TokenName, "started": started.UTC(), "ended": ended.UTC(),
				"duration_s": ended.Sub(started).Seconds(), "end": how, "remote": r.RemoteAddr,
			}}); err != nil {
			a.Log.Warn("audit terminal session", "ctid", c.CTID, "kind", kind, "err", err)
		}
	}
}

// termConn is one terminal websocket.
type termConn struct {
	a    *API
	conn *websocket.Conn
	ctid int
	kind console.Kind
}

func (t *termConn) send(v any) error {
	_ = t.conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	return t.conn.WriteJSON(v)
}

func (t *termConn) close(code int, reason string) {
	if len(reason) > 120 { // a close frame holds 123 bytes of reason
		reason = reason[:120]
	}
	_ = t.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(wsWriteTimeout))
}

// fail tells the client why it cannot have a terminal and closes.
func (t *termConn) fail(code int, errCode, msg string) {
	_ = t.send(map[string]any{"type": "error", "code": errCode, "message": msg})
	t.close(code, msg)
}

// attach opens or finds the session and attaches a viewer to it,
// telling the client why not when it cannot.
func (t *termConn) attach(ctx context.Context, p db.Principal, session string, readOnly bool, cols, rows int) (*console.Viewer, console.Attached, bool) {
	for try := 0; ; try++ {
		var s *console.Session
		var err error
		if session != "" {
			s, err = t.a.Console.Get(session)
		} else {
			s, err = t.a.Console.Open(ctx, console.OpenOptions{Kind: t.kind, CTID: t.ctid, Owner: console.OwnerKey(p), OwnerName: p.Actor(), Cols: cols, Rows: rows})
		}
		if err == nil {
			v, att, aerr := s.Attach(readOnly)
			if aerr == nil {
				if !readOnly && cols > 0 {
					_ = v.Resize(cols, rows)
				}
				return v, att, true
			}
			err = aerr
			// A console session that ended as we came: open it anew.
			if errors.Is(err, console.ErrEnded) && session == "" && try == 0 {
				continue
			}
		}
		t.openFailed(err, session)
		return nil, console.Attached{}, false
	}
}

func (t *termConn) openFailed(err error, session string) {
	switch {
	case errors.Is(err, console.ErrNoSession), errors.Is(err, console.ErrEnded):
		t.fail(closeNoSession, "no_session", fmt.Sprintf("shell session %s does not exist or has ended", session))
	case errors.Is(err, lxcdriver.ErrNotRunning), errors.Is(err, lxcdriver.ErrNotFound):
		t.fail(closeNotRunning, "not_running", fmt.Sprintf("container %d is stopped; start it first", t.ctid))
	case errors.Is(err, lxcdriver.ErrFrozen):
		t.fail(closeNotRunning, "frozen", fmt.Sprintf("container %d is frozen; unfreeze it first", t.ctid))
	case errors.Is(err, lxcdriver.ErrConsoleBusy):
		t.fail(closeNotRunning, "console_busy", fmt.Sprintf("the console of container %d is attached elsewhere (an lxc-console on the host?)", t.ctid))
	case errors.Is(err, console.ErrTooMany):
		t.fail(closeTooMany, "too_many", err.Error())
	case errors.Is(err, console.ErrClosed):
		t.fail(websocket.CloseGoingAway, "shutting_down", "the panel is shutting down")
	default:
		t.a.Log.Error("open terminal", "ctid", t.ctid, "kind", t.kind, "err", err)
		t.fail(websocket.CloseInternalServerErr, "internal", "could not open the terminal; the server log has details")
	}
}

// clientMsg is a JSON text frame from the client.
type clientMsg struct {
	Type string `json:"type"`
	Cols int    `json:"cols"`
	Rows int    `json:"rows"`
}

// serve pumps between the websocket and the viewer until either ends; it
// returns how the connection ended, for the audit log.
func (t *termConn) serve(v *console.Viewer, att console.Attached) string {
	s := v.Session()
	defer v.Detach()
	if t.send(map[string]any{"type": "status", "state": "attached", "session": s.ID, "kind": string(s.Kind),
		"ctid": s.CTID, "read_only": v.ReadOnly, "replay": len(att.Replay)}) != nil {
		return "write failed"
	}
	if len(att.Replay) > 0 && t.writeBinary(att.Replay) != nil {
		return "write failed"
	}
	if att.Frozen && t.send(frozenStatus(s.CTID)) != nil {
		return "write failed"
	}

	// The reader hands messages for the client to this goroutine, the
	// only one that writes data frames.
	notices := make(chan map[string]any, 8)
	notify := func(m map[string]any) {
		select {
		case notices <- m:
		default:
		}
	}
	readerDone := make(chan error, 1)
	go func() { readerDone <- t.readLoop(v, notify) }()

	ping := time.NewTicker(wsPingEvery)
	defer ping.Stop()
	var batch []byte
	for {
		select {
		case ev := <-v.Events():
			// Output that queued up while the last frame went out goes
			// in one frame: fewer frames when a flood outpaces the socket.
			var next *console.Event
			if ev.Data != nil && len(v.Events()) > 0 {
				batch = append(batch[:0], ev.Data...)
			more:
				for {
					select {
					case e := <-v.Events():
						// Frames stay within termMaxFrame both ways.
						if e.Data == nil || len(batch)+len(e.Data) > termMaxFrame {
							next = &e
							break more
						}
						batch = append(batch, e.Data...)
					default:
						break more
					}
				}
				ev.Data = batch
			}
			if err := t.event(s, ev); err != nil {
				return "write failed"
			}
			if next != nil && t.event(s, *next) != nil {
				return "write failed"
			}
		case m := <-notices:
			if t.send(m) != nil {
				return "write failed"
			}
		case <-ping.C:
			if t.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteTimeout)) != nil {
				return "ping failed"
			}
		case err := <-readerDone:
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code == websocket.CloseMessageTooBig {
				return "frame too big"
			}
			if errors.Is(err, websocket.ErrReadLimit) {
				t.close(websocket.CloseMessageTooBig, fmt.Sprintf("frames are limited to %d bytes", termMaxFrame))
				return "frame too big"
			}
			return "detached"
		case <-v.Gone():
			// What was queued before the end still goes out.
			for {
				select {
				case ev := <-v.Events():
					if t.event(s, ev) != nil {
						return "write failed"
					}
					continue
				default:
				}
				break
			}
			if reason := v.DropReason(); reason != "" {
				t.fail(closeTooSlow, "too_slow", reason)
				return "dropped: too slow"
			}
			end := s.End()
			m := map[string]any{"type": "end", "reason": end.Reason, "message": end.Message}
			if end.Reason == console.EndExited {
				m["exit_code"] = end.ExitCode
			}
			_ = t.send(m)
			switch end.Reason {
			case console.EndStopped:
				t.close(closeNotRunning, end.Message)
			case console.EndShutdown:
				t.close(websocket.CloseGoingAway, end.Message)
			default:
				t.close(websocket.CloseNormalClosure, end.Message)
			}
			return "session " + end.Reason
		}
	}
}

func frozenStatus(ctid int) map[string]any {
	return map[string]any{"type": "status", "state": "frozen",
		"message": fmt.Sprintf("container %d is frozen: input waits and output resumes when it is thawed", ctid)}
}

func (t *termConn) event(s *console.Session, ev console.Event) error {
	switch {
	case ev.Data != nil:
		return t.writeBinary(ev.Data)
	case ev.State == console.StateFrozen:
		return t.send(frozenStatus(s.CTID))
	case ev.State == console.StateRunning:
		return t.send(map[string]any{"type": "status", "state": "running", "message": fmt.Sprintf("container %d is running again", s.CTID)})
	}
	return nil
}

func (t *termConn) writeBinary(p []byte) error {
	_ = t.conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	return t.conn.WriteMessage(websocket.BinaryMessage, p)
}

// readLoop reads the client's frames until the connection ends: binary
// frames are typed into the terminal, JSON text frames are commands.
func (t *termConn) readLoop(v *console.Viewer, notify func(map[string]any)) error {
	extend := func() { _ = t.conn.SetReadDeadline(time.Now().Add(termReadTimeout)) }
	extend()
	t.conn.SetPongHandler(func(string) error { extend(); return nil })
	toldReadOnly := false
	for {
		kind, msg, err := t.conn.ReadMessage()
		if err != nil {
			return err
		}
		extend()
		if kind == websocket.BinaryMessage {
			switch err := v.Input(msg); {
			case err == nil, errors.Is(err, console.ErrEnded):
			case errors.Is(err, console.ErrReadOnly):
				if !toldReadOnly {
					toldReadOnly = true
					notify(map[string]any{"type": "error", "code": "read_only", "message": "this is a read-only view; what you type is not sent"})
				}
			case errors.Is(err, console.ErrInputStalled):
				notify(map[string]any{"type": "error", "code": "input_stalled", "message": fmt.Sprintf("container %d is not reading input (is it frozen?); input dropped", t.ctid)})
			}
			continue
		}
		var m clientMsg
		if json.Unmarshal(msg, &m) != nil || m.Type != "resize" {
			notify(map[string]any{"type": "error", "code": "bad_message", "message": `unknown message: send terminal input as binary frames, and {"type":"resize","cols":N,"rows":N} as text`})
			continue
		}
		switch err := v.Resize(m.Cols, m.Rows); {
		case err == nil, errors.Is(err, console.ErrReadOnly):
		default:
			notify(map[string]any{"type": "error", "code": "bad_resize", "message": err.Error()})
		}
	}
}
