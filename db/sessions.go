package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Session is a signed-in web panel user, found by the hash of the
// secret in their cookie.
type Session struct {
	UserID     int64
	Username   string
	Role       string
	CSRFToken  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	// TOTPEnabled: the user signs in with a second factor;
	// StaffTOTPRequired: the panel requires one of staff (the pages send
	// staff without one to set it up).
	TOTPEnabled       bool
	StaffTOTPRequired bool
}

// NewSession describes a session to store.
type NewSession struct {
	IDHash    []byte
	UserID    int64
	CSRFToken string
	UserAgent string
	IP        string
	ExpiresAt time.Time
}

// CreateSession stores a new session.
func (q *Queries) CreateSession(ctx context.Context, s NewSession) error {
	_, err := q.db.Exec(ctx, `INSERT INTO sessions (id_hash, user_id, csrf_token, user_agent, ip, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, s.IDHash, s.UserID, s.CSRFToken, s.UserAgent, s.IP, s.ExpiresAt)
	if err != nil {
		return fmt.Errorf("store: create session for user %d: %w", s.UserID, err)
	}
	return nil
}

// UseSession finds a live session and marks it seen now. A session past
// its absolute expiry, idle for longer than idle, or whose user is
// disabled is ErrNotFound.
func (q *Queries) UseSession(ctx context.Context, idHash []byte, idle time.Duration) (Session, error) {
	var s Session
	err := q.db.QueryRow(ctx, `UPDATE sessions s SET last_seen_at = now()
		FROM users u
		WHERE u.id = s.user_id AND s.id_hash = $1 AND NOT u.disabled
		  AND s.expires_at > now() AND s.last_seen_at > now() - $2::interval
		RETURNING s.user_id, u.username, u.role, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at,
		  EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id AND t.enabled),
		  COALESCE((SELECT require_staff_totp FROM auth_settings), false)`, idHash, idle).
		Scan(&s.UserID, &s.Username, &s.Role, &s.CSRFToken, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &s.TOTPEnabled, &s.StaffTOTPRequired)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("store: use session: %w", err)
	}
	return s, nil
}

// DeleteSession ends one session (log out).
func (q *Queries) DeleteSession(ctx context.Context, idHash []byte) error {
	if _, err := q.db.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends every session of a user but the one whose hash
// is keep (nil keeps none): after a password change or when the account is
// disabled.
func (q *Queries) DeleteUserSessions(ctx context.Context, userID int64, keep []byte) error {
	_, err := q.db.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND ($2::bytea IS NULL OR id_hash <> $2)`, userID, keep)
	if err != nil {
		return fmt.Errorf("store: delete sessions of user %d: %w", userID, err)
	}
	return nil
}

// DeleteStaleSessions removes sessions that can no longer be used.
func (q *Queries) DeleteStaleSessions(ctx context.Context, idle time.Duration) (int64, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= now() OR last_seen_at <= now() - $1::interval`, idle)
	if err != nil {
		return 0, fmt.Errorf("store: delete stale sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}
