package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ctpanel/ctpanel/handlers/auth"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// consolePanel is a panel on the Fake with alice's running container 101
// and the farm's container 102.
func consolePanel(t *testing.T) (p *testPanel, fake *lxcdriver.Fake, alice, bob string) {
	t.Helper()
	fake = lxcdriver.NewFake()
	p = newTestPanel(t, fake, "")
	_, alice = p.customer("alice")
	_, bob = p.customer("bob")
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "name": "alice1", "template": "busybox", "owner": "alice", "start": true})
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 102, "template": "busybox", "start": true})
	return p, fake, alice, bob
}

func TestTerminalTicketsOriginAndTenants(t *testing.T) {
	p, _, alice, bob := consolePanel(t)

	tk := p.ticket(alice, "alice1", "shell", nil)
	if !strings.HasPrefix(tk["url"].(string), "/api/v1/containers/101/shell?ticket=ctt_") || tk["expires_at"] == "" {
		t.Fatalf("ticket answer %v", tk)
	}
	if exp, err := time.Parse(time.RFC3339Nano, tk["expires_at"].(string)); err != nil || time.Until(exp) > 31*time.Second || time.Until(exp) < 20*time.Second {
		t.Fatalf("ticket expires at %v (%v), want in 30 s", tk["expires_at"], err)
	}
	// A foreign Origin is refused before the ticket is looked at...
	if _, res, err := p.dialTerm(tk["url"].(string), http.Header{"Origin": {"https://evil.example"}}); err == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v %v", err, res)
	}
	// ...so the ticket still opens the shell from the panel's own origin.
	c, res, err := p.dialTerm(tk["url"].(string), http.Header{"Origin": {p.srv.URL}})
	if err != nil {
		t.Fatalf("dial with the panel's origin: %v %v", err, res)
	}
	c.waitMsg("attached", func(m map[string]any) bool { return m["state"] == "attached" && m["kind"] == "shell" })
	c.send("echo hello-ticket\r")
	c.waitFor(0, "\r\nhello-ticket\r\n")

	// Used once: the same ticket opens nothing now.
	if _, res, err := p.dialTerm(tk["url"].(string), nil); err == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("reused ticket: %v %v", err, res)
	}
	for _, path := range []string{
		"/api/v1/containers/101/shell?ticket=ctt_wrong",
		"/api/v1/containers/101/shell?ticket=",
		"/api/v1/containers/101/console",
	} {
		if _, res, err := p.dialTerm(path, nil); err == nil || res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: %v %v", path, err, res)
		}
	}
	// A ticket is for one container and one kind.
	other := p.ticket(alice, "101", "console", nil)
	wrong := strings.Replace(other["url"].(string), "/101/console", "/101/shell", 1)
	if _, res, err := p.dialTerm(wrong, nil); err == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("console ticket on the shell: %v %v", err, res)
	}
	staffTk := p.ticket(p.admin, "101", "console", nil)
	if _, res, err := p.dialTerm(strings.Replace(staffTk["url"].(string), "/101/", "/102/", 1), nil); err == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("ticket of 101 on 102: %v %v", err, res)
	}

	// Another customer's container does not exist for bob, by ticket or
	// by token; nor does one that does not exist at all.
	p.expect(p.do(bob, "POST", "/api/v1/containers/101/console/ticket", nil), http.StatusNotFound)
	p.expect(p.do(bob, "POST", "/api/v1/containers/alice1/shell/ticket", map[string]any{"read_only": true}), http.StatusNotFound)
	p.expect(p.do(alice, "POST", "/api/v1/containers/102/console/ticket", nil), http.StatusNotFound)
	p.expect(p.do(alice, "POST", "/api/v1/containers/4242/console/ticket", nil), http.StatusNotFound)
	p.expect(p.do("", "POST", "/api/v1/containers/101/console/ticket", nil), http.StatusUnauthorized)
	if _, res, err := p.dialTerm("/api/v1/containers/101/console", bearerHeader(bob)); err == nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("bob's token on alice's console: %v %v", err, res)
	}
	p.expect(p.doMalformed(alice, "POST", "/api/v1/containers/101/shell/ticket", `{"bogus":1}`), http.StatusBadRequest)

	// The bearer token works without a ticket, from a configured origin.
	origins, err := auth.ParseOrigins(nil, []string{"https://panel.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	p.app.API.Origins = origins
	c2, res, err := p.dialTerm("/api/v1/containers/101/console", http.Header{"Authorization": {"Bearer " + alice}, "Origin": {"https://panel.example.com"}})
	if err != nil {
		t.Fatalf("bearer from an allowed origin: %v %v", err, res)
	}
	c2.waitMsg("attached", func(m map[string]any) bool { return m["state"] == "attached" && m["kind"] == "console" })

	// The container and the panel are fine after all of it.
	c.send("echo still-here\r")
	c.waitFor(0, "\r\nstill-here\r\n")
	p.expect(p.do("", "GET", "/healthz", nil), http.StatusOK)
}

func TestTerminalOversizedFrameClosesConnection(t *testing.T) {
	p, fake, alice, _ := consolePanel(t)
	c := p.openTerm(alice, "101", "shell", nil)
	session := c.messages()[0]["session"].(string)
	c.send("echo before\r")
	c.waitFor(0, "\r\nbefore\r\n")
	// The server may close before the client has written the last
	// fragment; the close code below is what counts.
	writeOversized(t, c.conn, websocket.BinaryMessage, make([]byte, 64<<10+1))
	if code, _ := c.waitClosed(); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want %d (message too big)", code, websocket.CloseMessageTooBig)
	}
	// A big text frame is refused alike.
	c2 := p.openTerm(alice, "101", "console", nil)
	writeOversized(t, c2.conn, websocket.TextMessage, []byte(`{"type":"resize","pad":"`+strings.Repeat("x", 70<<10)+`"}`))
	if code, _ := c2.waitClosed(); code != websocket.CloseMessageTooBig {
		t.Fatalf("text frame: close code %d", code)
	}
	// The shell session, the container and the panel live on.
	c3 := p.openTerm(alice, "101", "shell", map[string]any{"session": session})
	c3.waitFor(0, "before")
	c3.send("echo after\r")
	c3.waitFor(0, "\r\nafter\r\n")
	if st, _ := fake.State(context.Background(), "101"); st != lxcdriver.StateRunning {
		t.Fatalf("container is %s", st)
	}
	p.expect(p.do("", "GET", "/healthz", nil), http.StatusOK)
}

