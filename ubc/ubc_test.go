package ubc

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

var host = Host{MemBytes: 8 << 30, SwapBytes: 0, PidMax: 32768, CPUs: 2}

func parse(t *testing.T, body string) (Spec, Errors) {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	return Parse(raw, host)
}

func TestParseAcceptsVzctlForms(t *testing.T) {
	s, errs := parse(t, `{"numproc":"200:200","physpages":"512M:1G","swappages":"256M","cpuunits":1000,"cpulimit":50,"kmemsize":"14372700:14790164","tcpsndbuf":"unlimited"}`)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if *s.NumProc != (Pair{200, 200}) {
		t.Errorf("numproc %v", *s.NumProc)
	}
	if *s.PhysPages != (Pair{131072, 262144}) {
		t.Errorf("physpages %v", *s.PhysPages)
	}
	if *s.SwapPages != (Pair{65536, 65536}) {
		t.Errorf("swappages %v", *s.SwapPages)
	}
	if *s.KmemSize != (Pair{14372700, 14790164}) || *s.CPUUnits != 1000 || *s.CPULimit != 50 {
		t.Errorf("spec %+v", s)
	}
	if s.TCPSndBuf.Limit != Unlimited {
		t.Errorf("tcpsndbuf %v", *s.TCPSndBuf)
	}
	// Plain numbers are pages for *pages, and a JSON number works too.
	s, errs = parse(t, `{"privvmpages":"72000:80000","numproc":64}`)
	if len(errs) != 0 || *s.PhysPages != (Pair{72000, 80000}) || *s.NumProc != (Pair{64, 64}) {
		t.Fatalf("alias: %+v %v", s, errs)
	}
	l := s.ToDriver()
	if *l.MemHard != 80000*PageSize || *l.MemSoft != 72000*PageSize || *l.NumProc != 64 {
		t.Fatalf("driver limits %+v", l)
	}
}

func TestParseRejectsBadValues(t *testing.T) {
	for _, tc := range []struct{ body, field, reason string }{
		{`{"numproc":"200:100"}`, "numproc", "barrier must not exceed limit"},
		{`{"numproc":"100:200"}`, "numproc", "barrier must equal limit"},
		{`{"numproc":"-5"}`, "numproc", "negative"},
		{`{"numproc":"10K"}`, "numproc", "suffix"},
		{`{"numproc":0}`, "numproc", "at least 1"},
		{`{"numproc":"99999999"}`, "numproc", "pid_max"},
		{`{"physpages":"2G:1G"}`, "physpages", "barrier must not exceed limit"},
		{`{"physpages":"64T"}`, "physpages", "host's memory"},
		{`{"physpages":"100"}`, "physpages", "at least 1M"},
		{`{"physpages":"abc"}`, "physpages", "not a number"},
		{`{"physpages":"1:2:3"}`, "physpages", "barrier:limit"},
		{`{"physpages":true}`, "physpages", "must be a string"},
		{`{"physpages":"99999999999999999999"}`, "physpages", "not a number"},
		{`{"swappages":"64G"}`, "swappages", "memory and swap"},
		{`{"kmemsize":"16G"}`, "kmemsize", "host's memory"},
		{`{"cpuunits":1}`, "cpuunits", "8 to 500000"},
		{`{"cpulimit":500}`, "cpulimit", "0 (no cap) to 200"},
		{`{"cpulimit":-1}`, "cpulimit", "negative"},
		{`{"tcprcvbuf":"1M"}`, "tcprcvbuf", "tcpsndbuf"},
		{`{"diskquota":"1G"}`, "diskquota", "unknown resource"},
		{`{"physpages":"1G","privvmpages":"1G"}`, "privvmpages", "give one"},
	} {
		_, errs := parse(t, tc.body)
		if !strings.Contains(errs[tc.field], tc.reason) {
			t.Errorf("%s: errors %v, want %s: ...%s...", tc.body, errs, tc.field, tc.reason)
		}
	}
}

func TestWriteTextMatchesProcLayout(t *testing.T) {
	var b strings.Builder
	err := WriteText(&b, []Table{{CTID: 1641, Rows: []lxcdriver.Counter{
		{Resource: "kmemsize", Held: 2334950, MaxHeld: 9377223, Barrier: 14372700, Limit: 14790164},
		{Resource: "numproc", Held: 16, MaxHeld: 38, Barrier: 240, Limit: 240},
		{Resource: "tcpsndbuf", Held: 159272, MaxHeld: 1722464, Barrier: 1720320, Limit: 2703360, FailCnt: 81847},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	want := "Version: 2.5\n" +
		"       uid  resource                     held              maxheld              barrier                limit              failcnt\n" +
		"     1641:  kmemsize                  2334950              9377223             14372700             14790164                    0\n" +
		"            numproc                        16                   38                  240                  240                    0\n" +
		"            tcpsndbuf                  159272              1722464              1720320              2703360                81847\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestFailStatAndDiff(t *testing.T) {
	old := map[int]map[string]uint64{101: {"numproc": 3}, 102: {"physpages": 7}}
	cur := map[int]map[string]uint64{101: {"numproc": 5, "oom": 0}, 102: {"physpages": 7}, 103: {"cpu": 2}}
	stat := FailStat(cur)
	if len(stat) != 3 || stat[0].CTID != 101 || stat[2].Resource != "cpu" {
		t.Fatalf("failstat %+v", stat)
	}
	diff := FailDiff(old, cur)
	if len(diff) != 2 || diff[0] != (Fail{CTID: 101, Resource: "numproc", Old: 3, New: 5, Delta: 2}) || diff[1].Delta != 2 {
		t.Fatalf("faildiff %+v", diff)
	}
}
