package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// TOTP is a user's second sign-in factor: a TOTP secret, enabled once
// the user confirmed a code made with it.
type TOTP struct {
	UserID    int64
	Secret    string
	Enabled   bool
	EnabledAt *time.Time
	// LastStep is the time step of the last code accepted.
	LastStep int64
	// RecoveryLeft counts the unused recovery codes.
	RecoveryLeft int
}

// GetTOTP finds a user's TOTP row: ErrNotFound when they never started
// setting it up (or turned it off).
func (q *Queries) GetTOTP(ctx context.Context, userID int64) (TOTP, error) {
	var t TOTP
	err := q.db.QueryRow(ctx, `SELECT t.user_id, t.secret, t.enabled, t.enabled_at, t.last_step,
		(SELECT count(*) FROM totp_recovery_codes c WHERE c.user_id = t.user_id AND c.used_at IS NULL)
		FROM user_totp t WHERE t.user_id = $1`, userID).
		Scan(&t.UserID, &t.Secret, &t.Enabled, &t.EnabledAt, &t.LastStep, &t.RecoveryLeft)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("store: totp of user %d: %w", userID, err)
	}
	return t, nil
}

// BeginTOTP stores a new secret for a user setting TOTP up (replacing one
// not yet confirmed): ErrConflict when theirs is enabled already.
func (q *Queries) BeginTOTP(ctx context.Context, userID int64, secret string) error {
	tag, err := q.db.Exec(ctx, `INSERT INTO user_totp (user_id, secret) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET secret = EXCLUDED.secret, last_step = 0, created_at = now()
		WHERE NOT user_totp.enabled`, userID, secret)
	if err != nil {
		return fmt.Errorf("store: begin totp of user %d: %w", userID, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrConflict
	}
	return nil
}

// AcceptTOTPCode checks a code under the lock of the user's TOTP row (in
// the state enabled says: ErrNotFound otherwise): match gets the secret
// and the last step accepted and answers the step the code belongs to,
// 0 for none. A step later than the last one is recorded, so the same
// code cannot be accepted twice even by requests racing each other.
// With recovery set (confirming a new setup) the row is enabled and its
// recovery codes replaced by those hashes, in the same transaction.
func (s *Store) AcceptTOTPCode(ctx context.Context, userID int64, enabled bool, match func(secret string, lastStep int64) int64, recovery [][]byte) (bool, error) {
	accepted := false
	err := s.InTx(ctx, func(tx pgx.Tx, q *Queries) error {
		var secret string
		var last int64
		err := tx.QueryRow(ctx, `SELECT secret, last_step FROM user_totp WHERE user_id = $1 AND enabled = $2 FOR UPDATE`,
			userID, enabled).Scan(&secret, &last)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("store: lock totp of user %d: %w", userID, err)
		}
		step := match(secret, last)
		if step <= last {
			return nil
		}
		accepted = true
		if _, err := tx.Exec(ctx, `UPDATE user_totp SET last_step = $2, enabled = enabled OR $3,
			enabled_at = CASE WHEN NOT enabled AND $3 THEN now() ELSE enabled_at END WHERE user_id = $1`, userID, step, recovery != nil); err != nil {
			return fmt.Errorf("store: totp step of user %d: %w", userID, err)
		}
		if recovery != nil {
			return q.ReplaceRecoveryCodes(ctx, userID, recovery)
		}
		return nil
	})
	return accepted, err
}

// ReplaceRecoveryCodes drops a user's recovery codes, used or not, and
// stores the hashes of new ones. Call it in a transaction.
func (q *Queries) ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes [][]byte) error {
	if _, err := q.db.Exec(ctx, `DELETE FROM totp_recovery_codes WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("store: drop recovery codes of user %d: %w", userID, err)
	}
	if _, err := q.db.Exec(ctx, `INSERT INTO totp_recovery_codes (user_id, code_hash) SELECT $1, h FROM unnest($2::bytea[]) h`,
		userID, hashes); err != nil {
		return fmt.Errorf("store: recovery codes of user %d: %w", userID, err)
	}
	return nil
}

// RegenerateRecoveryCodes replaces the recovery codes of a user whose
// TOTP is enabled (ErrNotFound otherwise).
func (s *Store) RegenerateRecoveryCodes(ctx context.Context, userID int64, hashes [][]byte) error {
	return s.InTx(ctx, func(tx pgx.Tx, q *Queries) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM user_totp WHERE user_id = $1 AND enabled FOR UPDATE`, userID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("store: lock totp of user %d: %w", userID, err)
		}
		return q.ReplaceRecoveryCodes(ctx, userID, hashes)
	})
}

