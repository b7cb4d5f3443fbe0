package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Account is a user who can sign in to the web panel: staff (roles admin
// and staff) or a customer.
type Account struct {
	ID          int64
	Username    string
	Email       string
	Name        string
	Role        string
	Disabled    bool
	HasPassword bool
	CreatedAt   time.Time
}

const accountCols = `id, username, email, full_name, role, disabled, password_hash <> '', created_at`

func scanAccount(row pgx.Row) (Account, error) {
	var a Account
	err := row.Scan(&a.ID, &a.Username, &a.Email, &a.Name, &a.Role, &a.Disabled, &a.HasPassword, &a.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ErrNotFound
	}
	return a, err
}

// GetAccount finds a user by id.
func (q *Queries) GetAccount(ctx context.Context, id int64) (Account, error) {
	a, err := scanAccount(q.db.QueryRow(ctx, `SELECT `+accountCols+` FROM users WHERE id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return a, fmt.Errorf("store: get account %d: %w", id, err)
	}
	return a, err
}

// AccountForLogin finds a user by username with their password hash
// (empty when they have none and so cannot sign in).
func (q *Queries) AccountForLogin(ctx context.Context, username string) (Account, string, error) {
	var hash string
	var a Account
	err := q.db.QueryRow(ctx, `SELECT `+accountCols+`, password_hash FROM users WHERE username = $1`, username).
		Scan(&a.ID, &a.Username, &a.Email, &a.Name, &a.Role, &a.Disabled, &a.HasPassword, &a.CreatedAt, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, "", ErrNotFound
	}
	if err != nil {
		return a, "", fmt.Errorf("store: account %q for login: %w", username, err)
	}
	return a, hash, nil
}

// PasswordHash returns a user's password hash.
func (q *Queries) PasswordHash(ctx context.Context, id int64) (string, error) {
	var hash string
	err := q.db.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, id).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: password of user %d: %w", id, err)
	}
	return hash, nil
}

// SetPassword replaces a user's password hash.
func (q *Queries) SetPassword(ctx context.Context, id int64, hash string) error {
	tag, err := q.db.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, hash)
	if err != nil {
		return fmt.Errorf("store: set password of user %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// ListStaffAccounts lists the users of roles admin and staff by username.
func (q *Queries) ListStaffAccounts(ctx context.Context) ([]Account, error) {
	rows, err := q.db.Query(ctx, `SELECT `+accountCols+` FROM users WHERE role IN ('admin', 'staff') ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("store: list staff: %w", err)
	}
	defer rows.Close()
	out := []Account{}
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list staff: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// CreateAccount adds a user with a password hash.
func (q *Queries) CreateAccount(ctx context.Context, a Account, passwordHash string) (Account, error) {
	out, err := scanAccount(q.db.QueryRow(ctx, `INSERT INTO users (username, email, full_name, role, password_hash)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+accountCols, a.Username, a.Email, a.Name, a.Role, passwordHash))
	if _, ok := uniqueViolation(err); ok {
		return out, &ConflictError{Field: "username"}
	}
	if err != nil {
		return out, fmt.Errorf("store: create account %q: %w", a.Username, err)
	}
	return out, nil
}

// SetAccountDisabled disables or enables a user; a disabled user's
// sessions and tokens stop working.
func (q *Queries) SetAccountDisabled(ctx context.Context, id int64, disabled bool) error {
	tag, err := q.db.Exec(ctx, `UPDATE users SET disabled = $2 WHERE id = $1`, id, disabled)
	if err != nil {
		return fmt.Errorf("store: disable user %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// CountAdminsWithPassword counts admins who can sign in to the panel
// (or could, once enabled again).
func (q *Queries) CountAdminsWithPassword(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRow(ctx, `SELECT count(*) FROM users WHERE role = 'admin' AND password_hash <> ''`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count admins: %w", err)
	}
	return n, nil
}
