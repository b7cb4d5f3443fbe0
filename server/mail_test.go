package server

import (
	"context"
	"flag"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/mail"
	"github.com/ctpanel/ctpanel/mail/mailtest"
)

// TestSMTPConfig: the CTPANEL_SMTP_ settings are read from the
// environment (the password from its file) and a bad address is a
// config error naming the setting.
func TestSMTPConfig(t *testing.T) {
	load := func(vars map[string]string) (Config, error) {
		for _, k := range []string{"CTPANEL_SMTP_HOST", "CTPANEL_SMTP_PORT", "CTPANEL_SMTP_USER", "CTPANEL_SMTP_PASSWORD",
			"CTPANEL_SMTP_PASSWORD_FILE", "CTPANEL_SMTP_FROM", "CTPANEL_SMTP_TLS", "CTPANEL_ALERT_MAIL_TO"} {
			t.Setenv(k, vars[k])
		}
		t.Setenv("CTPANEL_DATA_DIR", t.TempDir())
		var c Config
		c.RegisterFlags(flag.NewFlagSet("test", flag.ContinueOnError))
		return c, c.Validate()
	}
	if c, err := load(nil); err != nil || c.SMTP.Enabled() {
		t.Fatalf("no SMTP settings: %+v, %v; want mail off", c.SMTP, err)
	}
	pwFile := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load(map[string]string{"CTPANEL_SMTP_HOST": "smtp.example.com", "CTPANEL_SMTP_PORT": "2525", "CTPANEL_SMTP_USER": "panel",
		"CTPANEL_SMTP_PASSWORD_FILE": pwFile, "CTPANEL_SMTP_FROM": "Panel <panel@example.com>", "CTPANEL_SMTP_TLS": "tls",
		"CTPANEL_ALERT_MAIL_TO": "ops@example.com, noc@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	want := mail.Settings{Host: "smtp.example.com", Port: 2525, Username: "panel", Password: "s3cret", From: "Panel <panel@example.com>",
		TLS: "tls", Timeout: 30 * time.Second, AlertTo: []string{"ops@example.com", "noc@example.com"}}
	if got := c.SMTP; got.Host != want.Host || got.Port != want.Port || got.Username != want.Username || got.Password != want.Password ||
		got.From != want.From || got.TLS != want.TLS || got.Timeout != want.Timeout || strings.Join(got.AlertTo, ",") != strings.Join(want.AlertTo, ",") {
		t.Fatalf("settings %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"CTPANEL_SMTP_HOST": "smtp.example.com", "CTPANEL_SMTP_FROM": "panel(at)example.com"}, "CTPANEL_SMTP_FROM"},
		{map[string]string{"CTPANEL_SMTP_HOST": "smtp.example.com", "CTPANEL_SMTP_FROM": "panel@example.com", "CTPANEL_SMTP_PORT": "smtp"}, "CTPANEL_SMTP_PORT"},
		{map[string]string{"CTPANEL_SMTP_FROM": "panel@example.com"}, "CTPANEL_SMTP_HOST is empty"},
		{map[string]string{"CTPANEL_SMTP_HOST": "smtp.example.com", "CTPANEL_SMTP_FROM": "panel@example.com", "CTPANEL_ALERT_MAIL_TO": "noc"}, "CTPANEL_ALERT_MAIL_TO"},
		{map[string]string{"CTPANEL_SMTP_HOST": "smtp.example.com", "CTPANEL_SMTP_FROM": "panel@example.com", "CTPANEL_SMTP_USER": "u",
			"CTPANEL_SMTP_PASSWORD_FILE": "/nonexistent/pw"}, "SMTP password file"},
	} {
		if _, err := load(tc.vars); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %s", tc.vars, err, tc.want)
		}
	}
}

func mailPanel(t *testing.T, smtp *mailtest.Server) *testPanel {
	return newTestPanelWith(t, lxcdriver.NewFake(), "", func(c *Config) {
		c.SMTP = mail.Settings{Host: "127.0.0.1", Port: smtp.Port, TLS: mail.TLSNone, From: "panel@ctpanel.example", Timeout: 10 * time.Second}
	})
}

var mailedLink = regexp.MustCompile(`http://\S+/set-password\?token=\S+`)

// TestPanelMail: with SMTP set up, staff adding a customer sends them a
// welcome mail whose link sets their password; the password link button
// mails the link it also shows; a mail queued while the SMTP server is
// down survives a panel restart and is sent when the server is back; the
// Mail page lists the outbox and sends a test mail, refusing a bad
// address next to its field.
func TestPanelMail(t *testing.T) {
	smtp := mailtest.New(t, 0)
	smtp.Start(t)
	p := mailPanel(t, smtp)
	if len(p.app.Mon.Notifiers) == 0 {
		t.Fatal("the monitor's alert hook is not wired with mail on")
	}
	p.account("ops", db.RoleStaff, "correct horse")
	b := p.browser()
	b.mustLogin("ops", "correct horse")
	b.expect(b.get("/customers"), 200, "A welcome mail with their sign-in name and a password link goes to this address.")

	pg := b.post("/customers", url.Values{"username": {"acme"}, "name": {"Acme Ltd"}, "email": {"ops@acme.example"}})
	if pg.Status != http.StatusSeeOther || !strings.Contains(pg.Header.Get("Location"), "mailed=ops%40acme.example") {
		t.Fatalf("create customer: %d %s: %s", pg.Status, pg.Header.Get("Location"), pg.Body)
	}
	b.expect(b.get(pg.Header.Get("Location")), 200, "Welcome mail with a password link mailed to <strong>ops@acme.example</strong>")
	msgs := smtp.Wait(t, 1, 20*time.Second)
	welcome := msgs[0]
	if welcome.Header.Get("To") != "<ops@acme.example>" || welcome.Header.Get("Subject") != "Your control panel account" ||
		!strings.Contains(welcome.Text, "Your sign-in name is: acme") {
		t.Fatalf("welcome mail:\n%s", welcome.Raw)
	}
	link := mailedLink.FindString(welcome.Text)
	if !strings.HasPrefix(link, p.srv.URL+"/set-password?token=ctpl_") {
		t.Fatalf("welcome mail link %q, want one to %s:\n%s", link, p.srv.URL, welcome.Text)
	}
	u, _ := url.Parse(link)
	cust := p.browser()
	cust.expect(cust.get(u.RequestURI()), 200, "acme")
	pg = cust.post("/set-password", url.Values{"token": {u.Query().Get("token")}, "password": {"a good password"}, "confirm": {"a good password"}})
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("set password with the mailed link: %d: %s", pg.Status, pg.Body)
	}
	cust.mustLogin("acme", "a good password")

	var id int64
	if err := p.app.Pool.QueryRow(context.Background(), `SELECT id FROM users WHERE username = 'acme'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	b.get("/customers")
	pg = b.expect(b.post("/customers/"+itoa64(id)+"/password-link", nil), http.StatusCreated, "Mailed to <strong>ops@acme.example</strong>")
	shown := regexp.MustCompile(`id="password-link">([^<]+)<`).FindStringSubmatch(pg.Body)
	msgs = smtp.Wait(t, 2, 20*time.Second)
	if shown == nil || !strings.Contains(msgs[1].Text, htmlUnescape(shown[1])) || msgs[1].Header.Get("Subject") != "Set your control panel password" {
		t.Fatalf("the link shown (%v) is not the one mailed:\n%s", shown, msgs[1].Text)
	}

	// SMTP down: the mail waits in the outbox, through a panel restart.
	smtp.Stop(t)
	b.get("/customers")
	b.expect(b.post("/customers/"+itoa64(id)+"/password-link", nil), http.StatusCreated, "Mailed to")
	waitUntil(t, func() bool {
		var attempts int
		var lastErr string
		err := p.app.Pool.QueryRow(context.Background(), `SELECT attempts, last_error FROM mail_outbox WHERE sent_at IS NULL ORDER BY id DESC LIMIT 1`).Scan(&attempts, &lastErr)
		return err == nil && attempts >= 1 && lastErr != ""
	})
	p.restart()
	smtp.Start(t)
	// Its retry comes due (rather than in 30 s, the first backoff).
	if _, err := p.app.Pool.Exec(context.Background(), `UPDATE mail_outbox SET next_attempt_at = now() WHERE sent_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	p.app.Mail.Wake()
	msgs = smtp.Wait(t, 3, 30*time.Second)
	if msgs[2].Header.Get("Subject") != "Set your control panel password" {
		t.Fatalf("mail after the outage:\n%s", msgs[2].Raw)
	}

	b = p.browser()
	b.mustLogin("ops", "correct horse")
	mp := b.expect(b.get("/mail"), 200, "Mail goes through <strong>127.0.0.1:", "Send test mail", "ops@acme.example", "welcome", "password_link")
	if !strings.Contains(mp.Body, `value="ops@example.com"`) {
		t.Fatalf("test mail form not filled with the staff's own address:\n%s", mp.Body)
	}
	pg = b.post("/mail/test", url.Values{"to": {"not an address"}})
	if b.expect(pg, http.StatusUnprocessableEntity); fieldError(pg.Body, "to") == "" {
		t.Fatalf("bad test address: no error next to the field:\n%s", pg.Body)
	}
	pg = b.post("/mail/test", url.Values{"to": {"ops@example.com"}})
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("test mail: %d: %s", pg.Status, pg.Body)
	}
	b.expect(b.get(pg.Header.Get("Location")), 200, "Test mail to <strong>ops@example.com</strong> queued")
	msgs = smtp.Wait(t, 4, 20*time.Second)
	if m, ok := mailtest.Find(msgs, "Test mail from the control panel"); !ok || m.Header.Get("To") != "<ops@example.com>" {
		t.Fatalf("test mail: %v\n%s", ok, m.Raw)
	}

	// A customer cannot see the outbox.
	cust.expect(cust.get("/mail"), http.StatusForbidden)
}