// UseRecoveryCode spends one of a user's unused recovery codes, by its
// hash; false when there is no such code (or TOTP is off).
func (q *Queries) UseRecoveryCode(ctx context.Context, userID int64, hash []byte) (bool, error) {
	tag, err := q.db.Exec(ctx, `UPDATE totp_recovery_codes c SET used_at = now()
		WHERE c.user_id = $1 AND c.code_hash = $2 AND c.used_at IS NULL
		  AND EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = c.user_id AND t.enabled)`, userID, hash)
	if err != nil {
		return false, fmt.Errorf("store: use recovery code of user %d: %w", userID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// DeleteTOTP turns a user's TOTP off: its secret, recovery codes and
// half-done sign-ins go. It says whether it was enabled.
func (s *Store) DeleteTOTP(ctx context.Context, userID int64) (bool, error) {
	was := false
	err := s.InTx(ctx, func(tx pgx.Tx, q *Queries) error {
		err := tx.QueryRow(ctx, `DELETE FROM user_totp WHERE user_id = $1 RETURNING enabled`, userID).Scan(&was)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: delete totp of user %d: %w", userID, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM totp_recovery_codes WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("store: delete recovery codes of user %d: %w", userID, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM login_challenges WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("store: delete login challenges of user %d: %w", userID, err)
		}
		return nil
	})
	return was, err
}

// TOTPEnabledAmong says which of the users have TOTP enabled.
func (q *Queries) TOTPEnabledAmong(ctx context.Context, ids []int64) (map[int64]bool, error) {
	rows, err := q.db.Query(ctx, `SELECT user_id FROM user_totp WHERE enabled AND user_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("store: totp of users: %w", err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: totp of users: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// StaffTOTPRequired says whether staff accounts must use TOTP.
func (q *Queries) StaffTOTPRequired(ctx context.Context) (bool, error) {
	var on bool
	err := q.db.QueryRow(ctx, `SELECT require_staff_totp FROM auth_settings`).Scan(&on)
	if err != nil {
		return false, fmt.Errorf("store: auth settings: %w", err)
	}
	return on, nil
}

// SetStaffTOTPRequired records whether staff accounts must use TOTP, and
// who said so.
func (q *Queries) SetStaffTOTPRequired(ctx context.Context, on bool, by string) error {
	_, err := q.db.Exec(ctx, `UPDATE auth_settings SET require_staff_totp = $1, updated_at = now(), updated_by = $2`, on, by)
	if err != nil {
		return fmt.Errorf("store: set auth settings: %w", err)
	}
	return nil
}

// LoginChallenge is a sign-in half done: the password was right, the
// second factor is awaited.
type LoginChallenge struct {
	UserID    int64
	Username  string
	Role      string
	Next      string
	Attempts  int
	ExpiresAt time.Time
}

// CreateLoginChallenge stores a half-done sign-in under the hash of its
// cookie's secret.
func (q *Queries) CreateLoginChallenge(ctx context.Context, idHash []byte, userID int64, next string, expires time.Time) error {
	_, err := q.db.Exec(ctx, `INSERT INTO login_challenges (id_hash, user_id, next, expires_at) VALUES ($1, $2, $3, $4)`,
		idHash, userID, next, expires)
	if err != nil {
		return fmt.Errorf("store: login challenge for user %d: %w", userID, err)
	}
	if _, err := q.db.Exec(ctx, `DELETE FROM login_challenges WHERE expires_at <= now()`); err != nil {
		return fmt.Errorf("store: delete stale login challenges: %w", err)
	}
	return nil
}

const challengeCols = `c.user_id, u.username, u.role, c.next, c.attempts, c.expires_at`

func scanChallenge(row pgx.Row) (LoginChallenge, error) {
	var c LoginChallenge
	err := row.Scan(&c.UserID, &c.Username, &c.Role, &c.Next, &c.Attempts, &c.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// GetLoginChallenge finds a live challenge: unexpired, with attempts
// left (fewer than most), its user not disabled; ErrNotFound otherwise.
func (q *Queries) GetLoginChallenge(ctx context.Context, idHash []byte, most int) (LoginChallenge, error) {
	c, err := scanChallenge(q.db.QueryRow(ctx, `SELECT `+challengeCols+` FROM login_challenges c JOIN users u ON u.id = c.user_id
		WHERE c.id_hash = $1 AND c.expires_at > now() AND c.attempts < $2 AND NOT u.disabled`, idHash, most))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return c, fmt.Errorf("store: login challenge: %w", err)
	}
	return c, err
}

// AttemptLoginChallenge counts an attempt at a live challenge before its
// code is checked (so parallel guesses cannot all pass the count) and
// returns it with the attempts made; ErrNotFound when it is not live.
func (q *Queries) AttemptLoginChallenge(ctx context.Context, idHash []byte, most int) (LoginChallenge, error) {
	c, err := scanChallenge(q.db.QueryRow(ctx, `UPDATE login_challenges c SET attempts = c.attempts + 1 FROM users u
		WHERE u.id = c.user_id AND c.id_hash = $1 AND c.expires_at > now() AND c.attempts < $2 AND NOT u.disabled
		RETURNING `+challengeCols, idHash, most))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return c, fmt.Errorf("store: attempt login challenge: %w", err)
	}
	return c, err
}

// TakeLoginChallenge removes an unexpired challenge and returns it, once:
// two requests racing with it cannot both have it.
func (q *Queries) TakeLoginChallenge(ctx context.Context, idHash []byte) (LoginChallenge, error) {
	c, err := scanChallenge(q.db.QueryRow(ctx, `DELETE FROM login_challenges c USING users u
		WHERE u.id = c.user_id AND c.id_hash = $1 AND c.expires_at > now() AND NOT u.disabled
		RETURNING `+challengeCols, idHash))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return c, fmt.Errorf("store: take login challenge: %w", err)
	}
	return c, err
}

// DeleteLoginChallenge drops a challenge (cancelled sign-in).
func (q *Queries) DeleteLoginChallenge(ctx context.Context, idHash []byte) error {
	if _, err := q.db.Exec(ctx, `DELETE FROM login_challenges WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("store: delete login challenge: %w", err)
	}
	return nil
}
