// Package customers is the domain of the people who sign in: customers
// (who own VPSes, made by billing systems or staff), staff and admin
// accounts, their panel passwords and one-time password links.
package customers

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/mail"
)

// Service is the customers and users domain.
type Service struct {
	Store *db.Store
	Log   *slog.Logger
	// Terminals, when set, ends the terminal sessions of an account that
	// is disabled.
	Terminals Terminals
	// Mail queues the password link and welcome mails; nil: mail is off
	// (no SMTP server set up).
	Mail *mail.Outbox
}

// MailNote says whether a mail was queued and to whom, or why not.
type MailNote struct {
	To     string // the address it is queued for; empty: not mailed
	Reason string // why not, when To is empty
}

// mailNote is where a mail to c goes, or why it cannot.
func (s *Service) mailNote(c db.Customer) MailNote {
	switch {
	case !s.Mail.Enabled():
		return MailNote{Reason: mail.ErrOff.Error()}
	case c.Email == "":
		return MailNote{Reason: "the customer has no e-mail address"}
	}
	return MailNote{To: c.Email}
}

// Terminals ends the console and shell sessions a user opened or that run
// on ctids, their containers, and spends their terminal tickets.
type Terminals interface {
	EndUser(userID int64, ctids []int)
}

// NewCustomer is a customer account to make; Password nil: none yet (a
// password link sets it).
type NewCustomer struct {
	Username   string
	ExternalID *string
	Email      string
	Name       string
	Password   *string
}

// Create makes a customer account (staff).
func (s *Service) Create(ctx context.Context, p db.Principal, in NewCustomer) (db.Customer, error) {
	c, _, err := s.create(ctx, p, in, "")
	return c, err
}

// CreateWelcomed is Create that also, when mail is on and the customer
// has an e-mail address, makes a password link and queues a welcome mail
// with their sign-in name and the link, in the same transaction.
// linkBase is the panel's URL the links start with.
func (s *Service) CreateWelcomed(ctx context.Context, p db.Principal, in NewCustomer, linkBase string) (db.Customer, MailNote, error) {
	return s.create(ctx, p, in, linkBase)
}

func (s *Service) create(ctx context.Context, p db.Principal, in NewCustomer, linkBase string) (db.Customer, MailNote, error) {
	if err := policy.RequireStaff(p); err != nil {
		return db.Customer{}, MailNote{}, err
	}
	f := domain.FieldErrors{}
	policy.CheckName(f, "username", in.Username)
	if in.ExternalID != nil {
		policy.CheckExternalID(f, "external_id", *in.ExternalID)
	}
	policy.CheckEmail(f, "email", in.Email)
	policy.CheckDescription(f, "name", in.Name)
	if in.Password != nil {
		policy.CheckPanelPassword(f, "password", *in.Password)
	}
	if err := f.Err(); err != nil {
		return db.Customer{}, MailNote{}, err
	}
	hash := ""
	if in.Password != nil {
		var err error
		if hash, err = policy.HashPanelPassword(*in.Password); err != nil {
			return db.Customer{}, MailNote{}, err
		}
	}
	var c db.Customer
	var note MailNote
	err := s.Store.InTx(ctx, func(_ pgx.Tx, q *db.Queries) error {
		var err error
		c, err = q.CreateCustomer(ctx, db.Customer{Username: in.Username, ExternalID: in.ExternalID, Email: in.Email, Name: in.Name}, hash)
		if err != nil || linkBase == "" {
			return err
		}
		if note = s.mailNote(c); note.To == "" {
			return nil
		}
		secret, exp, err := q.CreatePasswordLink(ctx, c.ID, DefaultLinkHours*time.Hour, p.Actor())
		if err != nil {
			return err
		}
		return s.Mail.Queue(ctx, q, mail.WelcomeMail(c, linkBase+SetPasswordPath(secret), exp, linkBase+"/login"))
	})
	if err != nil {
		return c, MailNote{}, err
	}
	s.Mail.Wake()
	s.audit(ctx, p, "customer.create", map[string]any{"customer": c.ID, "username": c.Username, "welcome_mailed_to": note.To})
	return c, note, nil
}

