package server

import (
	"strconv"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

func TestDiskspaceValidation(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox"})
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 102, "template": "busybox", "diskspace": "64M"})
	for _, tc := range []struct{ ref, body, field string }{
		{"101", `{"diskspace":"1G"}`, "diskspace"}, // created without a disk
		{"102", `{"diskspace":"unlimited"}`, "diskspace"},
		{"102", `{"diskspace":"1M"}`, "diskspace"},
		{"102", `{"diskspace":"20T"}`, "diskspace"},
		{"102", `{"diskinodes":"100000"}`, "diskinodes"},
	} {
		r := p.expect(p.doMalformed(p.admin, "PATCH", "/api/v1/containers/"+tc.ref+"/limits", tc.body), 422)
		if r.errorField(t, tc.field) == "" {
			t.Fatalf("%s on %s: %s", tc.body, tc.ref, r.Body)
		}
	}
	p.expect(p.do(p.admin, "POST", "/api/v1/containers", map[string]any{"template": "busybox", "diskspace": "lots"}), 422)
	p.expect(p.do(p.admin, "POST", "/api/v1/containers/102/clone", map[string]any{"snapshot": true}), 422)
}

// TestRealDiskspace: a container on a 64M disk of its own sees 64M in df,
// cannot write past it, and grows to 128M by a limits change while stopped.
func TestRealDiskspace(t *testing.T) {
	lxcpath := requireLXC(t)
	p := newTestPanel(t, nil, lxcpath)
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 160, "template": "busybox", "diskspace": "64M", "start": true})
	dfSize := func() int {
		t.Helper()
		ex := p.expect(p.do(p.admin, "POST", "/api/v1/containers/160/exec", map[string]any{"command": []string{"sh", "-c", "df -k / | tail -1"}}), 200).json(t)
		f := strings.Fields(ex["stdout"].(string))
		if len(f) < 2 {
			t.Fatalf("df: %v", ex)
		}
		n, _ := strconv.Atoi(f[1])
		return n
	}
	near := func(got, want int) bool { return got > want*99/100 && got <= want }
	if got := dfSize(); !near(got, 65536) {
		t.Fatalf("df inside shows %d 1K blocks, want about 65536", got)
	}
	rows := beancounters(t, p, "160")
	if !near(int(rows["diskspace"]["limit"]), 65536) || rows["diskinodes"]["limit"] == 0 {
		t.Fatalf("disk rows %v %v", rows["diskspace"], rows["diskinodes"])
	}
	ex := p.expect(p.do(p.admin, "POST", "/api/v1/containers/160/exec", map[string]any{"command": []string{"sh", "-c", "dd if=/dev/zero of=/big bs=1M count=100; rc=$?; rm -f /big; exit $rc"}}), 200).json(t)
	if ex["exit_code"] == float64(0) || !strings.Contains(ex["stderr"].(string), "No space left") {
		t.Fatalf("100M written to a 64M disk: %v", ex)
	}
	p.ok(p.admin, "POST", "/api/v1/containers/160/stop", nil)
	p.ok(p.admin, "PATCH", "/api/v1/containers/160/limits", map[string]any{"diskspace": "128M"})
	p.ok(p.admin, "POST", "/api/v1/containers/160/start", nil)
	if got := dfSize(); !near(got, 131072) {
		t.Fatalf("after the resize df shows %d 1K blocks, want about 131072", got)
	}
	p.ok(p.admin, "DELETE", "/api/v1/containers/160?force=true", nil)
}
