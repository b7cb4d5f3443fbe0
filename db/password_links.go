package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PasswordLinkPrefix starts every password link secret.
const PasswordLinkPrefix = "ctpl_"

// ErrLinkInvalid is a password link secret that is unknown, used or
// expired.
var ErrLinkInvalid = errors.New("the link is unknown, used or expired")

// PasswordLink is a one-time link to set a user's password.
type PasswordLink struct {
	UserID    int64
	Username  string
	ExpiresAt time.Time
}

func linkHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreatePasswordLink makes a one-time secret with which the user sets
// their password until it expires; only its hash is stored.
func (q *Queries) CreatePasswordLink(ctx context.Context, userID int64, valid time.Duration, by string) (string, time.Time, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand does not fail on Linux
	secret := PasswordLinkPrefix + base64.RawURLEncoding.EncodeToString(b)
	var exp time.Time
	err := q.db.QueryRow(ctx, `INSERT INTO password_links (user_id, secret_hash, expires_at, created_by)
		VALUES ($1, $2, now() + $3 * interval '1 second', $4) RETURNING expires_at`,
		userID, linkHash(secret), int64(valid/time.Second), by).Scan(&exp)
	if err != nil {
		return "", exp, fmt.Errorf("store: password link for user %d: %w", userID, err)
	}
	return secret, exp, nil
}

// PasswordLinkFor looks a secret up without using it: ErrLinkInvalid
// unless it is unused, unexpired and its user may still sign in.
func (q *Queries) PasswordLinkFor(ctx context.Context, secret string) (PasswordLink, error) {
	return q.passwordLink(ctx, secret, false)
}

func (q *Queries) passwordLink(ctx context.Context, secret string, lock bool) (PasswordLink, error) {
	var l PasswordLink
	sql := `SELECT l.user_id, u.username, l.expires_at FROM password_links l JOIN users u ON u.id = l.user_id
		WHERE l.secret_hash = $1 AND l.used_at IS NULL AND l.expires_at > now() AND NOT u.disabled AND u.role = 'customer'`
	if lock {
		sql += ` FOR UPDATE OF l`
	}
	err := q.db.QueryRow(ctx, sql, linkHash(secret)).Scan(&l.UserID, &l.Username, &l.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, ErrLinkInvalid
	}
	if err != nil {
		return l, fmt.Errorf("store: password link: %w", err)
	}
	return l, nil
}

// RedeemPasswordLink sets the user's password with a link, once: the link
// and the user's other unused links are spent, and the user's web
// sessions end.
func (s *Store) RedeemPasswordLink(ctx context.Context, secret, hash string) (PasswordLink, error) {
	var l PasswordLink
	err := s.InTx(ctx, func(tx pgx.Tx, q *Queries) error {
		var err error
		if l, err = q.passwordLink(ctx, secret, true); err != nil {
			return err
		}
		if err := q.SetPassword(ctx, l.UserID, hash); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE password_links SET used_at = now() WHERE user_id = $1 AND used_at IS NULL`, l.UserID); err != nil {
			return fmt.Errorf("store: spend password links: %w", err)
		}
		return q.DeleteUserSessions(ctx, l.UserID, nil)
	})
	return l, err
}
