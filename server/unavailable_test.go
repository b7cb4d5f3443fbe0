package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain/services"
	"github.com/ctpanel/ctpanel/handlers/api"
	"github.com/ctpanel/ctpanel/handlers/auth"
	"github.com/ctpanel/ctpanel/handlers/pages"
	"github.com/ctpanel/ctpanel/web"
)

// TestDatabaseUnreachableIs503: while the database cannot be reached, the
// API answers 503 with Retry-After and the pages a 503 page, not a 500.
func TestDatabaseUnreachableIs503(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://ctpanel@127.0.0.1:1/none?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := db.New(pool)
	log := slog.New(slog.DiscardHandler)
	set := services.New(services.Deps{Store: store, Log: log})
	sessions := &auth.Sessions{Store: store, Log: log}
	a := &api.API{Set: set, Store: store, Log: log, Sessions: sessions}
	ui := pages.MustNewUI(pages.UI{Set: set, Store: store, Log: log, Sessions: sessions}, web.FS)
	srv := httptest.NewServer(Router(a, ui))
	defer srv.Close()
	get := func(path string, header ...string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := get("/api/v1/containers", "Authorization", "Bearer ctp_whatever")
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"unavailable"`) {
		t.Fatalf("API with the database down: %d Retry-After %q %s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	res = get("/", "Cookie", auth.SessionCookie+"=abc")
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a page with the database down: %d", res.StatusCode)
	}
	res = get("/healthz")
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "unreachable") {
		t.Fatalf("/healthz with the database down: %d %s", res.StatusCode, body)
	}
}
