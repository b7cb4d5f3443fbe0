package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/hostnet"
)

// serveProc is `ctpanel serve` as a real process, with its embedded
// PostgreSQL, so it can be killed like a crashing server.
type serveProc struct {
	t       *testing.T
	bin     string
	dataDir string
	lxcpath string
	addr    string
	cmd     *exec.Cmd
	token   string
	log     *syncBuffer
	// netTag names its host network (CTPANEL_NET_TAG).
	netTag string
}

// syncBuffer is the panel's output, written by its process's copier and
// read by the test while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func buildCtpanel(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ctpanel")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/ctpanel/ctpanel/cmd/ctpanel").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (s *serveProc) start() {
	s.t.Helper()
	s.log = &syncBuffer{}
	s.cmd = exec.Command(s.bin, "serve")
	s.cmd.Env = append(os.Environ(), "CTPANEL_LISTEN="+s.addr, "CTPANEL_DATA_DIR="+s.dataDir,
		"CTPANEL_LXC_PATH="+s.lxcpath, "CTPANEL_DATABASE_URL=", "CTPANEL_LOG_LEVEL=info",
		"CTPANEL_NET_TAG="+s.netTag)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + s.addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				tok, err := os.ReadFile(filepath.Join(s.dataDir, "admin-token"))
				if err != nil {
					s.t.Fatal(err)
				}
				s.token = strings.TrimSpace(string(tok))
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("ctpanel serve did not come up:\n%s", s.log)
}

func (s *serveProc) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
}

func (s *serveProc) call(method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, "http://"+s.addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+s.token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := openAPIClient(s.t).Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	if loc := res.Header.Get("Location"); loc != "" && m != nil {
		m["_location"] = loc
	}
	return res.StatusCode, m
}

func (s *serveProc) waitOp(loc string) map[string]any {
	s.t.Helper()
	for i := 0; i < 10; i++ {
		_, op := s.call("GET", loc+"/wait?timeout=30", nil)
		if op["status"] == "succeeded" || op["status"] == "failed" {
			return op
		}
	}
	s.t.Fatalf("operation %s never finished", loc)
	return nil
}

func (s *serveProc) mustRun(method, path string, body any) {
	s.t.Helper()
	code, m := s.call(method, path, body)
	if code != 202 {
		s.t.Fatalf("%s %s: %d %v", method, path, code, m)
	}
	if op := s.waitOp(m["_location"].(string)); op["status"] != "succeeded" {
		s.t.Fatalf("%s %s: %v", method, path, op)
	}
}

func (s *serveProc) status(ref string) string {
	s.t.Helper()
	code, m := s.call("GET", "/api/v1/containers/"+ref, nil)
	if code == 404 {
		return "absent"
	}
	st, _ := m["status"].(string)
	return st
}

// newServeProc is a `ctpanel serve` (not started yet) with a data dir of
// its own, stopped and removed when the test ends.
func newServeProc(t *testing.T, lxcpath, prefix string) *serveProc {
	t.Helper()
	dataDir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dataDir, 0o755)
	s := &serveProc{t: t, bin: buildCtpanel(t), dataDir: dataDir, lxcpath: lxcpath, addr: freeAddr(t), netTag: testNetTag()}
	t.Cleanup(func() {
		if s.cmd != nil && s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			_ = s.cmd.Wait()
		}
		os.RemoveAll(dataDir)
		removeTestNetwork(t, hostnet.TaggedNames(s.netTag))
	})
	return s
}

