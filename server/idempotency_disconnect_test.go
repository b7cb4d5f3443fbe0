package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/handlers/auth"
)

// TestIdempotencyKeyOutlivesADisconnect: a client that goes away while its
// request is being carried out gets, on retry, the stored answer of what
// was done, not a second run (nor "in progress" for minutes).
func TestIdempotencyKeyOutlivesADisconnect(t *testing.T) {
	p := newTestPanel(t, nil, "")
	ctx := context.Background()
	principal, err := p.app.Store.LookupToken(ctx, p.admin)
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	hangUp := func() {}
	h := p.app.API.Idempotency(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs++
		hangUp() // the client goes away while the request is carried out
		w.Header().Set("Location", "/api/v1/operations/x")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"id":"x"}`))
	}))
	send := func(cancelled bool) *httptest.ResponseRecorder {
		rctx, cancel := context.WithCancel(auth.WithPrincipal(ctx, principal))
		req := httptest.NewRequestWithContext(rctx, http.MethodPost, "/api/v1/containers", strings.NewReader(`{"template":"busybox"}`))
		req.Header.Set("Idempotency-Key", "order-1")
		hangUp = func() {}
		if cancelled {
			hangUp = cancel
		}
		defer cancel()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	send(true)
	again := send(false)
	if runs != 1 {
		t.Fatalf("the request ran %d times, want once", runs)
	}
	if again.Code != http.StatusAccepted || again.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the retry: %d replayed=%q %s, want the stored 202", again.Code, again.Header().Get("Idempotent-Replayed"), again.Body)
	}
}
