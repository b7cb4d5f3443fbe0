// Package mailing is the domain side of the panel's e-mail: whether mail
// is on, the outbox as staff see it, and the test mail staff send to
// check the SMTP settings. The messages themselves are queued by the
// domains they tell about (customers: password links, welcome mails) and
// sent by the mail package's worker.
package mailing

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/mail"
)

// Service is the mailing domain.
type Service struct {
	Store *db.Store
	Log   *slog.Logger
	// Mail is the outbox; nil: mail is off.
	Mail *mail.Outbox
}

// Enabled says whether an SMTP server is set up.
func (s *Service) Enabled() bool { return s.Mail.Enabled() }

// Recent lists the latest limit messages of the outbox (staff).
func (s *Service) Recent(ctx context.Context, p db.Principal, limit int) ([]db.OutgoingMail, error) {
	if err := policy.RequireStaff(p); err != nil {
		return nil, err
	}
	return s.Store.ListMail(ctx, limit)
}

// SendTest queues a test mail to to (staff); 409 when mail is off.
func (s *Service) SendTest(ctx context.Context, p db.Principal, to string) error {
	if err := policy.RequireStaff(p); err != nil {
		return err
	}
	f := domain.FieldErrors{}
	if to == "" {
		f.Add("to", "is required: the address the test mail goes to")
	} else {
		policy.CheckEmail(f, "to", to)
	}
	if err := f.Err(); err != nil {
		return err
	}
	if !s.Mail.Enabled() {
		return domain.Errorf(http.StatusConflict, "mail_off", "no mail sent: SMTP is not set up (CTPANEL_SMTP_HOST and CTPANEL_SMTP_FROM)")
	}
	err := s.Store.InTx(ctx, func(_ pgx.Tx, q *db.Queries) error {
		if err := s.Mail.Queue(ctx, q, mail.TestMail(to, "staff user "+p.Actor())); err != nil {
			return err
		}
		return domain.Audit(ctx, q, p, "mail.test", nil, map[string]any{"to": to})
	})
	if err != nil {
		return err
	}
	s.Mail.Wake()
	return nil
}
