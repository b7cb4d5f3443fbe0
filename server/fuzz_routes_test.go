package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// routeParam is a {param} of a chi route pattern.
var routeParam = regexp.MustCompile(`\{[^}]+\}`)

// fuzzBodies are the JSON string fields each route reads, to carry the
// fuzzed text into the domain layer and the store.
var fuzzBodies = map[string][]string{
	"POST /api/v1/containers":                      {"name", "hostname", "template", "owner", "plan", "description", "root_password", "diskspace"},
	"PATCH /api/v1/containers/{ref}":               {"hostname", "description", "plan"},
	"POST /api/v1/containers/{ref}/clone":          {"name", "hostname"},
	"POST /api/v1/containers/{ref}/reinstall":      {"template", "root_password"},
	"POST /api/v1/containers/{ref}/change-plan":    {"plan"},
	"POST /api/v1/containers/{ref}/suspend":        {"mode", "reason"},
	"POST /api/v1/containers/{ref}/reset-password": {"root_password"},
	"POST /api/v1/customers":                       {"username", "external_id", "email", "name", "password"},
	"PATCH /api/v1/customers/{id}":                 {"email", "name", "external_id", "password"},
	"POST /api/v1/plans":                           {"name", "description"},
	"PATCH /api/v1/plans/{name}":                   {"description"},
	"PATCH /api/v1/templates/{name}":               {"description"},
	"POST /api/v1/tokens":                          {"name", "role", "user", "expires_in"},
	"POST /api/v1/webhooks":                        {"url", "secret"},
	"POST /api/v1/beancounters/snapshots":          {"label"},
}

// FuzzAPIRoutes sends every route of the API the fuzzed text in each of
// its path parameters, a query parameter and the string fields it reads,
// as staff, and fails on any 5xx: hostile input is the client's mistake,
// answered with a 4xx. `go test` runs the seeds below and those kept in
// testdata/fuzz/FuzzAPIRoutes; `go test -fuzz FuzzAPIRoutes ./server/`
// looks for more.
func FuzzAPIRoutes(f *testing.F) {
	for _, seed := range []string{"101", "web1", "\x00", "a\x00b", "\t", "\r\n", "..", "../../etc/passwd", "%00",
		"-1", "99999999999999999999", "ünïcode", "' OR 1=1 --", strings.Repeat("x", 5000), "", " ", "\u202e", "\xff\xfe"} {
		f.Add(seed)
	}
	p := newTestPanel(f, lxcdriver.NewFake(), "")
	// Something to find: a container, a plan, a customer.
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "name": "web1"})
	h := p.app.Handler()
	type route struct{ method, pattern string }
	var routes []route
	err := chi.Walk(Router(p.app.API, p.app.UI), func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(pattern, "/api/v1/") && !strings.HasSuffix(pattern, "/ws") &&
			!strings.HasSuffix(pattern, "/console") && !strings.HasSuffix(pattern, "/shell") {
			routes = append(routes, route{method, strings.TrimSuffix(pattern, "/")})
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, rt := range routes {
			path := routeParam.ReplaceAllStringFunc(rt.pattern, func(string) string { return url.PathEscape(s) })
			body := "{}"
			if fields := fuzzBodies[rt.method+" "+rt.pattern]; fields != nil {
				m := map[string]string{}
				for _, k := range fields {
					m[k] = s
				}
				b, _ := json.Marshal(m)
				body = string(b)
			}
			ctx, cancel := context.WithCancel(context.Background())
			req := httptest.NewRequestWithContext(ctx, rt.method, path+"?timeout=1&external_id="+url.QueryEscape(s), strings.NewReader(body))
			req.Host = "127.0.0.1" // httptest's example.com is not the panel's
			req.Header.Set("Authorization", "Bearer "+p.admin)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			cancel()
			if rec.Code == http.StatusMisdirectedRequest {
				t.Fatalf("%s %s: 421: the request never reached the route", rt.method, rt.pattern)
			}
			if rec.Code >= 500 {
				t.Errorf("%s %s with %q: %d %s", rt.method, rt.pattern, s, rec.Code, strings.TrimSpace(rec.Body.String()))
			}
		}
	})
}
