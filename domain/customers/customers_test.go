package customers_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/db/dbtest"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/domain/customers"
	"github.com/ctpanel/ctpanel/domain/domaintest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func ptr[T any](v T) *T { return &v }

func status(err error) int {
	if de := domain.AsError(err); de != nil {
		return de.Status
	}
	return 0
}

func TestCustomerRulesAreTheSameForEveryCaller(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	staff := domaintest.Staff()
	for _, tc := range []struct {
		in    customers.NewCustomer
		field string
	}{
		{customers.NewCustomer{Username: ""}, "username"},
		{customers.NewCustomer{Username: "acme", Email: "not-mail"}, "email"},
		{customers.NewCustomer{Username: "acme", Password: ptr("short")}, "password"},
		{customers.NewCustomer{Username: "acme", Password: ptr(strings.Repeat("p", 73))}, "password"},
		{customers.NewCustomer{Username: "acme", ExternalID: ptr("")}, "external_id"},
	} {
		_, err := e.Customers.Create(ctx, staff, tc.in)
		de := domain.AsError(err)
		if de == nil || de.Status != http.StatusUnprocessableEntity || de.Fields[tc.field] == "" {
			t.Errorf("%+v: %v, want a 422 naming %s", tc.in, err, tc.field)
		}
	}
	c, err := e.Customers.Create(ctx, staff, customers.NewCustomer{Username: "acme", Password: ptr(strings.Repeat("p", 72))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Customers.Create(ctx, staff, customers.NewCustomer{Username: "acme"}); status(err) != http.StatusConflict {
		t.Fatalf("a second acme: %v, want 409", err)
	}
	alice := e.Customer(t, "alice")
	if _, err := e.Customers.List(ctx, alice, ""); status(err) != http.StatusForbidden {
		t.Fatalf("a customer lists customers: %v, want 403", err)
	}
	if _, err := e.Customers.Get(ctx, staff, "x1"); status(err) != http.StatusNotFound {
		t.Fatalf("customer x1: %v, want 404", err)
	}
	_ = c
}

// terminals records what EndUser was asked to end.
type terminals struct {
	user  int64
	ctids []int
}

func (r *terminals) EndUser(userID int64, ctids []int) { r.user, r.ctids = userID, ctids }

func TestDisablingACustomerEndsTheirSessions(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	alice := e.Customer(t, "alice")
	ended := &terminals{}
	e.Customers.Terminals = ended
	op, err := e.Containers.Create(ctx, domaintest.Staff(), containers.CreateInput{Template: "busybox", Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, op.ID)
	if err := e.Store.CreateSession(ctx, db.NewSession{IDHash: db.HashToken("s1"), UserID: *alice.UserID, CSRFToken: "c",
		ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.UseSession(ctx, db.HashToken("s1"), time.Hour); err != nil {
		t.Fatalf("the session before: %v", err)
	}
	if _, err := e.Customers.Update(ctx, domaintest.Staff(), strconv.FormatInt(*alice.UserID, 10), customers.Change{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.UseSession(ctx, db.HashToken("s1"), time.Hour); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("the session after disabling: %v, want gone", err)
	}
	if ended.user != *alice.UserID || len(ended.ctids) != 1 || ended.ctids[0] != op.CTID {
		t.Fatalf("terminals ended for %d on %v, want alice's (%d) on [%d]", ended.user, ended.ctids, *alice.UserID, op.CTID)
	}
	if _, err := e.Customers.CreatePasswordLink(ctx, domaintest.Staff(), strconv.FormatInt(*alice.UserID, 10), nil); status(err) != http.StatusConflict {
		t.Fatalf("a password link for a disabled customer: %v, want 409", err)
	}
}

func TestPasswordLinkSetsThePasswordOnce(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	id := strconv.FormatInt(*e.Customer(t, "alice").UserID, 10)
	if _, err := e.Customers.CreatePasswordLink(ctx, domaintest.Staff(), id, ptr(0)); status(err) != http.StatusUnprocessableEntity {
		t.Fatalf("valid_hours 0: %v, want 422", err)
	}
	l, err := e.Customers.CreatePasswordLink(ctx, domaintest.Staff(), id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(l.Path, "/set-password?token=") || l.ExpiresAt.Before(time.Now().Add(71*time.Hour)) {
		t.Fatalf("link %+v", l)
	}
	if err := e.Customers.RedeemPasswordLink(ctx, l.Token, "long enough", "not the same"); status(err) != http.StatusUnprocessableEntity {
		t.Fatalf("mismatched confirm: %v, want 422", err)
	}
	if err := e.Customers.RedeemPasswordLink(ctx, l.Token, "long enough", "long enough"); err != nil {
		t.Fatal(err)
	}
	if err := e.Customers.RedeemPasswordLink(ctx, l.Token, "long enough", "long enough"); !errors.Is(err, customers.ErrLinkInvalid) {
		t.Fatalf("a second use: %v, want the link refused", err)
	}
}
