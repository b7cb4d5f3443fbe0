package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Customer is a user of role customer, as billing systems see it.
type Customer struct {
	ID          int64     `json:"id"`
	Username    string    `json:"username"`
	ExternalID  *string   `json:"external_id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	Disabled    bool      `json:"disabled"`
	HasPassword bool      `json:"has_password"`
	Containers  int       `json:"containers"`
	CreatedAt   time.Time `json:"created_at"`
}

const customerCols = `u.id, u.username, u.external_id, u.email, u.full_name, u.disabled, u.password_hash <> '',
	(SELECT count(*) FROM containers c WHERE c.owner_id = u.id), u.created_at`

func scanCustomer(row pgx.Row) (Customer, error) {
	var c Customer
	err := row.Scan(&c.ID, &c.Username, &c.ExternalID, &c.Email, &c.Name, &c.Disabled, &c.HasPassword, &c.Containers, &c.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// CreateCustomer adds a customer; passwordHash may be empty.
func (q *Queries) CreateCustomer(ctx context.Context, c Customer, passwordHash string) (Customer, error) {
	out, err := scanCustomer(q.db.QueryRow(ctx, `WITH u AS (
		INSERT INTO users (username, email, full_name, role, password_hash, external_id)
		VALUES ($1, $2, $3, 'customer', $4, $5) RETURNING *) SELECT `+customerCols+` FROM u`,
		c.Username, c.Email, c.Name, passwordHash, c.ExternalID))
	if cons, ok := uniqueViolation(err); ok {
		field := "username"
		if cons == "users_external_id_key" {
			field = "external_id"
		}
		return out, &ConflictError{Field: field}
	}
	if err != nil {
		return out, fmt.Errorf("store: create customer %q: %w", c.Username, err)
	}
	return out, nil
}

// GetCustomer finds a customer by id.
func (q *Queries) GetCustomer(ctx context.Context, id int64) (Customer, error) {
	c, err := scanCustomer(q.db.QueryRow(ctx, `SELECT `+customerCols+` FROM users u WHERE u.id = $1 AND u.role = 'customer'`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return c, fmt.Errorf("store: get customer %d: %w", id, err)
	}
	return c, err
}

// ListCustomers lists customers, optionally only the one with externalID.
func (q *Queries) ListCustomers(ctx context.Context, externalID string) ([]Customer, error) {
	rows, err := q.db.Query(ctx, `SELECT `+customerCols+` FROM users u
		WHERE u.role = 'customer' AND ($1 = '' OR u.external_id = $1) ORDER BY u.id`, externalID)
	if err != nil {
		return nil, fmt.Errorf("store: list customers: %w", err)
	}
	defer rows.Close()
	out := []Customer{}
	for rows.Next() {
		c, err := scanCustomer(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list customers: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// EnabledCustomerNames lists the usernames of the customers who may sign
// in, for forms that name one (a container's new owner).
func (q *Queries) EnabledCustomerNames(ctx context.Context) ([]string, error) {
	rows, err := q.db.Query(ctx, `SELECT username FROM users WHERE role = 'customer' AND NOT disabled ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("store: customer names: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: customer names: %w", err)
	}
	return names, nil
}

// CustomerUpdate holds PATCH's fields; nil = unchanged.
type CustomerUpdate struct {
	Email        *string
	Name         *string
	ExternalID   *string
	Disabled     *bool
	PasswordHash *string
}