func TestTerminalReadOnlyViews(t *testing.T) {
	p, _, alice, bob := consolePanel(t)
	owner := p.openTerm(alice, "101", "console", nil)
	// Staff watch alice's console without typing into it.
	watcher := p.openTerm(p.admin, "101", "console", map[string]any{"read_only": true})
	if m := watcher.messages()[0]; m["read_only"] != true || m["session"] != owner.messages()[0]["session"] {
		t.Fatalf("watcher attached as %v; owner %v", m, owner.messages()[0])
	}
	watcher.send("echo from-watcher\r")
	watcher.waitMsg("read-only error", func(m map[string]any) bool { return m["type"] == "error" && m["code"] == "read_only" })
	watcher.resize(20, 5)
	owner.send("echo from-owner\r")
	owner.waitFor(0, "\r\nfrom-owner\r\n")
	watcher.waitFor(0, "\r\nfrom-owner\r\n")
	owner.send("stty size\r")
	owner.waitFor(0, "24 80")
	if strings.Contains(owner.text(), "from-watcher") {
		t.Fatalf("a read-only viewer typed into the console:\n%q", owner.text())
	}

	// A shell session is alice's: staff may watch it by id, not type
	// into it; bob may not even see it.
	sh := p.openTerm(alice, "101", "shell", nil)
	id := sh.messages()[0]["session"].(string)
	p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/shell/ticket", map[string]any{"session": id}), http.StatusNotFound)
	p.expect(p.do(bob, "POST", "/api/v1/containers/101/shell/ticket", map[string]any{"session": id, "read_only": true}), http.StatusNotFound)
	p.expect(p.do(alice, "POST", "/api/v1/containers/101/shell/ticket", map[string]any{"read_only": true}), http.StatusUnprocessableEntity)
	p.expect(p.do(alice, "POST", "/api/v1/containers/101/shell/ticket", map[string]any{"session": "0123456789abcdef0123456789abcdef"}), http.StatusNotFound)
	spy := p.openTerm(p.admin, "101", "shell", map[string]any{"session": id, "read_only": true})
	sh.send("echo in-shell\r")
	spy.waitFor(0, "\r\nin-shell\r\n")
	// Alice takes her own shell back in a second tab.
	tab2 := p.openTerm(alice, "101", "shell", map[string]any{"session": id})
	tab2.waitFor(0, "in-shell")
}