// List lists customers, those with externalID only when it is set (staff).
func (s *Service) List(ctx context.Context, p db.Principal, externalID string) ([]db.Customer, error) {
	if err := policy.RequireStaff(p); err != nil {
		return nil, err
	}
	return s.Store.ListCustomers(ctx, externalID)
}

// Get finds customer id (staff); id is as the caller wrote it.
func (s *Service) Get(ctx context.Context, p db.Principal, id string) (db.Customer, error) {
	if err := policy.RequireStaff(p); err != nil {
		return db.Customer{}, err
	}
	n, err := domain.ParseID("customer", id)
	if err != nil {
		return db.Customer{}, err
	}
	c, err := s.Store.GetCustomer(ctx, n)
	if errors.Is(err, db.ErrNotFound) {
		return c, domain.NotFound("customer %d does not exist", n)
	}
	return c, err
}

// Change is a customer's fields to change; nil leaves one as it is.
type Change struct {
	Email      *string
	Name       *string
	ExternalID *string
	Disabled   *bool
	Password   *string
}

// Update changes customer id (staff) and returns them as they are now.
func (s *Service) Update(ctx context.Context, p db.Principal, id string, in Change) (db.Customer, error) {
	if err := policy.RequireStaff(p); err != nil {
		return db.Customer{}, err
	}
	f := domain.FieldErrors{}
	if in.Email != nil {
		policy.CheckEmail(f, "email", *in.Email)
	}
	if in.Name != nil {
		policy.CheckDescription(f, "name", *in.Name)
	}
	if in.ExternalID != nil {
		policy.CheckExternalID(f, "external_id", *in.ExternalID)
	}
	if in.Password != nil {
		policy.CheckPanelPassword(f, "password", *in.Password)
	}
	if err := f.Err(); err != nil {
		return db.Customer{}, err
	}
	c, err := s.Get(ctx, p, id)
	if err != nil {
		return c, err
	}
	u := db.CustomerUpdate{Email: in.Email, Name: in.Name, ExternalID: in.ExternalID, Disabled: in.Disabled}
	if in.Password != nil {
		h, err := policy.HashPanelPassword(*in.Password)
		if err != nil {
			return c, err
		}
		u.PasswordHash = &h
	}
	if err := s.Store.UpdateCustomer(ctx, c.ID, u); err != nil {
		return c, err
	}
	if in.Disabled != nil && *in.Disabled {
		// A disabled customer is signed out everywhere at once, their
		// consoles and shells included.
		if err := s.Store.DeleteUserSessions(ctx, c.ID, nil); err != nil {
			return c, err
		}
		if s.Terminals != nil {
			owned, err := s.Store.ListContainers(ctx, &c.ID)
			if err != nil {
				return c, err
			}
			ctids := make([]int, 0, len(owned))
			for _, ct := range owned {
				ctids = append(ctids, ct.CTID)
			}
			s.Terminals.EndUser(c.ID, ctids)
		}
	}
	details := map[string]any{"customer": c.ID}
	if in.Disabled != nil {
		details["disabled"] = *in.Disabled
	}
	if in.Password != nil {
		details["password"] = true
	}
	s.audit(ctx, p, "customer.update", details)
	return s.Store.GetCustomer(ctx, c.ID)
}

// Delete removes customer id (staff): refused while they own containers.
func (s *Service) Delete(ctx context.Context, p db.Principal, id string) error {
	c, err := s.Get(ctx, p, id)
	if err != nil {
		return err
	}
	err = s.Store.DeleteCustomer(ctx, c.ID)
	if errors.Is(err, db.ErrInUse) {
		return domain.Conflict("customer %d owns %d container(s); terminate them first", c.ID, c.Containers)
	}
	if err == nil {
		s.audit(ctx, p, "customer.delete", map[string]any{"customer": c.ID, "username": c.Username})
	}
	return err
}

// Bounds of a password link's life, in hours.
const (
	DefaultLinkHours = 72
	MaxLinkHours     = 30 * 24
)

// PasswordLink is a one-time link's secret, shown once.
type PasswordLink struct {
	Customer  db.Customer
	Token     string
	Path      string
	ExpiresAt time.Time
	// Mail says whether SendPasswordLink queued it for the customer.
	Mail MailNote
}

