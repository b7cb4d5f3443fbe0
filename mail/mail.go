// Package mail is the e-mail the panel sends: the SMTP settings, the
// messages (password links, welcome mails, failcnt alert notices, a test
// mail), a Sender that delivers one message with go-mail, and the Worker
// that drains the durable outbox in PostgreSQL (db's mail_outbox) with
// retries and backoff. Callers never talk SMTP: they queue a message in
// the transaction of what it tells about (Outbox.Queue) and the worker
// sends it after, so a crash or an SMTP outage loses no mail and holds up
// no request.
package mail

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"os"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/ctpanel/ctpanel/db"
)

// TLS modes of the connection to the SMTP server.
const (
	TLSNone     = "none"     // plain SMTP (a relay on the host or the LAN)
	TLSStartTLS = "starttls" // STARTTLS required (submission, port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
)

// Settings say how the panel reaches its SMTP server. Host empty: mail
// is off.
type Settings struct {
	Host     string
	Port     int // 0: by TLS mode, 25, 587 or 465
	Username string
	Password string
	From     string // the sender address, e.g. "Panel <panel@example.com>"
	TLS      string // none, starttls (default) or tls
	// Timeout bounds one delivery: connect, the SMTP dialogue and the
	// data (default 30s).
	Timeout time.Duration
	// AlertTo are where failcnt alert notices go; empty: every enabled
	// staff account with an e-mail address.
	AlertTo []string
}

// Enabled says whether an SMTP server is set up.
func (s Settings) Enabled() bool { return s.Host != "" }

// ErrOff is what a caller hears when it asks for mail while no SMTP
// server is set up.
var ErrOff = errors.New("SMTP is not set up")

// ReadPasswordFile reads an SMTP password from a file (its trailing
// newline dropped).
func ReadPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("config: SMTP password file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Validate checks the settings a typo would break, naming the setting,
// and fills in the defaults. Settings with no host and nothing else are
// valid: mail is off.
func (s *Settings) Validate() error {
	if s.Host == "" {
		if s.From != "" || s.Username != "" || s.Password != "" || s.Port != 0 || len(s.AlertTo) > 0 {
			return errors.New("config: SMTP settings are given but CTPANEL_SMTP_HOST is empty: set the SMTP server's host name, or drop the other CTPANEL_SMTP_ settings")
		}
		return nil
	}
	if strings.ContainsAny(s.Host, " /:@") {
		return fmt.Errorf("config: CTPANEL_SMTP_HOST %q must be a host name or IP address, without port or scheme (the port is CTPANEL_SMTP_PORT)", s.Host)
	}
	switch s.TLS = strings.ToLower(s.TLS); s.TLS {
	case "":
		s.TLS = TLSStartTLS
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return fmt.Errorf("config: CTPANEL_SMTP_TLS %q: want none, starttls or tls", s.TLS)
	}
	if s.Port == 0 {
		s.Port = map[string]int{TLSNone: 25, TLSStartTLS: 587, TLSImplicit: 465}[s.TLS]
	}
	if s.Port < 1 || s.Port > 65535 {
		return fmt.Errorf("config: CTPANEL_SMTP_PORT %d: want 1 to 65535", s.Port)
	}
	if s.From == "" {
		return errors.New("config: CTPANEL_SMTP_FROM is empty: mail needs a sender address such as panel@example.com")
	}
	if _, err := netmail.ParseAddress(s.From); err != nil {
		return fmt.Errorf("config: CTPANEL_SMTP_FROM %q is not an e-mail address such as panel@example.com or \"Panel <panel@example.com>\"", s.From)
	}
	if (s.Username == "") != (s.Password == "") {
		return errors.New("config: the SMTP user and password go together: set both CTPANEL_SMTP_USER and CTPANEL_SMTP_PASSWORD (or CTPANEL_SMTP_PASSWORD_FILE), or neither")
	}
	for _, a := range s.AlertTo {
		if p, err := netmail.ParseAddress(a); err != nil || p.Address != a {
			return fmt.Errorf("config: CTPANEL_ALERT_MAIL_TO: %q is not an e-mail address such as ops@example.com", a)
		}
	}
	if s.Timeout == 0 {
		s.Timeout = 30 * time.Second
	}
	if s.Timeout < 0 {
		return errors.New("config: SMTP timeout must be positive")
	}
	return nil
}

// Sender delivers messages to the SMTP server of its settings.
type Sender struct {
	Settings Settings
}

// PermanentError is a refusal the server says will not change (a 5xx
// reply, such as an unknown recipient): the message is not retried.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Message builds the MIME message of m: plain text, with its HTML as an
// alternative when it has one.
func (s *Sender) Message(m db.OutgoingMail) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.Settings.From); err != nil {
		return nil, &PermanentError{fmt.Errorf("mail: sender %q: %w", s.Settings.From, err)}
	}
	if err := msg.To(m.To); err != nil {
		return nil, &PermanentError{fmt.Errorf("mail: recipient %q: %w", m.To, err)}
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetUserAgent("ctpanel")
	// Machine-sent: vacation responders should not answer it.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// Send delivers m once, within the settings' timeout. A *PermanentError
// says retrying is useless.
func (s *Sender) Send(ctx context.Context, m db.OutgoingMail) error {
	if !s.Settings.Enabled() {
		return ErrOff
	}
	msg, err := s.Message(m)
	if err != nil {
		return err
	}
	opts := []gomail.Option{gomail.WithPort(s.Settings.Port), gomail.WithTimeout(s.Settings.Timeout)}
	switch s.Settings.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.Settings.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.Settings.Username), gomail.WithPassword(s.Settings.Password))
	}
	c, err := gomail.NewClient(s.Settings.Host, opts...)
	if err != nil {
		return fmt.Errorf("mail: client for %s: %w", s.Settings.Host, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.Settings.Timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
			return &PermanentError{fmt.Errorf("mail: %s:%d refused the message to %s: %w", s.Settings.Host, s.Settings.Port, m.To, err)}
		}
		return fmt.Errorf("mail: send to %s through %s:%d: %w", m.To, s.Settings.Host, s.Settings.Port, err)
	}
	return nil
}
