// Package twofactor is the domain of two-factor sign-in to the web
// panel: a TOTP secret (RFC 6238, 30-second steps, 6 digits) a user sets
// up and confirms with a code, one-time recovery codes kept as hashes,
// the check of a sign-in's second step (no code accepted twice), staff
// turning it off for a locked-out user, and the panel's policy that staff
// accounts must use it. API tokens are not concerned: this is for people
// signing in with a browser.
package twofactor

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
)

// The codes: 30-second steps of 6 digits, one step either side accepted
// for clocks that drift; RecoveryCodes one-time codes of recoveryLen
// characters.
const (
	Period        = 30
	skew          = 1
	RecoveryCodes = 10
	recoveryLen   = 12
	// recoveryAlphabet leaves out characters easily misread (0/o, 1/l/i).
	recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"
)

// Service is the two-factor domain.
type Service struct {
	Store *db.Store
	Log   *slog.Logger
	// Issuer names the panel in authenticator apps ("ctpanel" when empty).
	Issuer string
	// Now is the clock codes are checked against (time.Now when nil).
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

var codeOpts = totp.ValidateOpts{Period: Period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// SetupDue is the staff policy: an admin or staff account without
// two-factor sign-in must set it up first when the panel requires it.
// Customers are never made to.
func SetupDue(role string, staffRequired, enabled bool) bool {
	return staffRequired && !enabled && (role == db.RoleAdmin || role == db.RoleStaff)
}

// Status is where a user stands.
type Status struct {
	Enabled   bool
	EnabledAt *time.Time
	// Pending: a secret was made and awaits its first code.
	Pending      bool
	RecoveryLeft int
	// StaffRequired: the panel requires two-factor sign-in of staff.
	StaffRequired bool
	// SetupDue: this user must set it up before anything else.
	SetupDue bool
}

// self is the signed-in user p acts for: the web panel's own person.
func self(p db.Principal) (int64, error) {
	if p.UserID == nil || !p.Session {
		return 0, domain.Forbidden("two-factor sign-in is set up by the signed-in user in the web panel")
	}
	return *p.UserID, nil
}

// StatusOf is p's own status.
func (s *Service) StatusOf(ctx context.Context, p db.Principal) (Status, error) {
	id, err := self(p)
	if err != nil {
		return Status{}, err
	}
	var st Status
	t, err := s.Store.GetTOTP(ctx, id)
	switch {
	case err == nil:
		st.Enabled, st.EnabledAt, st.Pending, st.RecoveryLeft = t.Enabled, t.EnabledAt, !t.Enabled, t.RecoveryLeft
	case !errors.Is(err, db.ErrNotFound):
		return st, err
	}
	if st.StaffRequired, err = s.Store.StaffTOTPRequired(ctx); err != nil {
		return st, err
	}
	st.SetupDue = SetupDue(p.Role, st.StaffRequired, st.Enabled)
	return st, nil
}

// Setup is a new secret to put into an authenticator app: its otpauth://
// URI, the secret as text, and the URI as a QR code (PNG).
type Setup struct {
	Secret string
	URI    string
	QRPNG  []byte
}

func (s *Service) issuer() string {
	if s.Issuer != "" {
		return s.Issuer
	}
	return "ctpanel"
}

// BeginSetup makes p a new secret, replacing one not yet confirmed; a 409
// when p's two-factor sign-in is on already (turn it off first).
func (s *Service) BeginSetup(ctx context.Context, p db.Principal) (Setup, error) {
	id, err := self(p)
	if err != nil {
		return Setup{}, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer(), AccountName: p.Username, Period: Period,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Setup{}, fmt.Errorf("twofactor: generate secret: %w", err)
	}
	if err := s.Store.BeginTOTP(ctx, id, key.Secret()); errors.Is(err, db.ErrConflict) {
		return Setup{}, domain.Conflict("two-factor sign-in is on already; turn it off first to set up a new authenticator")
	} else if err != nil {
		return Setup{}, err
	}
	return s.setupOf(p.Username, key.Secret())
}

// PendingSetup is p's secret awaiting its first code (shown again after
// a wrong one); a 404 when there is none.
func (s *Service) PendingSetup(ctx context.Context, p db.Principal) (Setup, error) {
	id, err := self(p)
	if err != nil {
		return Setup{}, err
	}
	t, err := s.Store.GetTOTP(ctx, id)
	if errors.Is(err, db.ErrNotFound) || (err == nil && t.Enabled) {
		return Setup{}, domain.NotFound("no two-factor setup is waiting for a code")
	}
	if err != nil {
		return Setup{}, err
	}
	return s.setupOf(p.Username, t.Secret)
}

func (s *Service) setupOf(username, secret string) (Setup, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return Setup{}, fmt.Errorf("twofactor: stored secret: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer(), AccountName: username, Period: Period,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Secret: raw})
	if err != nil {
		return Setup{}, fmt.Errorf("twofactor: key: %w", err)
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return Setup{}, fmt.Errorf("twofactor: qr code: %w", err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return Setup{}, fmt.Errorf("twofactor: qr png: %w", err)
	}
	return Setup{Secret: key.Secret(), URI: key.URL(), QRPNG: b.Bytes()}, nil
}

// Enable turns p's two-factor sign-in on with a code from the pending
// secret (a 422 on "code" otherwise) and returns the recovery codes,
// shown once: only their hashes are kept.
func (s *Service) Enable(ctx context.Context, p db.Principal, code string) ([]string, error) {
	id, err := self(p)
	if err != nil {
		return nil, err
	}
	code = normalize(code)
	if msg := totpFormat(code); msg != "" {
		return nil, domain.FieldErrors{"code": msg}.Err()
	}
	codes, hashes, err := newRecoveryCodes(id)
	if err != nil {
		return nil, err
	}
	replayed := false
	ok, err := s.Store.AcceptTOTPCode(ctx, id, false, s.matcher(code, &replayed), hashes)
	if errors.Is(err, db.ErrNotFound) {
		return nil, domain.Conflict("no two-factor setup is waiting for a code: start again")
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, domain.FieldErrors{"code": "this code does not match: check the authenticator app's clock and type the code it shows now"}.Err()
	}
	s.audit(ctx, p, "user.2fa_enable", map[string]any{"user": p.Username})
	return codes, nil
}

// Method is how a second step was passed: "totp" or "recovery".
type Method string

// Second-step methods.
const (
	MethodTOTP     Method = "totp"
	MethodRecovery Method = "recovery"
)

// VerifySignIn checks the second step of user userID's sign-in: a
// current TOTP code not used before, or one of their unused recovery
// codes, which is spent. A wrong one is a 422 on "code".
func (s *Service) VerifySignIn(ctx context.Context, userID int64, code string) (Method, error) {
	return s.verify(ctx, userID, "code", code)
}

func (s *Service) verify(ctx context.Context, userID int64, field, code string) (Method, error) {
	code = normalize(code)
	if code == "" {
		return "", domain.FieldErrors{field: "enter the code from your authenticator app, or a recovery code"}.Err()
	}
	if isDigits(code) {
		if msg := totpFormat(code); msg != "" {
			return "", domain.FieldErrors{field: msg}.Err()
		}
		replayed := false
		ok, err := s.Store.AcceptTOTPCode(ctx, userID, true, s.matcher(code, &replayed), nil)
		if errors.Is(err, db.ErrNotFound) {
			return "", domain.FieldErrors{field: "two-factor sign-in is not on for this account"}.Err()
		}
		if err != nil {
			return "", err
		}
		switch {
		case ok:
			return MethodTOTP, nil
		case replayed:
			return "", domain.FieldErrors{field: "this code was used already: wait for the next one"}.Err()
		}
		return "", domain.FieldErrors{field: "wrong code"}.Err()
	}
	if len(code) != recoveryLen {
		return "", domain.FieldErrors{field: "a code is 6 digits, a recovery code 12 letters and digits"}.Err()
	}
	ok, err := s.Store.UseRecoveryCode(ctx, userID, recoveryHash(userID, code))
	if err != nil {
		return "", err
	}
	if !ok {
		return "", domain.FieldErrors{field: "wrong or used recovery code"}.Err()
	}
	return MethodRecovery, nil
}

// matcher finds the step code belongs to among those around now, later
// than the last one accepted; a code of an accepted step (or older) sets
// *replayed instead.
func (s *Service) matcher(code string, replayed *bool) func(secret string, last int64) int64 {
	return func(secret string, last int64) int64 {
		cur := s.now().Unix() / Period
		for _, step := range []int64{cur, cur - 1, cur + 1}[:1+2*skew] {
			want, err := totp.GenerateCodeCustom(secret, time.Unix(step*Period, 0), codeOpts)
			if err != nil || subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
				continue
			}
			if step <= last {
				*replayed = true
				return 0
			}
			return step
		}
		return 0
	}
}

// confirm checks that p is who they say before turning off or renewing:
// their password, or a current code (or a recovery code).
func (s *Service) confirm(ctx context.Context, id int64, password, code string) error {
	if password == "" && strings.TrimSpace(code) == "" {
		return domain.FieldErrors{"password": "enter your password or a current code",
			"code": "enter a current code or your password"}.Err()
	}
	if password != "" {
		hash, err := s.Store.PasswordHash(ctx, id)
		if err != nil {
			return err
		}
		if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
			return domain.FieldErrors{"password": "this is not your password"}.Err()
		}
		return nil
	}
	_, err := s.verify(ctx, id, "code", code)
	return err
}

// Disable turns p's own two-factor sign-in off, after their password or
// a current code.
func (s *Service) Disable(ctx context.Context, p db.Principal, password, code string) error {
	id, err := self(p)
	if err != nil {
		return err
	}
	if err := s.confirm(ctx, id, password, code); err != nil {
		return err
	}
	was, err := s.Store.DeleteTOTP(ctx, id)
	if err != nil {
		return err
	}
	if was {
		s.audit(ctx, p, "user.2fa_disable", map[string]any{"user": p.Username})
	}
	return nil
}

// CancelSetup drops p's secret awaiting its first code (none is fine).
func (s *Service) CancelSetup(ctx context.Context, p db.Principal) error {
	id, err := self(p)
	if err != nil {
		return err
	}
	t, err := s.Store.GetTOTP(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if t.Enabled {
		return domain.Conflict("two-factor sign-in is on: turn it off with your password or a code")
	}
	_, err = s.Store.DeleteTOTP(ctx, id)
	return err
}

// RegenerateRecoveryCodes replaces p's recovery codes (used or not) with
// new ones, shown once, after their password or a current code.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, p db.Principal, password, code string) ([]string, error) {
	id, err := self(p)
	if err != nil {
		return nil, err
	}
	if err := s.confirm(ctx, id, password, code); err != nil {
		return nil, err
	}
	codes, hashes, err := newRecoveryCodes(id)
	if err != nil {
		return nil, err
	}
	if err := s.Store.RegenerateRecoveryCodes(ctx, id, hashes); errors.Is(err, db.ErrNotFound) {
		return nil, domain.Conflict("two-factor sign-in is not on")
	} else if err != nil {
		return nil, err
	}
	s.audit(ctx, p, "user.2fa_recovery_codes", map[string]any{"user": p.Username})
	return codes, nil
}

// Reset turns off the two-factor sign-in of another user (id as written
// in the path), for one who lost their authenticator: staff may reset a
// customer's, only an admin a staff account's. Nobody resets their own
// here (they turn it off with their password).
func (s *Service) Reset(ctx context.Context, p db.Principal, id string) (db.Account, error) {
	if err := policy.RequireOperator(p); err != nil {
		return db.Account{}, err
	}
	n, err := domain.ParseID("user", id)
	if err != nil {
		return db.Account{}, err
	}
	acc, err := s.Store.GetAccount(ctx, n)
	if errors.Is(err, db.ErrNotFound) {
		return acc, domain.NotFound("user %q does not exist", id)
	}
	if err != nil {
		return acc, err
	}
	if acc.Role != db.RoleCustomer {
		if p.Role != db.RoleAdmin {
			return acc, domain.NotFound("user %q does not exist", id)
		}
		if p.UserID != nil && *p.UserID == n {
			return acc, domain.Conflict("turn your own two-factor sign-in off on your account page, with your password")
		}
	}
	was, err := s.Store.DeleteTOTP(ctx, n)
	if err != nil {
		return acc, err
	}
	if !was {
		return acc, domain.Conflict("%s does not have two-factor sign-in on", acc.Username)
	}
	s.audit(ctx, p, "user.2fa_reset", map[string]any{"user": acc.Username, "user_id": acc.ID, "role": acc.Role})
	return acc, nil
}

// StaffRequired says whether staff accounts must use two-factor sign-in.
func (s *Service) StaffRequired(ctx context.Context) (bool, error) {
	return s.Store.StaffTOTPRequired(ctx)
}

// SetStaffRequired sets the staff policy: any staff member may require
// two-factor sign-in of staff accounts, only an admin may stop requiring
// it. Requiring it of others does not lock the one who sets it out: they
// are sent to set theirs up like everyone else.
func (s *Service) SetStaffRequired(ctx context.Context, p db.Principal, on bool) error {
	if err := policy.RequireOperator(p); err != nil {
		return err
	}
	if !on && p.Role != db.RoleAdmin {
		return domain.Forbidden("only an admin can stop requiring two-factor sign-in of staff")
	}
	was, err := s.Store.StaffTOTPRequired(ctx)
	if err != nil {
		return err
	}
	if was == on {
		return nil
	}
	if err := s.Store.SetStaffTOTPRequired(ctx, on, p.Actor()); err != nil {
		return err
	}
	s.audit(ctx, p, "settings.staff_2fa", map[string]any{"required": on})
	return nil
}

func (s *Service) audit(ctx context.Context, p db.Principal, action string, details map[string]any) {
	domain.AuditOutside(ctx, s.Store, s.Log, p, action, details)
}

// normalize drops what people type between a code's characters.
func normalize(code string) string {
	return strings.ToLower(strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, strings.TrimSpace(code)))
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// totpFormat is what is wrong with a TOTP code's form, "" when nothing.
func totpFormat(code string) string {
	switch {
	case code == "":
		return "enter the 6-digit code your authenticator app shows"
	case !isDigits(code) || len(code) != 6:
		return "a code is 6 digits"
	}
	return ""
}

// newRecoveryCodes makes RecoveryCodes codes as shown (xxxx-xxxx-xxxx)
// and the hashes kept of them.
func newRecoveryCodes(userID int64) ([]string, [][]byte, error) {
	codes := make([]string, 0, RecoveryCodes)
	hashes := make([][]byte, 0, RecoveryCodes)
	seen := map[string]bool{}
	for len(codes) < RecoveryCodes {
		b := make([]byte, recoveryLen)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, fmt.Errorf("twofactor: random: %w", err)
		}
		raw := make([]byte, recoveryLen)
		for i, v := range b {
			// 256 is not a multiple of the alphabet's 31: the bias is
			// a fraction of a bit over 12 characters, of no help.
			raw[i] = recoveryAlphabet[int(v)%len(recoveryAlphabet)]
		}
		c := string(raw)
		if seen[c] {
			continue
		}
		seen[c] = true
		codes = append(codes, c[:4]+"-"+c[4:8]+"-"+c[8:])
		hashes = append(hashes, recoveryHash(userID, c))
	}
	return codes, hashes, nil
}

// recoveryHash is what is kept of a (normalized) recovery code: salted
// with the user, so equal hashes say nothing across users.
func recoveryHash(userID int64, code string) []byte {
	h := sha256.Sum256([]byte("ctpanel-recovery:" + strconv.FormatInt(userID, 10) + ":" + code))
	return h[:]
}

// EnabledFor says whether user userID signs in with a second step (asked
// by the sign-in, before there is a principal).
func (s *Service) EnabledFor(ctx context.Context, userID int64) (bool, error) {
	t, err := s.Store.GetTOTP(ctx, userID)
	if errors.Is(err, db.ErrNotFound) {
		return false, nil
	}
	return err == nil && t.Enabled, err
}