// TestKilledMidCreateRecovers kills ctpanel with SIGKILL in the middle of a
// create, changes containers behind its back while it is down, and checks
// that the restarted panel finishes the work and agrees with liblxc.
func TestKilledMidCreateRecovers(t *testing.T) {
	lxcpath := requireLXC(t)
	s := newServeProc(t, lxcpath, "ctpanel-crash-")
	dataDir := s.dataDir
	s.start()

	s.mustRun("POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "onboot": true, "start": true})
	s.mustRun("POST", "/api/v1/containers", map[string]any{"ctid": 102, "template": "busybox", "start": true})
	s.mustRun("POST", "/api/v1/containers", map[string]any{"ctid": 103, "template": "busybox"})
	s.mustRun("POST", "/api/v1/containers", map[string]any{"ctid": 104, "template": "busybox"})

	code, create := s.call("POST", "/api/v1/containers", map[string]any{"ctid": 110, "template": "busybox", "start": true})
	if code != 202 {
		t.Fatalf("create: %d %v", code, create)
	}
	loc := create["_location"].(string)
	midway := false
	for i := 0; i < 2000; i++ {
		_, op := s.call("GET", loc, nil)
		if op["status"] == "running" {
			midway = true
			break
		}
		if op["status"] == "succeeded" || op["status"] == "failed" {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if !midway {
		t.Fatal("could not catch the create while it was running")
	}
	time.Sleep(30 * time.Millisecond) // let liblxc get going
	s.kill()
	// The template script liblxc forked may outlive its parent; let it end
	// before the restarted panel cleans up after it.
	for i := 0; i < 200; i++ {
		if out, _ := exec.Command("pgrep", "-f", "lxc-busybox.*"+lxcpath).Output(); len(out) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Behind the panel's back: stop 101 (onboot) and 102, start 103, and
	// remove 104 from disk.
	for _, c := range [][]string{
		{"lxc-stop", "-P", lxcpath, "-n", "101", "-k"},
		{"lxc-stop", "-P", lxcpath, "-n", "102", "-k"},
		{"lxc-start", "-P", lxcpath, "-n", "103"},
		{"lxc-destroy", "-P", lxcpath, "-n", "104", "-f"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}

	s.start()
	op := s.waitOp(loc)
	switch op["status"] {
	case "succeeded":
		if got := s.status("110"); got != "running" || lxcState(t, lxcpath, "110") != "running" {
			t.Fatalf("after recovery 110: panel %s, lxc-info %s", got, lxcState(t, lxcpath, "110"))
		}
	case "failed":
		if got := s.status("110"); got != "absent" || lxcState(t, lxcpath, "110") != "absent" {
			t.Fatalf("failed create left 110: panel %s, lxc-info %s", got, lxcState(t, lxcpath, "110"))
		}
	}
	// 101 is started by the onboot operation reconcile queues, which may
	// still be running when 110's create has ended: each state is given
	// a minute to settle (the others are settled already).
	for ref, want := range map[string]string{"101": "running", "102": "stopped", "103": "running", "104": "missing"} {
		deadline := time.Now().Add(time.Minute)
		got := s.status(ref)
		for got != want && time.Now().Before(deadline) {
			time.Sleep(250 * time.Millisecond)
			got = s.status(ref)
		}
		if got != want {
			t.Fatalf("after restart %s is %s, want %s\n%s", ref, got, want, s.log)
		}
	}
	if got := lxcState(t, lxcpath, "101"); got != "running" {
		t.Fatalf("onboot container 101: panel running, lxc-info %s", got)
	}
	_, list := s.call("GET", "/api/v1/containers", nil)
	for _, c := range list["containers"].([]any) {
		ct := c.(map[string]any)
		name := fmt.Sprint(ct["ctid"])
		if ct["status"] == "missing" {
			continue
		}
		if got := lxcState(t, lxcpath, name); got != ct["status"] {
			t.Fatalf("%s: panel %v, lxc-info %s", name, ct["status"], got)
		}
	}
	// No operation is left pending or running.
	for _, ref := range []string{"101", "102", "103", "110"} {
		_, ops := s.call("GET", "/api/v1/containers/"+ref+"/operations", nil)
		list, _ := ops["operations"].([]any)
		for _, o := range list {
			if st := o.(map[string]any)["status"]; st == "pending" || st == "running" {
				if done := s.waitOp("/api/v1/operations/" + o.(map[string]any)["id"].(string)); done["status"] != "succeeded" {
					t.Fatalf("operation stuck or failed on %s: %v", ref, done)
				}
			}
		}
	}
	// Everything disposable goes; the missing row can be removed too.
	for _, ref := range []string{"101", "102", "103", "104", "110"} {
		if s.status(ref) != "absent" {
			s.mustRun("DELETE", "/api/v1/containers/"+ref+"?force=true", nil)
		}
	}
	if names := lxcNames(t, lxcpath); len(names) != 0 {
		t.Fatalf("lxc-ls lists %v", names)
	}
	// A clean stop takes the private PostgreSQL down with it.
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("serve exit: %v\n%s", err, s.log)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "postgres", "data", "postmaster.pid")); err == nil {
		t.Fatal("postgres still running after ctpanel stopped")
	}
}