func TestTerminalStoppedAndFrozenContainers(t *testing.T) {
	p, fake, alice, _ := consolePanel(t)
	ctx := context.Background()
	if err := fake.Freeze(ctx, "101"); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"console", "shell"} {
		c, _, err := p.dialTerm(p.ticket(alice, "101", kind, nil)["url"].(string), nil)
		if err != nil {
			t.Fatal(err)
		}
		m := c.waitMsg("error", func(m map[string]any) bool { return m["type"] == "error" })
		if m["code"] != "frozen" || m["message"] != "container 101 is frozen; unfreeze it first" {
			t.Fatalf("%s of a frozen container: %v", kind, m)
		}
		if code, _ := c.waitClosed(); code != 4409 {
			t.Fatalf("%s of a frozen container: close code %d", kind, code)
		}
	}
	if err := fake.Unfreeze(ctx, "101"); err != nil {
		t.Fatal(err)
	}

	// Frozen while attached: told so, and told when it runs again.
	c := p.openTerm(alice, "101", "shell", nil)
	if err := fake.Freeze(ctx, "101"); err != nil {
		t.Fatal(err)
	}
	c.waitMsg("frozen status", func(m map[string]any) bool { return m["type"] == "status" && m["state"] == "frozen" })
	if err := fake.Unfreeze(ctx, "101"); err != nil {
		t.Fatal(err)
	}
	c.waitMsg("running status", func(m map[string]any) bool { return m["type"] == "status" && m["state"] == "running" })

	// Stopped while attached: the session ends with a message.
	con := p.openTerm(alice, "101", "console", nil)
	p.ok(alice, "POST", "/api/v1/containers/101/stop", nil)
	for _, tc := range []*termClient{c, con} {
		m := tc.waitMsg("end", func(m map[string]any) bool { return m["type"] == "end" })
		if m["reason"] != "stopped" || !strings.Contains(m["message"].(string), "101") {
			t.Fatalf("end message %v", m)
		}
		if code, _ := tc.waitClosed(); code != 4409 {
			t.Fatalf("close code %d after the stop, want 4409", code)
		}
	}
	c2, _, err := p.dialTerm(p.ticket(alice, "101", "console", nil)["url"].(string), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := c2.waitMsg("error", func(m map[string]any) bool { return m["type"] == "error" })
	if m["code"] != "not_running" || m["message"] != "container 101 is stopped; start it first" {
		t.Fatalf("console of a stopped container: %v", m)
	}
	if code, _ := c2.waitClosed(); code != 4409 {
		t.Fatalf("close code %d", code)
	}
}