// TestPanelMailOff: without SMTP the pages say no mail is sent, and the
// link is still shown to pass on.
func TestPanelMailOff(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	if len(p.app.Mon.Notifiers) != 0 || p.app.MailWorker != nil {
		t.Fatal("mail wired without SMTP")
	}
	p.account("ops", db.RoleStaff, "correct horse")
	b := p.browser()
	b.mustLogin("ops", "correct horse")
	b.expect(b.get("/customers"), 200, "No mail is sent: SMTP is not set up.")
	pg := b.post("/customers", url.Values{"username": {"acme"}, "email": {"ops@acme.example"}})
	b.expect(b.get(pg.Header.Get("Location")), 200, "No welcome mail sent: SMTP is not set up.", "cannot sign in")
	var id int64
	if err := p.app.Pool.QueryRow(context.Background(), `SELECT id FROM users WHERE username = 'acme'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	b.get("/customers")
	b.expect(b.post("/customers/"+itoa64(id)+"/password-link", nil), http.StatusCreated, "Not mailed: SMTP is not set up.", "/set-password?token=ctpl_")
	b.expect(b.get("/mail"), 200, "No mail is sent: SMTP is not set up.")
	b.expect(b.post("/mail/test", url.Values{"to": {"ops@example.com"}}), http.StatusConflict, "no mail sent: SMTP is not set up")
	var n int
	if err := p.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM mail_outbox`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d mails queued with mail off (%v)", n, err)
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func htmlUnescape(s string) string { return html.UnescapeString(s) }

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
