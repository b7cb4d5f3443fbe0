package customers_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/domain/customers"
	"github.com/ctpanel/ctpanel/domain/domaintest"
	"github.com/ctpanel/ctpanel/mail"
)

// TestWelcomeAndLinkMailsQueued: with mail on, a customer made with an
// address gets a welcome mail and a password link button mails the link,
// each in the outbox with the link that works; without an address, or
// with mail off, nothing is queued and the note says why. The API's
// paths (Create, CreatePasswordLink) never mail.
func TestWelcomeAndLinkMailsQueued(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	staff := domaintest.Staff()
	s := &customers.Service{Store: e.Store, Mail: mail.NewOutbox(mail.Settings{Host: "127.0.0.1", From: "panel@example.com"})}

	c, note, err := s.CreateWelcomed(ctx, staff, customers.NewCustomer{Username: "acme", Email: "ops@acme.example"}, "https://panel.example")
	if err != nil || note.To != "ops@acme.example" {
		t.Fatalf("welcomed: %+v %v", note, err)
	}
	l, err := s.SendPasswordLink(ctx, staff, itoa(c.ID), "https://panel.example")
	if err != nil || l.Mail.To != "ops@acme.example" {
		t.Fatalf("link: %+v %v", l.Mail, err)
	}
	if _, err := s.CreatePasswordLink(ctx, staff, itoa(c.ID), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, staff, customers.NewCustomer{Username: "quiet", Email: "q@acme.example"}); err != nil {
		t.Fatal(err)
	}
	_, note, err = s.CreateWelcomed(ctx, staff, customers.NewCustomer{Username: "noaddr"}, "https://panel.example")
	if err != nil || note.To != "" || note.Reason != "the customer has no e-mail address" {
		t.Fatalf("no address: %+v %v", note, err)
	}
	list, err := e.Store.ListMail(ctx, 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("outbox: %d mails (%v), want 2", len(list), err)
	}
	welcome, link := list[1], list[0]
	if welcome.Kind != mail.KindWelcome || welcome.To != "ops@acme.example" || !strings.Contains(welcome.Body, "https://panel.example/set-password?token=ctpl_") {
		t.Fatalf("welcome: %+v", welcome)
	}
	if link.Kind != mail.KindPasswordLink || !strings.Contains(link.Body, "https://panel.example"+l.Path) {
		t.Fatalf("link mail %q lacks the link %s", link.Body, l.Path)
	}
	// The welcome mail's link is a live one.
	token := welcome.Body[strings.Index(welcome.Body, "token=")+len("token="):]
	token = token[:strings.IndexAny(token, "\n ")]
	if pl, err := s.PasswordLinkFor(ctx, unescape(t, token)); err != nil || pl.Username != "acme" {
		t.Fatalf("welcome link: %+v %v", pl, err)
	}

	off := &customers.Service{Store: e.Store}
	_, note, err = off.CreateWelcomed(ctx, staff, customers.NewCustomer{Username: "offline", Email: "o@acme.example"}, "https://panel.example")
	if err != nil || note.To != "" || note.Reason != "SMTP is not set up" {
		t.Fatalf("mail off: %+v %v", note, err)
	}
	if list, _ := e.Store.ListMail(ctx, 10); len(list) != 2 {
		t.Fatalf("%d mails after mail-off and quiet calls, want 2", len(list))
	}
	// A refused customer queues nothing.
	if _, _, err := s.CreateWelcomed(ctx, staff, customers.NewCustomer{Username: "acme", Email: "dup@acme.example"}, "https://panel.example"); err == nil {
		t.Fatal("duplicate username accepted")
	}
	if list, _ := e.Store.ListMail(ctx, 10); len(list) != 2 {
		t.Fatalf("%d mails after a refused create, want 2", len(list))
	}

}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func unescape(t *testing.T, s string) string {
	t.Helper()
	u, err := url.QueryUnescape(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