func TestShellSurvivesDisconnectAndIsAudited(t *testing.T) {
	p, _, alice, _ := consolePanel(t)
	c := p.openTerm(alice, "101", "shell", nil)
	id := c.messages()[0]["session"].(string)
	c.resize(132, 43)
	c.send("stty size\r")
	c.waitFor(0, "43 132")
	c.send("echo before-drop\r")
	c.waitFor(0, "\r\nbefore-drop\r\n")
	c.drop()

	// A reconnect with the session id gets the same shell and its output.
	c2 := p.openTerm(alice, "101", "shell", map[string]any{"session": id})
	if got := c2.messages()[0]; got["session"] != id || got["replay"].(float64) == 0 {
		t.Fatalf("reattach status %v", got)
	}
	c2.waitFor(0, "before-drop")
	c2.send("stty size\r")
	c2.waitFor(0, "43 132\r\n# ")
	c2.send("echo bad-json-next\r")
	if err := c2.conn.WriteMessage(websocket.TextMessage, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	c2.waitMsg("bad message error", func(m map[string]any) bool { return m["code"] == "bad_message" })
	c2.resize(0, 10)
	c2.waitMsg("bad resize error", func(m map[string]any) bool { return m["code"] == "bad_resize" })
	c2.send("exit 7\r")
	m := c2.waitMsg("end", func(m map[string]any) bool { return m["type"] == "end" })
	if m["reason"] != "exited" || m["exit_code"] != float64(7) {
		t.Fatalf("end %v", m)
	}
	if code, _ := c2.waitClosed(); code != websocket.CloseNormalClosure {
		t.Fatalf("close code %d after exit", code)
	}
	// The ended session cannot be reattached.
	p.expect(p.do(alice, "POST", "/api/v1/containers/101/shell/ticket", map[string]any{"session": id}), http.StatusNotFound)

	// Both connections are in the audit log: who, which container, when,
	// for how long.
	var n int
	deadline := time.Now().Add(10 * time.Second)
	for n < 2 && time.Now().Before(deadline) {
		_ = p.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log
			WHERE action = 'shell.session' AND ct_id = 101 AND details->>'session' = $1
			AND (details->>'duration_s')::float >= 0 AND details ? 'started' AND details ? 'ended'
			AND actor LIKE 'alice%'`, id).Scan(&n)
		time.Sleep(20 * time.Millisecond)
	}
	if n != 2 {
		t.Fatalf("%d shell.session audit entries for %s, want 2", n, id)
	}
}

func TestTerminalPageAndAssets(t *testing.T) {
	p, _, _, _ := consolePanel(t)
	for _, tc := range []struct {
		path, want string
		status     int
	}{
		{"/containers/101/console", `data-kind="console"`, 200},
		{"/containers/alice1/shell", `data-kind="shell"`, 200},
		{"/containers/%3Cscript%3E/console", "", 404},
		{"/static/console.js", "ctpanelConsole", 200},
		{"/static/console.css", ".badge", 200},
		{"/static/vendor/xterm/xterm.js", "Terminal", 200},
		{"/static/vendor/xterm/addon-fit.js", "FitAddon", 200},
		{"/static/vendor/xterm/xterm.css", ".xterm", 200},
		{"/static/", "", 404},
	} {
		res, err := http.Get(p.srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s: %d, want %d with %q (vendor files come from scripts/build-web.sh)", tc.path, res.StatusCode, tc.status, tc.want)
		}
		if tc.status == 200 && strings.HasPrefix(tc.path, "/containers/") {
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("GET %s: CSP %q", tc.path, csp)
			}
		}
	}
}

// TestTerminalSessionsListedAndEnded: the live sessions of a container are
// listed (a customer: the console and their own shells; staff: all), and
// can be ended; an ended shell's viewers are told why.
func TestTerminalSessionsListedAndEnded(t *testing.T) {
	p, _, alice, bob := consolePanel(t)
	_, carol := p.customer("carol")
	// A second token of alice's stands for a colleague on her account.
	var aliceID int64
	if err := p.app.Pool.QueryRow(context.Background(), `SELECT id FROM users WHERE username = 'alice'`).Scan(&aliceID); err != nil {
		t.Fatal(err)
	}
	aliceOther := p.token("customer", &aliceID)

	sh := p.openTerm(alice, "101", "shell", nil)
	shID := sh.messages()[0]["session"].(string)
	con := p.openTerm(alice, "101", "console", nil)
	staffSh := p.openTerm(p.admin, "101", "shell", nil)
	staffID := staffSh.messages()[0]["session"].(string)

	list := func(tok string) map[string]map[string]any {
		t.Helper()
		out := map[string]map[string]any{}
		for _, x := range p.expect(p.do(tok, "GET", "/api/v1/containers/101/sessions", nil), 200).json(t)["sessions"].([]any) {
			m := x.(map[string]any)
			out[m["id"].(string)] = m
		}
		return out
	}
	mine := list(alice)
	if len(mine) != 2 || mine[shID] == nil || mine[shID]["kind"] != "shell" || mine[shID]["yours"] != true || mine[shID]["viewers"] != float64(1) {
		t.Fatalf("alice's sessions: %v", mine)
	}
	if mine[staffID] != nil {
		t.Fatalf("alice sees staff's shell: %v", mine)
	}
	if !strings.HasPrefix(mine[shID]["owner"].(string), "alice") {
		t.Fatalf("owner shown as %v", mine[shID]["owner"])
	}
	all := list(p.admin)
	if len(all) != 3 || all[shID]["yours"] != false || all[staffID]["yours"] != true {
		t.Fatalf("staff's view of the sessions: %v", all)
	}
	// Another token of the same user owns the same shells.
	if other := list(aliceOther); other[shID] == nil || other[shID]["yours"] != true {
		t.Fatalf("alice's other token: %v", other)
	}
	// Other customers see nothing of it, and cannot end it.
	p.expect(p.do(bob, "GET", "/api/v1/containers/101/sessions", nil), 404)
	p.expect(p.do(carol, "DELETE", "/api/v1/containers/101/sessions/"+shID, nil), 404)
	p.expect(p.do(bob, "DELETE", "/api/v1/containers/101/sessions/"+shID, nil), 404)
	// Alice cannot end staff's shell, nor a session of another container.
	p.expect(p.do(alice, "DELETE", "/api/v1/containers/101/sessions/"+staffID, nil), 404)
	p.expect(p.do(p.admin, "DELETE", "/api/v1/containers/102/sessions/"+shID, nil), 404)

	// Staff end alice's shell: her viewer is told who did.
	p.expect(p.do(p.admin, "DELETE", "/api/v1/containers/101/sessions/"+shID, nil), http.StatusNoContent)
	if m := sh.waitMsg("end", func(m map[string]any) bool { return m["type"] == "end" }); !strings.Contains(m["message"].(string), "ended by") {
		t.Fatalf("end message: %v", m)
	}
	if code, _ := sh.waitClosed(); code != websocket.CloseNormalClosure {
		t.Fatalf("ended shell closed with %d", code)
	}
	p.expect(p.do(p.admin, "DELETE", "/api/v1/containers/101/sessions/"+shID, nil), 404)
	if got := list(alice); len(got) != 1 || got[shID] != nil {
		t.Fatalf("after the end alice's sessions are %v", got)
	}
	// And the customer may end the console of her own container.
	var conID string
	for id, s := range list(alice) {
		if s["kind"] == "console" {
			conID = id
		}
	}
	p.expect(p.do(alice, "DELETE", "/api/v1/containers/101/sessions/"+conID, nil), http.StatusNoContent)
	con.waitClosed()
	staffSh.send("echo staff-still-here\r")
	staffSh.waitFor(0, "\r\nstaff-still-here\r\n")
}
