package server

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestRealConsoleAndShell is the acceptance test of the terminals on a
// real busybox container over real websockets: the console and a shell,
// echo, window sizes seen by stty in the container, a dropped connection
// in the middle of a loop that goes on running and is replayed, and the
// messages of a frozen and a stopped container.
func TestRealConsoleAndShell(t *testing.T) {
	lxcpath := requireLXC(t)
	p := newTestPanel(t, nil, lxcpath)
	_, alice := p.customer("alice")
	_, bob := p.customer("bob")
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "name": "web1", "template": "busybox", "owner": "alice", "start": true})

	// The console: busybox init starts a shell there at the first Enter.
	con := p.openTerm(alice, "web1", "console", nil)
	con.send("\r")
	con.send("echo console-$((40+2))\r")
	at := con.waitFor(0, "\nconsole-42\r\n")
	con.resize(91, 33)
	con.send("stty size\r")
	at = con.waitFor(at, "\n33 91\r\n")
	con.send("tty\r")
	con.waitFor(at, "/dev/console")

	// A shell, sized at the start and resized later.
	tk := p.ticket(alice, "101", "shell", nil)
	sh, res, err := p.dialTerm(tk["url"].(string)+"&cols=100&rows=30", nil)
	if err != nil {
		t.Fatalf("dial shell: %v %v", err, res)
	}
	st := sh.waitMsg("attached", func(m map[string]any) bool { return m["state"] == "attached" })
	session := st["session"].(string)
	sh.send("stty size\r")
	at = sh.waitFor(0, "\n30 100\r\n")
	sh.resize(120, 40)
	sh.send("stty size; echo shell-$((6*7)); id -u\r")
	at = sh.waitFor(at, "\n40 120\r\nshell-42\r\n0\r\n")
	if strings.Contains(sh.text(), "\r\r\n") {
		t.Errorf("line ends translated twice:\n%q", sh.text())
	}

	// Bob sees neither terminal.
	p.expect(p.do(bob, "POST", "/api/v1/containers/101/shell/ticket", map[string]any{"session": session, "read_only": true}), http.StatusNotFound)
	if _, res, err := p.dialTerm("/api/v1/containers/101/console", bearerHeader(bob)); err == nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("bob on alice's console: %v %v", err, res)
	}

	// A loop runs while the connection drops in the middle of it.
	sh.send("i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done\r")
	sh.waitFor(at, "tick-3\r\n")
	sh.drop()
	time.Sleep(time.Second)

	sh2 := p.openTerm(alice, "101", "shell", map[string]any{"session": session})
	st2 := sh2.messages()[0]
	if st2["session"] != session || st2["replay"].(float64) == 0 {
		t.Fatalf("reattach: %v", st2)
	}
	// The replay holds the ticks from before and during the drop...
	lastReplayed := sh2.waitForLastTick(t)
	if lastReplayed < 5 {
		t.Fatalf("replay ends at tick %d; the loop ran a second unwatched", lastReplayed)
	}
	// ...and the loop is still running: new ticks come live.
	sh2.waitFor(0, "tick-"+strconv.Itoa(lastReplayed+3)+"\r\n")
	sh2.send("\x03")
	sh2.send("echo stopped-loop\r")
	sh2.waitFor(0, "\nstopped-loop\r\n")

	// The console session is shared: a second connection gets its
	// replay and both see what either types.
	con2 := p.openTerm(alice, "101", "console", nil)
	con2.waitFor(0, "console-42")
	con2.send("echo both-$((1+1))\r")
	con.waitFor(0, "\nboth-2\r\n")
	con2.waitFor(0, "\nboth-2\r\n")

	// An oversized frame closes that connection only.
	writeOversized(t, con2.conn, websocket.BinaryMessage, make([]byte, 100<<10))
	if code, _ := con2.waitClosed(); code != websocket.CloseMessageTooBig {
		t.Fatalf("oversized frame: close code %d", code)
	}
	con.send("echo after-big-frame\r")
	con.waitFor(0, "\nafter-big-frame\r\n")
	if got := lxcState(t, lxcpath, "101"); got != "running" {
		t.Fatalf("container is %s after the oversized frame", got)
	}

	// Frozen: a new terminal is refused with a message, at once.
	p.ok(p.admin, "POST", "/api/v1/containers/101/freeze", nil)
	start := time.Now()
	fz, _, err := p.dialTerm(p.ticket(alice, "101", "shell", nil)["url"].(string), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := fz.waitMsg("error", func(m map[string]any) bool { return m["type"] == "error" }); m["code"] != "frozen" {
		t.Fatalf("shell in a frozen container: %v", m)
	}
	if code, _ := fz.waitClosed(); code != 4409 || time.Since(start) > 5*time.Second {
		t.Fatalf("frozen: close code %d after %s", code, time.Since(start))
	}
	sh2.waitMsg("frozen status", func(m map[string]any) bool { return m["state"] == "frozen" })
	p.ok(p.admin, "POST", "/api/v1/containers/101/unfreeze", nil)
	sh2.waitMsg("running status", func(m map[string]any) bool { return m["state"] == "running" })
	sh2.send("echo thawed\r")
	sh2.waitFor(0, "\nthawed\r\n")

	// Stopped: the attached terminals end with a message.
	p.ok(alice, "POST", "/api/v1/containers/101/stop", nil)
	for _, c := range []*termClient{con, sh2} {
		if m := c.waitMsg("end", func(m map[string]any) bool { return m["type"] == "end" }); m["reason"] != "stopped" {
			t.Fatalf("end after stop: %v", m)
		}
		if code, _ := c.waitClosed(); code != 4409 {
			t.Fatalf("close code %d after stop", code)
		}
	}
	stopped, _, err := p.dialTerm(p.ticket(alice, "101", "console", nil)["url"].(string), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := stopped.waitMsg("error", func(m map[string]any) bool { return m["type"] == "error" }); m["message"] != "container 101 is stopped; start it first" {
		t.Fatalf("console of a stopped container: %v", m)
	}

	// After a restart the console attaches again.
	p.ok(alice, "POST", "/api/v1/containers/101/start", nil)
	again := p.openTerm(alice, "101", "console", nil)
	again.send("\r")
	again.send("echo back-$((2+2))\r")
	again.waitFor(0, "\nback-4\r\n")
	again.conn.Close()

	var audits int
	deadline := time.Now().Add(10 * time.Second)
	// con, sh, sh2, con2 and again attached; the refused ones did not.
	for audits < 5 && time.Now().Before(deadline) {
		_ = p.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log
			WHERE ct_id = 101 AND action IN ('console.session', 'shell.session') AND details ? 'duration_s'`).Scan(&audits)
		time.Sleep(50 * time.Millisecond)
	}
	if audits != 5 {
		t.Fatalf("%d terminal sessions in the audit log, want 5", audits)
	}
	p.ok(p.admin, "POST", "/api/v1/containers/101/stop", nil)
	p.ok(p.admin, "DELETE", "/api/v1/containers/101", nil)
}

var termTickRE = regexp.MustCompile(`tick-(\d+)\r\n`)

// waitForLastTick returns the number of the last whole tick line in the
// output so far (waiting for at least one).
func (c *termClient) waitForLastTick(t *testing.T) int {
	t.Helper()
	c.waitFor(0, "tick-")
	ms := termTickRE.FindAllStringSubmatch(c.text(), -1)
	if len(ms) == 0 {
		t.Fatalf("no whole tick line in %q", c.text())
	}
	n, _ := strconv.Atoi(ms[len(ms)-1][1])
	return n
}
