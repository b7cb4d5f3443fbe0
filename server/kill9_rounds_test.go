package server

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// panelProcesses lists the processes a panel runs on lxcpath's
// containers that must not outlive it (tar, mkfs, rsync, lxc-attach,
// lxc-start before it daemonizes...): those whose command line names the
// lxcpath, other than liblxc's monitors, which by design outlive it.
func panelProcesses(lxcpath string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		if strings.Contains(cmd, lxcpath) && !strings.HasPrefix(cmd, "[lxc monitor]") {
			out = append(out, filepath.Base(d)+": "+cmd)
		}
	}
	return out
}

// TestKill9Rounds (hardening point 1): 20 rounds of mixed operations
// (creates that start, starts, stops, destroys) on real containers, each
// round cut by SIGKILL of `ctpanel serve` at a random moment and followed
// by a restart. Afterwards: no operation stuck, every create succeeded
// (an interrupted create is re-run from a clean slate), every row has its
// container and every container and folder its row, panel and liblxc
// agree on states, and none of the panel's helper processes outlived it.
func TestKill9Rounds(t *testing.T) {
	lxcpath := requireLXC(t)
	rounds := 20
	if n, err := strconv.Atoi(os.Getenv("CTPANEL_KILL9_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	s := newServeProc(t, lxcpath, "ctpanel-kill9-")
	seed := time.Now().UnixNano()
	t.Logf("kill delays drawn from seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))

	var logs strings.Builder // every run's log, printed when the test fails
	t.Cleanup(func() {
		if t.Failed() && s.log != nil {
			t.Logf("panel logs:\n%s%s", logs.String(), s.log)
		}
	})
	creates := map[int]string{} // ctid -> its create operation
	live := []int{}             // containers made (or being made)
	next := 301
	for round := range rounds {
		s.start()
		// Settle what the last round left: every create issued so far
		// must succeed, re-run if it was cut.
		for _, ctid := range live {
			if loc, ok := creates[ctid]; ok {
				if op := s.waitOp(loc); op["status"] != "succeeded" {
					t.Fatalf("round %d: create of %d %v\n%s", round, ctid, op, s.log)
				}
				delete(creates, ctid)
			}
		}
		// This round's mix, not waited for.
		issue := func(method, path string, body any) {
			code, m := s.call(method, path, body)
			if code != 202 && code != 409 {
				t.Fatalf("round %d: %s %s: %d %v", round, method, path, code, m)
			}
			if code == 202 && method == "POST" && path == "/api/v1/containers" {
				creates[body.(map[string]any)["ctid"].(int)] = m["_location"].(string)
			}
		}
		for range 2 {
			issue("POST", "/api/v1/containers", map[string]any{"ctid": next, "template": "busybox", "start": rng.IntN(2) == 0})
			live = append(live, next)
			next++
		}
		if len(live) > 4 {
			victim := live[0]
			live = live[1:]
			issue("DELETE", "/api/v1/containers/"+strconv.Itoa(victim)+"?force=true", nil)
		}
		if len(live) > 2 {
			ct := strconv.Itoa(live[rng.IntN(len(live)-2)])
			if rng.IntN(2) == 0 {
				issue("POST", "/api/v1/containers/"+ct+"/start", nil)
			} else {
				issue("POST", "/api/v1/containers/"+ct+"/stop", nil)
			}
		}
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		s.kill()
		fmt.Fprintf(&logs, "---- round %d killed\n%s", round, s.log)
		// A helper in an uninterruptible disk wait on a busy machine may
		// take a while to act on its death signal; it must still die.
		deadline := time.Now().Add(20 * time.Second)
		for left := panelProcesses(lxcpath); len(left) > 0; left = panelProcesses(lxcpath) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the killed panel's processes live on: %v", round, left)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	s.start()
	for ctid, loc := range creates {
		if op := s.waitOp(loc); op["status"] != "succeeded" {
			t.Fatalf("create of %d after the last kill: %v\n%s", ctid, op, s.log)
		}
	}
	// Every operation still going (destroys of the last round) ends.
	_, list := s.call("GET", "/api/v1/containers", nil)
	for _, c := range list["containers"].([]any) {
		ref := fmt.Sprint(c.(map[string]any)["ctid"])
		code, ops := s.call("GET", "/api/v1/containers/"+ref+"/operations", nil)
		if code == 404 {
			continue // destroyed meanwhile
		}
		for _, o := range ops["operations"].([]any) {
			op := o.(map[string]any)
			if st := op["status"]; st == "pending" || st == "running" {
				if done := s.waitOp("/api/v1/operations/" + op["id"].(string)); done["status"] == "pending" || done["status"] == "running" {
					t.Fatalf("operation stuck on %s: %v", ref, done)
				}
			}
		}
	}
	_, list = s.call("GET", "/api/v1/containers", nil)
	rows := map[string]string{}
	for _, c := range list["containers"].([]any) {
		ct := c.(map[string]any)
		rows[fmt.Sprint(ct["ctid"])] = fmt.Sprint(ct["status"])
	}
	names := lxcNames(t, lxcpath)
	for ref, st := range rows {
		if !slices.Contains(names, ref) {
			t.Errorf("row %s (%s) has no container in liblxc", ref, st)
		} else if got := lxcState(t, lxcpath, ref); got != st {
			t.Errorf("%s: panel %s, lxc-info %s", ref, st, got)
		}
	}
	for _, n := range names {
		if _, ok := rows[n]; !ok {
			t.Errorf("liblxc has %s, which no row accounts for", n)
		}
	}
	entries, _ := os.ReadDir(lxcpath)
	for _, e := range entries {
		if _, ok := rows[e.Name()]; !ok && !strings.HasPrefix(e.Name(), ".") {
			t.Errorf("folder %s in the lxcpath has no row", e.Name())
		}
	}
	if len(rows) != len(live) {
		t.Errorf("%d rows, want the %d containers made and not destroyed: %v", len(rows), len(live), rows)
	}
	for ref := range rows {
		s.mustRun("DELETE", "/api/v1/containers/"+ref+"?force=true", nil)
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("serve exit: %v\n%s", err, s.log)
	}
	if left := panelProcesses(lxcpath); len(left) > 0 {
		t.Errorf("left running after the panel stopped: %v", left)
	}
}
