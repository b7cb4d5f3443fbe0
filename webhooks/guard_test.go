package webhooks

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestDeliveriesConnectOnlyWhereAllowed: the delivery client refuses to
// connect to a loopback address, whatever the URL's name resolved to,
// unless the network is allowed.
func TestDeliveriesConnectOnlyWhereAllowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, err := Guard{}.Client().Get(srv.URL)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("a delivery to loopback: %v, want ErrForbiddenAddress", err)
	}
	res, err := Guard{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}.Client().Get(srv.URL)
	if err != nil {
		t.Fatalf("a delivery to an allowed network: %v", err)
	}
	res.Body.Close()
}
