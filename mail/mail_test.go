package mail_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/db/dbtest"
	"github.com/ctpanel/ctpanel/mail"
	"github.com/ctpanel/ctpanel/mail/mailtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestSettingsValidate: mail off needs nothing; every setting a typo
// breaks is refused naming it.
func TestSettingsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    mail.Settings
		want string // "" valid; else a part of the error
	}{
		{"off", mail.Settings{}, ""},
		{"defaults", mail.Settings{Host: "smtp.example.com", From: "panel@example.com"}, ""},
		{"named sender", mail.Settings{Host: "smtp.example.com", From: "Panel <panel@example.com>", TLS: "tls"}, ""},
		{"bad from", mail.Settings{Host: "smtp.example.com", From: "panel at example.com"}, "CTPANEL_SMTP_FROM"},
		{"no from", mail.Settings{Host: "smtp.example.com"}, "CTPANEL_SMTP_FROM is empty"},
		{"from without host", mail.Settings{From: "panel@example.com"}, "CTPANEL_SMTP_HOST is empty"},
		{"host with port", mail.Settings{Host: "smtp.example.com:587", From: "panel@example.com"}, "CTPANEL_SMTP_HOST"},
		{"bad tls", mail.Settings{Host: "smtp.example.com", From: "panel@example.com", TLS: "ssl"}, "CTPANEL_SMTP_TLS"},
		{"bad port", mail.Settings{Host: "smtp.example.com", From: "panel@example.com", Port: 70000}, "CTPANEL_SMTP_PORT"},
		{"user without password", mail.Settings{Host: "smtp.example.com", From: "panel@example.com", Username: "u"}, "go together"},
		{"bad alert address", mail.Settings{Host: "smtp.example.com", From: "panel@example.com", AlertTo: []string{"ops"}}, "CTPANEL_ALERT_MAIL_TO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			err := s.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
	s := mail.Settings{Host: "smtp.example.com", From: "panel@example.com"}
	if err := s.Validate(); err != nil || s.TLS != mail.TLSStartTLS || s.Port != 587 || s.Timeout != 30*time.Second {
		t.Fatalf("defaults: %+v, %v", s, err)
	}
	s = mail.Settings{Host: "smtp.example.com", From: "panel@example.com", TLS: "tls"}
	if err := s.Validate(); err != nil || s.Port != 465 {
		t.Fatalf("implicit TLS port: %+v, %v", s, err)
	}
}

type rig struct {
	store  *db.Store
	outbox *mail.Outbox
	worker *mail.Worker
	smtp   *mailtest.Server
}

// newRig is a database, an Exim on loopback (prepared, not started) and
// a worker pointed at it.
func newRig(t *testing.T) *rig {
	store := db.New(dbtest.Pool(t))
	smtp := mailtest.New(t, 0)
	settings := mail.Settings{Host: "127.0.0.1", Port: smtp.Port, TLS: mail.TLSNone, From: "Panel <panel@ctpanel.example>",
		Timeout: 10 * time.Second}
	if err := settings.Validate(); err != nil {
		t.Fatal(err)
	}
	outbox := mail.NewOutbox(settings)
	return &rig{store: store, outbox: outbox, smtp: smtp,
		worker: &mail.Worker{Store: store, Sender: &mail.Sender{Settings: settings}, Outbox: outbox, Log: quiet(),
			Poll: 100 * time.Millisecond, Backoff: func(int) time.Duration { return 200 * time.Millisecond }}}
}

func (r *rig) queue(t *testing.T, m db.OutgoingMail) int64 {
	t.Helper()
	var id int64
	err := r.store.InTx(context.Background(), func(_ pgx.Tx, q *db.Queries) error {
		var err error
		id, err = q.QueueMail(context.Background(), m)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r.outbox.Wake()
	return id
}

func (r *rig) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.worker.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// TestPasswordLinkMailDelivered: a queued password link mail goes
// through a real SMTP server; the delivered message has the sender, the
// customer, the subject, the link in its text and as a link in its HTML,
// and the outbox records it sent after one attempt.
func TestPasswordLinkMailDelivered(t *testing.T) {
	r := newRig(t)
	r.smtp.Start(t)
	c := db.Customer{Username: "acme", Name: "Acme Ltd", Email: "ops@acme.example"}
	link := "https://panel.example/set-password?token=ctpl_abc%2Bdef"
	exp := time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)
	id := r.queue(t, mail.PasswordLinkMail(c, link, exp))
	r.run(t)

	msgs := r.smtp.Wait(t, 1, 20*time.Second)
	m := msgs[0]
	for h, want := range map[string]string{"From": `"Panel" <panel@ctpanel.example>`, "To": "<ops@acme.example>",
		"Subject": "Set your control panel password", "Auto-Submitted": "auto-generated", "Envelope-To": "ops@acme.example"} {
		if got := m.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q\n%s", h, got, want, m.Raw)
		}
	}
	if m.Header.Get("Message-Id") == "" || m.Header.Get("Date") == "" {
		t.Errorf("no Message-ID or Date:\n%s", m.Raw)
	}
	for _, want := range []string{"Hello Acme Ltd,", `"acme"`, link, "until 2030-01-02 03:04 UTC"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	if !strings.Contains(m.HTML, `<a href="https://panel.example/set-password?token=ctpl_abc%2Bdef">`) {
		t.Errorf("HTML lacks the link:\n%s", m.HTML)
	}
	row := waitRow(t, r.store, id, func(m db.OutgoingMail) bool { return m.SentAt != nil && m.Attempts == 1 && m.LastError == "" })
	// The link is a secret: once sent, the outbox keeps no copy of it.
	if row.Body != "" || row.HTML != "" || row.Subject == "" || row.To != "ops@acme.example" {
		t.Fatalf("sent link mail kept %+v", row)
	}
}

// TestOutboxRetriesAfterSMTPOutage: with the SMTP server down the mail
// stays in the outbox, its failure recorded; when the server comes back
// the worker's retry delivers it, once.
func TestOutboxRetriesAfterSMTPOutage(t *testing.T) {
	r := newRig(t)
	id := r.queue(t, mail.TestMail("staff@ctpanel.example", "staff user ops"))
	r.run(t)
	row := waitRow(t, r.store, id, func(m db.OutgoingMail) bool { return m.Attempts >= 2 && m.LastError != "" })
	if row.SentAt != nil || row.FailedAt != nil || !strings.Contains(row.LastError, "connect") && !strings.Contains(row.LastError, "refused") {
		t.Fatalf("after attempts with the server down: %+v", row)
	}
	r.smtp.Start(t)
	msgs := r.smtp.Wait(t, 1, 20*time.Second)
	if got := msgs[0].Header.Get("Subject"); got != "Test mail from the control panel" {
		t.Fatalf("subject %q", got)
	}
	row = waitRow(t, r.store, id, func(m db.OutgoingMail) bool { return m.SentAt != nil })
	if row.LastError != "" {
		t.Fatalf("sent row keeps an error: %+v", row)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(r.smtp.Messages(t)); n != 1 {
		t.Fatalf("%d messages delivered, want 1", n)
	}
}

// TestRefusedRecipientGivenUp: a 5xx refusal is not retried.
func TestRefusedRecipientGivenUp(t *testing.T) {
	r := newRig(t)
	r.smtp.Start(t)
	id := r.queue(t, mail.TestMail("reject@ctpanel.example", "staff user ops"))
	r.run(t)
	row := waitRow(t, r.store, id, func(m db.OutgoingMail) bool { return m.FailedAt != nil })
	if row.Attempts != 1 || row.SentAt != nil || !strings.Contains(row.LastError, "no such user") {
		t.Fatalf("refused mail: %+v", row)
	}
	var perm *mail.PermanentError
	err := r.worker.Sender.Send(context.Background(), db.OutgoingMail{To: "reject@ctpanel.example", Subject: "x", Body: "x"})
	if !errors.As(err, &perm) {
		t.Fatalf("send to a refused recipient: %v, want a PermanentError", err)
	}
}

// TestStaffAlertNotice: an alert is mailed to each enabled staff account
// with an address, naming the container, resource and failcnt; the same
// counter growing again within the quiet time is not mailed again; a
// configured alert address replaces the staff's.
func TestStaffAlertNotice(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	for _, a := range []db.Account{{Username: "ops", Email: "ops@ctpanel.example", Role: db.RoleStaff},
		{Username: "boss", Email: "boss@ctpanel.example", Role: db.RoleAdmin},
		{Username: "mute", Role: db.RoleStaff}} {
		if _, err := r.store.CreateAccount(ctx, a, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.store.CreateAccount(ctx, db.Account{Username: "cust", Email: "cust@example.com", Role: db.RoleCustomer}, ""); err != nil {
		t.Fatal(err)
	}
	n := &mail.StaffAlerts{Store: r.store, Outbox: r.outbox, BaseURL: "https://panel.example"}
	var notifier mail.AlertNotifier = n
	a := db.Alert{ID: 7, CTID: 101, Resource: "numproc", Old: 3, New: 5, At: time.Now()}
	if err := notifier.AlertOpened(ctx, a); err != nil {
		t.Fatal(err)
	}
	a.ID, a.Old, a.New = 8, 5, 9
	if err := notifier.AlertOpened(ctx, a); err != nil {
		t.Fatal(err)
	}
	r.smtp.Start(t)
	r.run(t)
	msgs := r.smtp.Wait(t, 2, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	if msgs = r.smtp.Messages(t); len(msgs) != 2 {
		t.Fatalf("%d notices, want 2 (one per staff address, the second growth quiet)", len(msgs))
	}
	to := map[string]bool{}
	for _, m := range msgs {
		to[m.Header.Get("To")] = true
		if got := m.Header.Get("Subject"); got != "Alert: container 101 hit its numproc limit" {
			t.Errorf("subject %q", got)
		}
		for _, want := range []string{"Failcnt: 5 (was 3)", "Resource: numproc", "https://panel.example/containers/101"} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("notice lacks %q:\n%s", want, m.Text)
			}
		}
	}
	if !to["<ops@ctpanel.example>"] || !to["<boss@ctpanel.example>"] {
		t.Fatalf("notices went to %v", to)
	}

	r.outbox.AlertTo = []string{"alerts@ctpanel.example"}
	if err := notifier.AlertOpened(ctx, db.Alert{ID: 9, CTID: 102, Resource: "privvmpages", Old: 0, New: 1, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	msgs = r.smtp.Wait(t, 3, 20*time.Second)
	if got := msgs[2].Header.Get("To"); got != "<alerts@ctpanel.example>" {
		t.Fatalf("configured alert address: notice to %q", got)
	}

	// Mail off: nothing queued, no error.
	off := &mail.StaffAlerts{Store: r.store}
	if err := off.AlertOpened(ctx, a); err != nil {
		t.Fatal(err)
	}
}

func waitRow(t *testing.T, store *db.Store, id int64, ok func(db.OutgoingMail) bool) db.OutgoingMail {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, err := store.GetMail(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox row %d stays %+v", id, m)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
