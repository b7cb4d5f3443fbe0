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

// Roles of users and tokens.
const (
	RoleAdmin    = "admin"
	RoleStaff    = "staff"
	RoleBilling  = "billing"
	RoleCustomer = "customer"
)

// Principal is who is calling: resolved from an API token.
type Principal struct {
	TokenID   int64
	TokenName string
	Role      string
	UserID    *int64
	Username  string
	// Session is set when the caller signed in to the web panel (a
	// session cookie) rather than sending a token; TokenID is then 0.
	Session bool
	// ReadOnly narrows a token to reading (GET, read-only terminal
	// views).
	ReadOnly bool
	// ScopeOwner narrows a staff or billing token to the containers of
	// one customer (and that customer's record).
	ScopeOwner     *int64
	ScopeOwnerName string
}

// IsStaff is true for roles that see the whole farm.
func (p Principal) IsStaff() bool {
	return p.Role == RoleAdmin || p.Role == RoleStaff || p.Role == RoleBilling
}

// Actor names the principal in operations and the audit log.
func (p Principal) Actor() string {
	if p.Session {
		return p.Username + " (web)"
	}
	if p.Username != "" {
		return p.Username + " (token " + p.TokenName + ")"
	}
	return "token " + p.TokenName
}

// HashToken is how tokens are stored: only the SHA-256 of the secret.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// NewTokenSecret makes a random token string with a recognisable prefix.
func NewTokenSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: random: %w", err)
	}
	return "ctp_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// CreateToken stores a new token and returns its secret, which is not
// stored and cannot be shown again.
func (q *Queries) CreateToken(ctx context.Context, name, role string, userID *int64, expires *time.Time) (int64, string, error) {
	return q.CreateScopedToken(ctx, name, role, userID, expires, false, nil)
}

// CreateScopedToken is CreateToken with a token's narrowing: read-only,
// and to one customer's containers (scopeOwner).
func (q *Queries) CreateScopedToken(ctx context.Context, name, role string, userID *int64, expires *time.Time, readOnly bool, scopeOwner *int64) (int64, string, error) {
	secret, err := NewTokenSecret()
	if err != nil {
		return 0, "", err
	}
	var id int64
	err = q.db.QueryRow(ctx, `INSERT INTO api_tokens (name, role, user_id, token_hash, expires_at, read_only, scope_owner_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, name, role, userID, HashToken(secret), expires, readOnly, scopeOwner).Scan(&id)
	if err != nil {
		return 0, "", fmt.Errorf("store: create token %q: %w", name, err)
	}
	return id, secret, nil
}

// LookupToken resolves a token secret to a principal; ErrNotFound when the
// token is unknown, revoked or expired.
func (q *Queries) LookupToken(ctx context.Context, secret string) (Principal, error) {
	var p Principal
	var username *string
	var lastUsed *time.Time
	var scopeName *string
	err := q.db.QueryRow(ctx, `SELECT t.id, t.name, t.role, t.user_id, u.username, t.last_used_at,
		       t.read_only, t.scope_owner_id, s.username
		FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id
		     LEFT JOIN users s ON s.id = t.scope_owner_id
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL
		  AND (t.expires_at IS NULL OR t.expires_at > now())
		  AND (u.id IS NULL OR NOT u.disabled)`, HashToken(secret)).
		Scan(&p.TokenID, &p.TokenName, &p.Role, &p.UserID, &username, &lastUsed, &p.ReadOnly, &p.ScopeOwner, &scopeName)
	if scopeName != nil {
		p.ScopeOwnerName = *scopeName
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ErrNotFound
	}
	if err != nil {
		return p, fmt.Errorf("store: lookup token: %w", err)
	}
	if username != nil {
		p.Username = *username
	}
	// last_used_at is for people reading the token list: a minute's
	// precision spares a write on every request.
	if lastUsed == nil || time.Since(*lastUsed) > time.Minute {
		if _, err := q.db.Exec(ctx, `UPDATE api_tokens SET last_used_at = now() WHERE id = $1`, p.TokenID); err != nil {
			return p, fmt.Errorf("store: token last use: %w", err)
		}
	}
	return p, nil
}

// User is a row of users.
type User struct {
	ID       int64
	Username string
	Email    string
	Role     string
}

// CreateUser adds a user without a password.
func (q *Queries) CreateUser(ctx context.Context, username, email, role string) (User, error) {
	u := User{Username: username, Email: email, Role: role}
	err := q.db.QueryRow(ctx, `INSERT INTO users (username, email, role) VALUES ($1, $2, $3) RETURNING id`,
		username, email, role).Scan(&u.ID)
	if _, ok := uniqueViolation(err); ok {
		return u, &ConflictError{Field: "username"}
	}
	if err != nil {
		return u, fmt.Errorf("store: create user %q: %w", username, err)
	}
	return u, nil
}

// GetUserByName finds a user by username.
func (q *Queries) GetUserByName(ctx context.Context, username string) (User, error) {
	var u User
	err := q.db.QueryRow(ctx, `SELECT id, username, email, role FROM users WHERE username = $1`, username).
		Scan(&u.ID, &u.Username, &u.Email, &u.Role)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, ErrNotFound
	}
	if err != nil {
		return u, fmt.Errorf("store: get user %q: %w", username, err)
	}
	return u, nil
}
