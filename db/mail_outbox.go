package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// OutgoingMail is one message in the mail outbox.
type OutgoingMail struct {
	ID            int64
	Kind          string // password_link, welcome, alert, test
	To            string
	Subject       string
	Body          string // plain text
	HTML          string // optional HTML alternative
	Attempts      int
	NextAttemptAt time.Time
	SentAt        *time.Time
	FailedAt      *time.Time
	LastError     string
	CreatedAt     time.Time
}

const mailCols = `id, kind, recipient, subject, body, html, attempts, next_attempt_at, sent_at, failed_at, last_error, created_at`

func scanMail(row interface{ Scan(...any) error }) (OutgoingMail, error) {
	var m OutgoingMail
	err := row.Scan(&m.ID, &m.Kind, &m.To, &m.Subject, &m.Body, &m.HTML, &m.Attempts, &m.NextAttemptAt,
		&m.SentAt, &m.FailedAt, &m.LastError, &m.CreatedAt)
	return m, err
}

// QueueMail adds a message to the outbox, due at once. Call it in the
// transaction of the change the message tells about.
func (q *Queries) QueueMail(ctx context.Context, m OutgoingMail) (int64, error) {
	var id int64
	err := q.db.QueryRow(ctx, `INSERT INTO mail_outbox (kind, recipient, subject, body, html)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, m.Kind, m.To, m.Subject, m.Body, m.HTML).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: queue mail to %s: %w", m.To, err)
	}
	return id, nil
}

// ClaimDueMail takes up to n due messages for one attempt each: their
// attempts are counted and their next attempt put lease ahead, so no
// other worker takes them meanwhile and, should this one die mid-send,
// they are retried after lease.
func (q *Queries) ClaimDueMail(ctx context.Context, n int, lease time.Duration) ([]OutgoingMail, error) {
	rows, err := q.db.Query(ctx, `UPDATE mail_outbox SET attempts = attempts + 1,
			next_attempt_at = now() + $2 * interval '1 millisecond'
		WHERE id IN (SELECT id FROM mail_outbox
			WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
			ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING `+mailCols, n, lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("store: claim due mail: %w", err)
	}
	defer rows.Close()
	var out []OutgoingMail
	for rows.Next() {
		m, err := scanMail(rows)
		if err != nil {
			return nil, fmt.Errorf("store: claim due mail: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// MailSent records a delivered message; scrub empties its bodies (they
// hold a secret, such as a password link, that should not outlive the
// sending).
func (q *Queries) MailSent(ctx context.Context, id int64, scrub bool) error {
	_, err := q.db.Exec(ctx, `UPDATE mail_outbox SET sent_at = now(), last_error = '',
			body = CASE WHEN $2 THEN '' ELSE body END, html = CASE WHEN $2 THEN '' ELSE html END
		WHERE id = $1`, id, scrub)
	if err != nil {
		return fmt.Errorf("store: mail %d sent: %w", id, err)
	}
	return nil
}

// MailAttemptFailed records a failed attempt: retried after retryIn, or
// given up for good when retryIn is 0 (and then its bodies emptied when
// scrub is set, as MailSent does).
func (q *Queries) MailAttemptFailed(ctx context.Context, id int64, reason string, retryIn time.Duration, scrub bool) error {
	_, err := q.db.Exec(ctx, `UPDATE mail_outbox SET last_error = $2,
			next_attempt_at = now() + $3 * interval '1 millisecond',
			failed_at = CASE WHEN $3 = 0 THEN now() END,
			body = CASE WHEN $3 = 0 AND $4 THEN '' ELSE body END,
			html = CASE WHEN $3 = 0 AND $4 THEN '' ELSE html END
		WHERE id = $1`, id, reason, retryIn.Milliseconds(), scrub)
	if err != nil {
		return fmt.Errorf("store: mail %d failed: %w", id, err)
	}
	return nil
}

// NextMailDue is when the earliest unsent message is due; ok false when
// none is waiting.
func (q *Queries) NextMailDue(ctx context.Context) (at time.Time, ok bool, err error) {
	var t *time.Time
	err = q.db.QueryRow(ctx, `SELECT min(next_attempt_at) FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL`).Scan(&t)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: next mail due: %w", err)
	}
	if t == nil {
		return time.Time{}, false, nil
	}
	return *t, true, nil
}

// GetMail reads one message of the outbox.
func (q *Queries) GetMail(ctx context.Context, id int64) (OutgoingMail, error) {
	m, err := scanMail(q.db.QueryRow(ctx, `SELECT `+mailCols+` FROM mail_outbox WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return m, ErrNotFound
	}
	if err != nil {
		return m, fmt.Errorf("store: get mail %d: %w", id, err)
	}
	return m, nil
}

// ListMail lists the latest limit messages of the outbox, newest first.
func (q *Queries) ListMail(ctx context.Context, limit int) ([]OutgoingMail, error) {
	rows, err := q.db.Query(ctx, `SELECT `+mailCols+` FROM mail_outbox ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list mail: %w", err)
	}
	defer rows.Close()
	var out []OutgoingMail
	for rows.Next() {
		m, err := scanMail(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list mail: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// PruneMail deletes messages sent or given up before before.
func (q *Queries) PruneMail(ctx context.Context, before time.Time) (int64, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM mail_outbox WHERE COALESCE(sent_at, failed_at) < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("store: prune mail: %w", err)
	}
	return tag.RowsAffected(), nil
}

// StaffEmails lists the e-mail addresses of enabled staff and admin
// accounts that have one.
func (q *Queries) StaffEmails(ctx context.Context) ([]string, error) {
	rows, err := q.db.Query(ctx, `SELECT DISTINCT email FROM users
		WHERE role IN ('admin', 'staff') AND NOT disabled AND email <> '' ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("store: staff e-mail addresses: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, fmt.Errorf("store: staff e-mail addresses: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
