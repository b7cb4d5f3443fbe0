package webhooks_test

import (
	"context"
	"net/http"
	"net/netip"
	"testing"

	"github.com/ctpanel/ctpanel/db/dbtest"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/domaintest"
	"github.com/ctpanel/ctpanel/domain/webhooks"
	hooks "github.com/ctpanel/ctpanel/webhooks"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestWebhooksStayOffInternalNetworks: a webhook may not point at the
// panel's host or an internal network unless the configuration allows it.
func TestWebhooksStayOffInternalNetworks(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	staff := domaintest.Staff()
	for _, u := range []string{"http://127.0.0.1:8080/hook", "http://[::1]/hook", "http://169.254.169.254/latest/meta-data",
		"http://10.0.0.5/hook", "http://192.168.1.1/", "http://100.64.0.1/", "http://localhost:9/", "http://0.0.0.0/",
		"http://[::ffff:127.0.0.1]/"} {
		_, _, err := e.Webhooks.Create(ctx, staff, webhooks.NewWebhook{URL: u, Events: []string{"container.created"}})
		if de := domain.AsError(err); de == nil || de.Status != http.StatusUnprocessableEntity || de.Fields["url"] == "" {
			t.Errorf("%s: %v, want a 422 naming url", u, err)
		}
	}
	if _, _, err := e.Webhooks.Create(ctx, staff, webhooks.NewWebhook{URL: "https://198.18.0.10/hook", Events: []string{"container.created"}}); err != nil {
		t.Errorf("a public address: %v", err)
	}
	e.Webhooks.Guard = hooks.Guard{Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	if _, _, err := e.Webhooks.Create(ctx, staff, webhooks.NewWebhook{URL: "http://10.0.0.5/hook", Events: []string{"container.created"}}); err != nil {
		t.Errorf("an allowed private network: %v", err)
	}
}