// UpdateCustomer applies u.
func (q *Queries) UpdateCustomer(ctx context.Context, id int64, u CustomerUpdate) error {
	tag, err := q.db.Exec(ctx, `UPDATE users SET
		email = COALESCE($2, email), full_name = COALESCE($3, full_name),
		external_id = COALESCE($4, external_id), disabled = COALESCE($5, disabled),
		password_hash = COALESCE($6, password_hash)
		WHERE id = $1 AND role = 'customer'`, id, u.Email, u.Name, u.ExternalID, u.Disabled, u.PasswordHash)
	if _, ok := uniqueViolation(err); ok {
		return &ConflictError{Field: "external_id"}
	}
	if err != nil {
		return fmt.Errorf("store: update customer %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteCustomer removes a customer who owns no container.
func (q *Queries) DeleteCustomer(ctx context.Context, id int64) error {
	var n int
	if err := q.db.QueryRow(ctx, `SELECT count(*) FROM containers WHERE owner_id = $1`, id).Scan(&n); err != nil {
		return fmt.Errorf("store: delete customer %d: %w", id, err)
	}
	if n > 0 {
		return fmt.Errorf("store: customer %d owns %d container(s): %w", id, n, ErrInUse)
	}
	tag, err := q.db.Exec(ctx, `DELETE FROM users WHERE id = $1 AND role = 'customer'`, id)
	if err != nil {
		return fmt.Errorf("store: delete customer %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Token is an API token without its secret.
type Token struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	User       *string    `json:"user"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	CreatedAt  time.Time  `json:"created_at"`
	ReadOnly   bool       `json:"read_only"`
	Customer   *string    `json:"customer"` // the customer it is narrowed to
}

// ListTokens lists every token, newest first.
func (q *Queries) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := q.db.Query(ctx, `SELECT t.id, t.name, t.role, u.username, t.expires_at, t.revoked_at, t.last_used_at, t.created_at,
		       t.read_only, s.username
		FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id LEFT JOIN users s ON s.id = t.scope_owner_id
		ORDER BY t.id DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		var t Token
		if err := rows.Scan(&t.ID, &t.Name, &t.Role, &t.User, &t.ExpiresAt, &t.RevokedAt, &t.LastUsedAt, &t.CreatedAt, &t.ReadOnly, &t.Customer); err != nil {
			return nil, fmt.Errorf("store: list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes a token; it stops working at once.
func (q *Queries) RevokeToken(ctx context.Context, id int64) error {
	tag, err := q.db.Exec(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: revoke token %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// IdempotencyTTL is how long an Idempotency-Key is remembered.
const IdempotencyTTL = 24 * time.Hour

// idempotencyStale is how long an unfinished request holds its key: past
// it (a crash mid-request), a retry may run again.
const idempotencyStale = 5 * time.Minute

// IdemRecord is a remembered request.
type IdemRecord struct {
	BodyHash []byte
	Done     bool
	Status   int
	Location string
	Response []byte
	Fresh    bool // this call claimed the key: run the request
}

// ClaimIdempotencyKey claims a key for a request, or returns the record of
// the request that claimed it first.
func (q *Queries) ClaimIdempotencyKey(ctx context.Context, tokenID int64, key, method, path string, bodyHash []byte) (IdemRecord, error) {
	var r IdemRecord
	_, _ = q.db.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval
		OR (NOT done AND created_at < now() - $2::interval)`, IdempotencyTTL, idempotencyStale)
	tag, err := q.db.Exec(ctx, `INSERT INTO idempotency_keys (token_id, key, method, path, body_hash)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, tokenID, key, method, path, bodyHash)
	if err != nil {
		return r, fmt.Errorf("store: claim idempotency key: %w", err)
	}
	if tag.RowsAffected() == 1 {
		r.Fresh, r.BodyHash = true, bodyHash
		return r, nil
	}
	var m, p string
	err = q.db.QueryRow(ctx, `SELECT method, path, body_hash, done, status, location, response FROM idempotency_keys
		WHERE token_id = $1 AND key = $2`, tokenID, key).Scan(&m, &p, &r.BodyHash, &r.Done, &r.Status, &r.Location, &r.Response)
	if errors.Is(err, pgx.ErrNoRows) { // expired between the two statements
		return q.ClaimIdempotencyKey(ctx, tokenID, key, method, path, bodyHash)
	}
	if err != nil {
		return r, fmt.Errorf("store: read idempotency key: %w", err)
	}
	if m != method || p != path {
		r.BodyHash = nil // a different request: reported as a mismatch
	}
	return r, nil
}

// FinishIdempotencyKey stores the answer to replay.
func (q *Queries) FinishIdempotencyKey(ctx context.Context, tokenID int64, key string, status int, location string, body []byte) error {
	_, err := q.db.Exec(ctx, `UPDATE idempotency_keys SET done = true, status = $3, location = $4, response = $5
		WHERE token_id = $1 AND key = $2`, tokenID, key, status, location, body)
	if err != nil {
		return fmt.Errorf("store: finish idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey forgets a key whose request failed on the server
// side, so a retry can run.
func (q *Queries) ReleaseIdempotencyKey(ctx context.Context, tokenID int64, key string) error {
	_, err := q.db.Exec(ctx, `DELETE FROM idempotency_keys WHERE token_id = $1 AND key = $2`, tokenID, key)
	return err
}

// Webhook is a registered receiver.
type Webhook struct {
	ID        int64     `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	Secret    string    `json:"-"`
}

// CreateWebhook registers a receiver.
func (q *Queries) CreateWebhook(ctx context.Context, url, secret string, events []string, by string) (Webhook, error) {
	w := Webhook{URL: url, Secret: secret, Events: events, CreatedBy: by}
	err := q.db.QueryRow(ctx, `INSERT INTO webhooks (url, secret, events, created_by) VALUES ($1, $2, $3, $4) RETURNING id, created_at`,
		url, secret, events, by).Scan(&w.ID, &w.CreatedAt)
	if err != nil {
		return w, fmt.Errorf("store: create webhook: %w", err)
	}
	return w, nil
}

// ListWebhooks lists receivers; event limits them to those subscribed to it.
func (q *Queries) ListWebhooks(ctx context.Context, event string) ([]Webhook, error) {
	rows, err := q.db.Query(ctx, `SELECT id, url, secret, events, created_by, created_at FROM webhooks
		WHERE $1 = '' OR $1 = ANY(events) ORDER BY id`, event)
	if err != nil {
		return nil, fmt.Errorf("store: list webhooks: %w", err)
	}
	defer rows.Close()
	out := []Webhook{}
	for rows.Next() {
		var w Webhook
		if err := rows.Scan(&w.ID, &w.URL, &w.Secret, &w.Events, &w.CreatedBy, &w.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: list webhooks: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// GetWebhook finds a receiver.
func (q *Queries) GetWebhook(ctx context.Context, id int64) (Webhook, error) {
	var w Webhook
	err := q.db.QueryRow(ctx, `SELECT id, url, secret, events, created_by, created_at FROM webhooks WHERE id = $1`, id).
		Scan(&w.ID, &w.URL, &w.Secret, &w.Events, &w.CreatedBy, &w.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, ErrNotFound
	}
	if err != nil {
		return w, fmt.Errorf("store: get webhook %d: %w", id, err)
	}
	return w, nil
}

// DeleteWebhook removes a receiver and its deliveries.
func (q *Queries) DeleteWebhook(ctx context.Context, id int64) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM webhooks WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: delete webhook %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Delivery is one event sent (or being sent) to one receiver.
type Delivery struct {
	ID          int64           `json:"id"`
	WebhookID   int64           `json:"webhook_id"`
	Event       string          `json:"event"`
	Payload     json.RawMessage `json:"payload"`
	Status      string          `json:"status"`
	Attempts    int             `json:"attempts"`
	LastStatus  int             `json:"last_status"`
	LastError   string          `json:"last_error"`
	CreatedAt   time.Time       `json:"created_at"`
	DeliveredAt *time.Time      `json:"delivered_at"`
}

const deliveryCols = `id, webhook_id, event, payload, status, attempts, last_status, last_error, created_at, delivered_at`

func scanDelivery(row pgx.Row) (Delivery, error) {
	var d Delivery
	err := row.Scan(&d.ID, &d.WebhookID, &d.Event, &d.Payload, &d.Status, &d.Attempts, &d.LastStatus, &d.LastError, &d.CreatedAt, &d.DeliveredAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	return d, err
}

// InsertDelivery records a pending delivery.
func (q *Queries) InsertDelivery(ctx context.Context, webhookID int64, event string, payload json.RawMessage) (Delivery, error) {
	d, err := scanDelivery(q.db.QueryRow(ctx, `INSERT INTO webhook_deliveries (webhook_id, event, payload) VALUES ($1, $2, $3) RETURNING `+deliveryCols,
		webhookID, event, payload))
	if err != nil {
		return d, fmt.Errorf("store: insert delivery: %w", err)
	}
	return d, nil
}

// GetDelivery finds a delivery.
func (q *Queries) GetDelivery(ctx context.Context, id int64) (Delivery, error) {
	d, err := scanDelivery(q.db.QueryRow(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return d, fmt.Errorf("store: get delivery %d: %w", id, err)
	}
	return d, err
}

// RecordAttempt notes one attempt's outcome; final marks the delivery
// failed for good when it did not succeed.
func (q *Queries) RecordAttempt(ctx context.Context, id int64, httpStatus int, errText string, ok, final bool) error {
	status := "pending"
	switch {
	case ok:
		status = "succeeded"
	case final:
		status = "failed"
	}
	_, err := q.db.Exec(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $2, last_error = $3,
		status = $4, delivered_at = CASE WHEN $5 THEN now() ELSE delivered_at END WHERE id = $1`,
		id, httpStatus, errText, status, ok)
	if err != nil {
		return fmt.Errorf("store: record delivery attempt %d: %w", id, err)
	}
	return nil
}

// ListDeliveries lists a receiver's deliveries, newest first.
func (q *Queries) ListDeliveries(ctx context.Context, webhookID int64, limit int) ([]Delivery, error) {
	rows, err := q.db.Query(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2`, webhookID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list deliveries: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list deliveries: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// UsageSamples returns the raw and downsampled rows of one container (or
// of all when ctid is 0) between from and to, ordered by container,
// resource and time.
func (q *Queries) UsageSamples(ctx context.Context, ctid int, from, to time.Time) ([]Sample, error) {
	rows, err := q.db.Query(ctx, `SELECT ct_id, at, resource, held, maxheld, barrier, lim, failcnt FROM bc_samples
		WHERE ($1 = 0 OR ct_id = $1) AND at >= $2 AND at < $3 ORDER BY ct_id, resource, at`, ctid, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: usage samples: %w", err)
	}
	defer rows.Close()
	var out []Sample
	for rows.Next() {
		var s Sample
		var held, maxheld, barrier, lim, fail int64
		if err := rows.Scan(&s.CTID, &s.At, &s.Resource, &held, &maxheld, &barrier, &lim, &fail); err != nil {
			return nil, fmt.Errorf("store: usage samples: %w", err)
		}
		s.Held, s.MaxHeld, s.Barrier, s.Limit, s.FailCnt = uint64(held), uint64(maxheld), uint64(barrier), uint64(lim), uint64(fail)
		out = append(out, s)
	}
	return out, rows.Err()
}