// CreatePasswordLink (staff) makes a one-time link with which customer id
// sets their own panel password, valid for hours (nil: the default).
func (s *Service) CreatePasswordLink(ctx context.Context, p db.Principal, id string, hours *int) (PasswordLink, error) {
	return s.passwordLink(ctx, p, id, hours, "")
}

// SendPasswordLink is CreatePasswordLink that also queues the link in a
// mail to the customer when mail is on and they have an e-mail address
// (PasswordLink.Mail says which). linkBase is the panel's URL the link
// starts with.
func (s *Service) SendPasswordLink(ctx context.Context, p db.Principal, id string, linkBase string) (PasswordLink, error) {
	return s.passwordLink(ctx, p, id, nil, linkBase)
}

func (s *Service) passwordLink(ctx context.Context, p db.Principal, id string, hours *int, linkBase string) (PasswordLink, error) {
	h := DefaultLinkHours
	if hours != nil {
		h = *hours
		if h < 1 || h > MaxLinkHours {
			return PasswordLink{}, domain.FieldErrors{"valid_hours": "must be 1 to 720 (30 days)"}.Err()
		}
	}
	c, err := s.Get(ctx, p, id)
	if err != nil {
		return PasswordLink{}, err
	}
	if c.Disabled {
		return PasswordLink{}, domain.Conflict("customer %d is disabled: enable them first", c.ID)
	}
	var l PasswordLink
	err = s.Store.InTx(ctx, func(_ pgx.Tx, q *db.Queries) error {
		secret, exp, err := q.CreatePasswordLink(ctx, c.ID, time.Duration(h)*time.Hour, p.Actor())
		if err != nil {
			return err
		}
		l = PasswordLink{Customer: c, Token: secret, Path: SetPasswordPath(secret), ExpiresAt: exp.UTC()}
		if linkBase == "" {
			return nil
		}
		if l.Mail = s.mailNote(c); l.Mail.To == "" {
			return nil
		}
		return s.Mail.Queue(ctx, q, mail.PasswordLinkMail(c, linkBase+l.Path, l.ExpiresAt))
	})
	if err != nil {
		return PasswordLink{}, err
	}
	s.Mail.Wake()
	s.audit(ctx, p, "customer.password_link", map[string]any{"customer": c.ID, "mailed_to": l.Mail.To})
	return l, nil
}

// SetPasswordPath is the web panel's page a password link opens.
func SetPasswordPath(token string) string {
	return "/set-password?token=" + url.QueryEscape(token)
}

// ErrLinkInvalid: a password link used already, expired, or never issued.
var ErrLinkInvalid = db.ErrLinkInvalid

// PasswordLinkFor finds the live link of token.
func (s *Service) PasswordLinkFor(ctx context.Context, token string) (db.PasswordLink, error) {
	return s.Store.PasswordLinkFor(ctx, token)
}

// RedeemPasswordLink sets the password of the link's customer (password
// twice, as typed), spends the link and ends the customer's sessions.
func (s *Service) RedeemPasswordLink(ctx context.Context, token, password, confirm string) error {
	l, err := s.Store.PasswordLinkFor(ctx, token)
	if err != nil {
		return err
	}
	f := domain.FieldErrors{}
	policy.CheckPanelPassword(f, "password", password)
	if password != confirm {
		f.Add("confirm", "does not match the password")
	}
	if err := f.Err(); err != nil {
		return err
	}
	hash, err := policy.HashPanelPassword(password)
	if err != nil {
		return err
	}
	if _, err := s.Store.RedeemPasswordLink(ctx, token, hash); err != nil {
		return err
	}
	id := l.UserID
	_ = s.Store.Audit(ctx, db.AuditEntry{Actor: l.Username + " (password link)", ActorRole: db.RoleCustomer,
		Action: "user.password_set", Details: map[string]any{"user_id": id}})
	return nil
}

