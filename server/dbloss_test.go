package server

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDatabaseLostMidOperation (hardening point 2): the private
// PostgreSQL is killed while a create runs. Without a restart of the
// panel, the cluster comes back (supervised), /healthz says 503 while it
// is down and 200 after, and the create finishes or fails: it is not left
// running, and panel and liblxc agree on what is left.
func TestDatabaseLostMidOperation(t *testing.T) {
	lxcpath := requireLXC(t)
	s := newServeProc(t, lxcpath, "ctpanel-dbloss-")
	dataDir := s.dataDir
	s.start()
	postmaster := func() int {
		b, err := os.ReadFile(filepath.Join(dataDir, "postgres", "data", "postmaster.pid"))
		if err != nil {
			return 0
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
		return pid
	}
	first := postmaster()
	if first == 0 {
		t.Fatal("no postmaster.pid")
	}
	code, create := s.call("POST", "/api/v1/containers", map[string]any{"ctid": 401, "template": "busybox", "start": true})
	if code != 202 {
		t.Fatalf("create: %d %v", code, create)
	}
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	sawDown := false
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get("http://" + s.addr + "/healthz")
		if err != nil {
			t.Fatalf("healthz: %v", err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusServiceUnavailable {
			sawDown = true
		}
		if res.StatusCode == http.StatusOK && postmaster() != first && postmaster() != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the private cluster did not come back in 60 s\n%s", s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !sawDown {
		t.Log("the outage was too short for /healthz to be seen answering 503")
	}
	op := s.waitOp(create["_location"].(string))
	if s.cmd.ProcessState != nil {
		t.Fatalf("the panel exited: %v\n%s", s.cmd.ProcessState, s.log)
	}
	switch op["status"] {
	case "succeeded":
		if st, lx := s.status("401"), lxcState(t, lxcpath, "401"); st != "running" || lx != "running" {
			t.Fatalf("after the outage 401: panel %s, lxc-info %s", st, lx)
		}
	case "failed":
		t.Logf("the create failed in the outage: %v", op["error"])
		if st := s.status("401"); st != "absent" {
			s.mustRun("DELETE", "/api/v1/containers/401?force=true", nil)
		}
		if lx := lxcState(t, lxcpath, "401"); lx != "absent" {
			t.Fatalf("a failed create left 401 in liblxc: %s", lx)
		}
	default:
		t.Fatalf("create after the outage: %v\n%s", op, s.log)
	}
	if !strings.Contains(s.log.String(), "private postgresql cluster running again") {
		t.Errorf("no restart of the private cluster in the log:\n%s", s.log)
	}
	if s.status("401") != "absent" {
		s.mustRun("DELETE", "/api/v1/containers/401?force=true", nil)
	}
}
