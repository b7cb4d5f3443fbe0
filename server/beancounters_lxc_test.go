package server

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestRealBeancounters is the beancounter issue's acceptance on real
// containers: refused forks and refused memory show as failcnt through
// REST, the text layout, failstat, faildiff and the websocket, and limits
// change live (read back from the cgroup files) and survive stop/start.
func TestRealBeancounters(t *testing.T) {
	lxcpath := requireLXC(t)
	p := newTestPanel(t, nil, lxcpath)
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true})
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 102, "template": "busybox", "start": true})
	snap := p.expect(p.do(p.admin, "POST", "/api/v1/beancounters/snapshots", nil), http.StatusCreated).json(t)

	wsURL := "ws" + strings.TrimPrefix(p.srv.URL, "http") + "/api/v1/containers/101/stats/ws?interval=200"
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Authorization": {"Bearer " + p.admin}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()

	// numproc 10, then 20 forks.
	p.ok(p.admin, "PATCH", "/api/v1/containers/101/limits", map[string]any{"numproc": "10"})
	if got := readCgroup(t, "pids", "101", "pids.max"); got != "10" {
		t.Fatalf("pids.max = %q after a live change", got)
	}
	p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/exec", map[string]any{"command": []string{"sh", "-c",
		"i=0; while [ $i -lt 20 ]; do sleep 30 >/dev/null 2>&1 & i=$((i+1)); done; exit 0"}}), 200)
	rows := beancounters(t, p, "101")
	if rows["numproc"]["failcnt"] == 0 || rows["numproc"]["held"] > 10 || rows["numproc"]["limit"] != 10 {
		t.Fatalf("numproc after 20 forks under 10: %v", rows["numproc"])
	}

	// physpages 8M, then 50M into a tmpfs (charged to the memory cgroup).
	p.ok(p.admin, "PATCH", "/api/v1/containers/102/limits", map[string]any{"physpages": "8M:8M"})
	if got := readCgroup(t, "memory", "102", "memory.limit_in_bytes"); got != "8388608" {
		t.Fatalf("memory.limit_in_bytes = %q after a live change", got)
	}
	res := p.expect(p.do(p.admin, "POST", "/api/v1/containers/102/exec", map[string]any{"command": []string{"sh", "-c",
		"echo 1000 > /proc/self/oom_score_adj; dd if=/dev/zero of=/dev/shm/fill bs=1M count=50"}}), 200).json(t)
	if res["exit_code"] == float64(0) {
		t.Fatalf("50M fitted under 8M: %v", res)
	}
	rows = beancounters(t, p, "102")
	if rows["physpages"]["failcnt"] == 0 || rows["physpages"]["limit"] != 2048 {
		t.Fatalf("physpages after 50M under 8M: %v", rows["physpages"])
	}
	if rows["oom"]["failcnt"] == 0 {
		t.Fatalf("the oom row did not count the kill of the 50M writer: %v", rows["oom"])
	}
	t.Logf("physpages %v; oom %v", rows["physpages"], rows["oom"])

	// The text layout, failstat and faildiff all show both.
	text := string(p.expect(p.do(p.admin, "GET", "/api/v1/beancounters?format=text", nil), 200).Body)
	if !strings.Contains(text, "      101:  numproc") || !strings.Contains(text, "            physpages") {
		t.Fatalf("text:\n%s", text)
	}
	fails := map[string]bool{}
	for _, f := range p.expect(p.do(p.admin, "GET", "/api/v1/beancounters/failstat", nil), 200).json(t)["failstat"].([]any) {
		m := f.(map[string]any)
		fails[jsonNum(m["ctid"])+"/"+m["resource"].(string)] = true
	}
	if !fails["101/numproc"] || !fails["102/physpages"] {
		t.Fatalf("failstat %v", fails)
	}
	diff := string(p.expect(p.do(p.admin, "GET", "/api/v1/beancounters/faildiff?format=text&since="+jsonNum(snap["id"]), nil), 200).Body)
	if !strings.Contains(diff, "       101  numproc                         0") || !strings.Contains(diff, "       102  physpages                       0") {
		t.Fatalf("faildiff:\n%s", diff)
	}
	// The websocket pushes the grown failcnt.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var m struct {
			Type string `json:"type"`
			Rows []struct {
				Resource string `json:"resource"`
				FailCnt  uint64 `json:"failcnt"`
			} `json:"beancounters"`
		}
		_ = ws.SetReadDeadline(deadline)
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("websocket never showed numproc failcnt: %v", err)
		}
		seen := false
		for _, r := range m.Rows {
			if r.Resource == "numproc" && r.FailCnt > 0 {
				seen = true
			}
		}
		if seen {
			break
		}
	}

	// Limits survive stop/start; the failcnt ctpanel keeps survives too.
	before := beancounters(t, p, "101")["numproc"]["failcnt"]
	p.ok(p.admin, "POST", "/api/v1/containers/101/stop", nil)
	p.ok(p.admin, "POST", "/api/v1/containers/101/start", nil)
	if got := readCgroup(t, "pids", "101", "pids.max"); got != "10" {
		t.Fatalf("pids.max = %q after stop/start", got)
	}
	rows = beancounters(t, p, "101")
	if rows["numproc"]["limit"] != 10 || rows["numproc"]["failcnt"] < before || rows["numproc"]["failcnt_since_start"] != 0 {
		t.Fatalf("numproc after stop/start: %v (failcnt before %v)", rows["numproc"], before)
	}
	p.ok(p.admin, "DELETE", "/api/v1/containers/101?force=true", nil)
	p.ok(p.admin, "DELETE", "/api/v1/containers/102?force=true", nil)
}

// readCgroup reads a container's cgroup file by its v1 name; on a cgroup
// v2 host the unified hierarchy's file of the same meaning is read.
func readCgroup(t *testing.T, controller, ctid, file string) string {
	t.Helper()
	path := "/sys/fs/cgroup/" + controller + "/lxc.payload." + ctid + "/" + file
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		v2 := map[string]string{"memory.limit_in_bytes": "memory.max"}
		if f, ok := v2[file]; ok {
			file = f
		}
		path = "/sys/fs/cgroup/lxc.payload." + ctid + "/" + file
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read cgroup: %v", err)
	}
	return strings.TrimSpace(string(raw))
}