// ChangeOwnPassword changes the password of the signed-in user userID
// after checking the current one, and ends their other sessions (all but
// keepSession).
func (s *Service) ChangeOwnPassword(ctx context.Context, p db.Principal, userID int64, keepSession []byte, current, password, confirm string) error {
	hash, err := s.Store.PasswordHash(ctx, userID)
	if err != nil {
		return err
	}
	f := domain.FieldErrors{}
	if current == "" {
		f.Add("current", "enter your current password")
	} else if bcrypt.CompareHashAndPassword([]byte(hash), []byte(current)) != nil {
		f.Add("current", "this is not your current password")
	}
	policy.CheckPanelPassword(f, "password", password)
	if password != confirm {
		f.Add("confirm", "does not match the new password")
	}
	if err := f.Err(); err != nil {
		return err
	}
	newHash, err := policy.HashPanelPassword(password)
	if err != nil {
		return err
	}
	if err := s.Store.SetPassword(ctx, userID, newHash); err != nil {
		return err
	}
	if err := s.Store.DeleteUserSessions(ctx, userID, keepSession); err != nil {
		return err
	}
	s.audit(ctx, p, "user.password", map[string]any{"user": p.Username})
	return nil
}

// NewStaff is a staff or admin account to make.
type NewStaff struct {
	Username, Name, Email, Role, Password string
}

// CreateStaff makes a staff or admin account (admin).
func (s *Service) CreateStaff(ctx context.Context, p db.Principal, in NewStaff) (db.Account, error) {
	if err := policy.RequireAdmin(p); err != nil {
		return db.Account{}, err
	}
	f := domain.FieldErrors{}
	policy.CheckName(f, "username", in.Username)
	policy.CheckEmail(f, "email", in.Email)
	policy.CheckDescription(f, "name", in.Name)
	if in.Role != db.RoleAdmin && in.Role != db.RoleStaff {
		f.Add("role", "must be admin or staff")
	}
	policy.CheckPanelPassword(f, "password", in.Password)
	if err := f.Err(); err != nil {
		return db.Account{}, err
	}
	hash, err := policy.HashPanelPassword(in.Password)
	if err != nil {
		return db.Account{}, err
	}
	acc, err := s.Store.CreateAccount(ctx, db.Account{Username: in.Username, Email: in.Email, Name: in.Name, Role: in.Role}, hash)
	var ce *db.ConflictError
	if errors.As(err, &ce) {
		return acc, domain.FieldErrors{"username": "already taken"}.Err()
	}
	if err != nil {
		return acc, err
	}
	s.audit(ctx, p, "user.create", map[string]any{"user": acc.Username, "role": acc.Role})
	return acc, nil
}

// ListStaff lists the staff and admin accounts (admin).
func (s *Service) ListStaff(ctx context.Context, p db.Principal) ([]db.Account, error) {
	if err := policy.RequireAdmin(p); err != nil {
		return nil, err
	}
	return s.Store.ListStaffAccounts(ctx)
}

// SetStaffDisabled disables or enables staff account id (admin); an
// admin cannot disable themself, so there is always someone to undo it.
// A disabled account's sessions end.
func (s *Service) SetStaffDisabled(ctx context.Context, p db.Principal, id string, disabled bool) error {
	if err := policy.RequireAdmin(p); err != nil {
		return err
	}
	n, err := domain.ParseID("user", id)
	if err != nil {
		return err
	}
	acc, err := s.Store.GetAccount(ctx, n)
	if errors.Is(err, db.ErrNotFound) || (err == nil && acc.Role != db.RoleAdmin && acc.Role != db.RoleStaff) {
		return domain.NotFound("user %q does not exist", id)
	}
	if err != nil {
		return err
	}
	if disabled && p.UserID != nil && *p.UserID == n {
		return domain.Conflict("You cannot disable your own account.")
	}
	if err := s.Store.SetAccountDisabled(ctx, n, disabled); err != nil {
		return err
	}
	action := "user.enable"
	if disabled {
		action = "user.disable"
		_ = s.Store.DeleteUserSessions(ctx, n, nil)
	}
	s.audit(ctx, p, action, map[string]any{"user": acc.Username})
	return nil
}

// audit records an account change; the change stands even when its
// audit entry cannot be written (it is logged).
func (s *Service) audit(ctx context.Context, p db.Principal, action string, details map[string]any) {
	domain.AuditOutside(ctx, s.Store, s.Log, p, action, details)
}
