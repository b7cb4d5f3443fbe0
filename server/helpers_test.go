package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/db/dbtest"
	"github.com/ctpanel/ctpanel/hostnet"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// testPanel is a ctpanel on a fresh database, served by httptest.
type testPanel struct {
	t     testing.TB
	app   *App
	srv   *httptest.Server
	admin string
}

var netNameSeq atomic.Int64

// testNetTag tags the host interfaces and nft table of one test panel:
// panels in one test process, and test processes beside each other,
// never take each other's for strays.
func testNetTag() string {
	return strconv.FormatInt(int64(os.Getpid()%1296), 36) + strconv.FormatInt(netNameSeq.Add(1)%1296, 36)
}

func testNetNames() hostnet.Names { return hostnet.TaggedNames(testNetTag()) }

// removeTestNetwork removes what a test panel left of its host network.
func removeTestNetwork(t testing.TB, names hostnet.Names) {
	plane, err := hostnet.New(names)
	if err == nil {
		err = plane.Sync(context.Background(), nil)
	}
	if err != nil {
		t.Errorf("remove the test panel's host network: %v", err)
	}
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("CTPANEL_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func newTestPanel(t testing.TB, drv lxcdriver.Driver, lxcPath string) *testPanel {
	t.Helper()
	return newTestPanelWith(t, drv, lxcPath, nil)
}

// newTestPanelWith is newTestPanel with the configuration changed by
// change (nil: none).
func newTestPanelWith(t testing.TB, drv lxcdriver.Driver, lxcPath string, change func(*Config)) *testPanel {
	t.Helper()
	cfg := Config{DatabaseURL: dbtest.URL(t), DataDir: t.TempDir(), LXCPath: lxcPath, LogLevel: "warn", Listen: "127.0.0.1:0",
		NetNames: testNetNames(), TrafficInterval: time.Second,
		// The tests' webhook receivers listen on loopback.
		WebhookAllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if change != nil {
		change(&cfg)
	}
	app, err := Open(context.Background(), cfg, testLogger(), drv)
	if err != nil {
		t.Fatalf("open panel: %v", err)
	}
	p := &testPanel{t: t, app: app}
	t.Cleanup(func() {
		if p.srv != nil {
			p.srv.Close()
		}
		p.app.Close()
		if _, real := p.app.Drv.(*liblxc.Driver); real {
			removeTestNetwork(t, cfg.NetNames)
		}
	})
	p.srv = httptest.NewServer(validateAgainstOpenAPI(t, app.Handler()))
	p.admin = p.token(db.RoleAdmin, nil)
	return p
}

// restart stops the panel and starts it again on the same database, data
// dir and driver, as after a crash that left the database as it is: the
// new panel's start-up reconciliation sees what the old one left.
func (p *testPanel) restart() {
	p.t.Helper()
	p.srv.Close()
	p.app.Close()
	app, err := Open(context.Background(), p.app.Cfg, testLogger(), p.app.Drv)
	if err != nil {
		p.t.Fatalf("reopen panel: %v", err)
	}
	p.app, p.srv = app, httptest.NewServer(validateAgainstOpenAPI(p.t, app.Handler()))
}

func (p *testPanel) token(role string, userID *int64) string {
	p.t.Helper()
	_, secret, err := p.app.Store.CreateToken(context.Background(), role+"-test", role, userID, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return secret
}

// customer makes a customer user and a token acting as them.
func (p *testPanel) customer(name string) (db.User, string) {
	p.t.Helper()
	u, err := p.app.Store.CreateUser(context.Background(), name, name+"@example.com", db.RoleCustomer)
	if err != nil {
		p.t.Fatal(err)
	}
	return u, p.token(db.RoleCustomer, &u.ID)
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// errorField returns error.fields[field] of an error response.
func (r response) errorField(t testing.TB, field string) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	if e == nil {
		t.Fatalf("no error envelope: %s", r.Body)
	}
	fields, _ := e["fields"].(map[string]any)
	s, _ := fields[field].(string)
	return s
}

// do sends a request to the panel; the panel's handler checks it and its
// answer against the OpenAPI document (see validateAgainstOpenAPI).
func (p *testPanel) do(token, method, path string, body any) response {
	p.t.Helper()
	return p.doWith(nil, token, method, path, body)
}

// doWith is do with extra request headers.
func (p *testPanel) doWith(hdr http.Header, token, method, path string, body any) response {
	p.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			p.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, p.srv.URL+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Body: raw}
}

// expect fails unless the response has the status.
func (p *testPanel) expect(r response, status int) response {
	p.t.Helper()
	if r.Status != status {
		p.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	return r
}

// run sends a request that answers 202 with an operation and waits for it
// to finish; it returns the finished operation.
func (p *testPanel) run(token, method, path string, body any) map[string]any {
	p.t.Helper()
	r := p.expect(p.do(token, method, path, body), http.StatusAccepted)
	loc := r.Header.Get("Location")
	if loc == "" {
		p.t.Fatalf("202 without Location: %s", r.Body)
	}
	return p.finished(token, loc)
}

// finished waits for the operation at loc to finish and returns it.
func (p *testPanel) finished(token, loc string) map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		op := p.expect(p.do(token, "GET", loc+"/wait?timeout=30", nil), http.StatusOK).json(p.t)
		if op["status"] == db.OpSucceeded || op["status"] == db.OpFailed {
			return op
		}
	}
	p.t.Fatalf("operation %s did not finish", loc)
	return nil
}

// ok is run that requires the operation to succeed.
func (p *testPanel) ok(token, method, path string, body any) map[string]any {
	p.t.Helper()
	op := p.run(token, method, path, body)
	if op["status"] != db.OpSucceeded {
		p.t.Fatalf("%s %s: operation %v: %v", method, path, op["status"], op["error"])
	}
	return op
}

func (p *testPanel) containerCount() int {
	p.t.Helper()
	var n int
	if err := p.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM containers`).Scan(&n); err != nil {
		p.t.Fatal(err)
	}
	return n
}
