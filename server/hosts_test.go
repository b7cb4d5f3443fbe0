package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/handlers/auth"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// hostRequest sends a request with the Host header set to host.
func hostRequest(t *testing.T, srv *httptest.Server, host, token, method, path string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// TestHostHeaderAndOrigin (hardening point 17): a DNS name the panel was
// not configured for is refused (DNS rebinding), password links are built
// from the configured public URL and not the request's Host, and a
// websocket's Origin must match a public URL's scheme as well as its host.
func TestHostHeaderAndOrigin(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	billing := p.token(db.RoleBilling, nil)
	// 421 is the router's answer to any path, outside the OpenAPI
	// document's operations: no validating wrapper here.
	plain := httptest.NewServer(p.app.Handler())
	t.Cleanup(plain.Close)
	local := strings.TrimPrefix(plain.URL, "http://")

	// Not configured: IP addresses and localhost only.
	for host, want := range map[string]int{
		local:                      http.StatusOK,
		"localhost:8080":           http.StatusOK,
		"198.18.0.5:8080":          http.StatusOK,
		"[2001:db8::5]:8080":       http.StatusOK,
		"evil.example":             http.StatusMisdirectedRequest,
		"rebind.evil.example:8080": http.StatusMisdirectedRequest,
	} {
		if res := hostRequest(t, plain, host, "", "GET", "/healthz", ""); res.StatusCode != want {
			t.Errorf("Host %s: /healthz %d, want %d", host, res.StatusCode, want)
		}
	}
	if res := hostRequest(t, plain, "evil.example", p.admin, "GET", "/api/v1/containers", ""); res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("Host evil.example with a valid token: %d, want 421", res.StatusCode)
	}

	// A websocket Origin of the right host and the wrong scheme.
	wsURL := "ws" + strings.TrimPrefix(plain.URL, "http") + "/api/v1/events/ws"
	hdr := func(origin string) http.Header {
		return http.Header{"Authorization": {"Bearer " + p.admin}, "Origin": {origin}}
	}
	if _, res, err := websocket.DefaultDialer.Dial(wsURL, hdr("https://"+local)); err == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("Origin https:// on an http panel: %v %v, want 403", err, res)
	}
	if c, res, err := websocket.DefaultDialer.Dial(wsURL, hdr(plain.URL)); err != nil {
		t.Errorf("the panel's own origin: %v %v", err, res)
	} else {
		c.Close()
	}

	// Configured: its hosts and loopback only; links start with the
	// first public URL whatever the request's Host was.
	origins, err := auth.ParseOrigins([]string{"https://panel.example.com", "http://panel.internal:8080"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.app.API.Origins, p.app.UI.Origins = origins, origins
	srv := httptest.NewServer(p.app.Handler())
	t.Cleanup(srv.Close)
	for host, want := range map[string]int{
		"panel.example.com":      http.StatusOK,
		"panel.example.com:443":  http.StatusOK,
		"PANEL.example.com":      http.StatusOK,
		"panel.internal:8080":    http.StatusOK,
		"panel.internal":         http.StatusMisdirectedRequest,
		"panel.example.com:8443": http.StatusMisdirectedRequest,
		"198.18.0.5:8080":        http.StatusMisdirectedRequest,
		"127.0.0.1:9":            http.StatusOK,
		"evil.example":           http.StatusMisdirectedRequest,
	} {
		if res := hostRequest(t, srv, host, "", "GET", "/healthz", ""); res.StatusCode != want {
			t.Errorf("configured, Host %s: /healthz %d, want %d", host, res.StatusCode, want)
		}
	}
	res := hostRequest(t, srv, "127.0.0.1:9", billing, "POST", "/api/v1/customers", `{"username":"acme"}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create customer: %d", res.StatusCode)
	}
	c := decodeBody(t, res)
	res = hostRequest(t, srv, "127.0.0.1:9", billing, "POST", "/api/v1/customers/"+jsonNum(c["id"])+"/password-link", "")
	link := decodeBody(t, res)
	if u, _ := link["url"].(string); !strings.HasPrefix(u, "https://panel.example.com/set-password") {
		t.Errorf("password link %q, want it on the first public URL", u)
	}
	wsURL = "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/events/ws"
	for origin, ok := range map[string]bool{
		"https://panel.example.com":   true,
		"http://panel.example.com":    false,
		"http://panel.internal:8080":  true,
		"https://panel.internal:8080": false,
		"https://evil.example":        false,
		srv.URL:                       false, // no longer the panel's own
	} {
		c, res, err := websocket.DefaultDialer.Dial(wsURL, hdr(origin))
		if ok && err != nil {
			t.Errorf("configured, Origin %s: %v %v", origin, err, res)
		}
		if !ok && (err == nil || res.StatusCode != http.StatusForbidden) {
			t.Errorf("configured, Origin %s: %v %v, want 403", origin, err, res)
		}
		if c != nil {
			c.Close()
		}
	}
	if _, err := auth.ParseOrigins([]string{"panel.example.com"}, nil); err == nil {
		t.Error("a public URL without a scheme was taken")
	}
	if _, err := auth.ParseOrigins([]string{"https://panel.example.com/panel"}, nil); err == nil {
		t.Error("a public URL with a path was taken")
	}
}

func decodeBody(t *testing.T, res *http.Response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatalf("decode %d answer: %v", res.StatusCode, err)
	}
	return m
}
