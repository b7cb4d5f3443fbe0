package db

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// IPPool is a row of ip_pools.
type IPPool struct {
	ID          int64
	Name        string
	CIDR        netip.Prefix
	Mode        string // routed or bridged
	Bridge      string
	Gateway     *netip.Addr
	Nameservers []netip.Addr
	// SharePrefix is the size of one container's share: 32 (IPv4), 128
	// or 64 (IPv6).
	SharePrefix int
	Default     bool
	// Used is how many shares are given or reserved.
	Used      int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Pool modes.
const (
	ModeRouted  = "routed"
	ModeBridged = "bridged"
)

const poolCols = `p.id, p.name, p.cidr, p.mode, p.bridge, p.gateway, p.nameservers, p.share_prefix, p.is_default,
	(SELECT count(*) FROM ip_addresses a WHERE a.pool_id = p.id), p.created_at, p.updated_at`

func scanPool(row pgx.Row) (IPPool, error) {
	var p IPPool
	var share int16
	err := row.Scan(&p.ID, &p.Name, &p.CIDR, &p.Mode, &p.Bridge, &p.Gateway, &p.Nameservers, &share, &p.Default,
		&p.Used, &p.CreatedAt, &p.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ErrNotFound
	}
	p.SharePrefix = int(share)
	return p, err
}

// ListPools returns every pool by name.
func (q *Queries) ListPools(ctx context.Context) ([]IPPool, error) {
	rows, err := q.db.Query(ctx, `SELECT `+poolCols+` FROM ip_pools p ORDER BY p.name`)
	if err != nil {
		return nil, fmt.Errorf("store: list pools: %w", err)
	}
	defer rows.Close()
	var out []IPPool
	for rows.Next() {
		p, err := scanPool(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list pools: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// GetPool returns the pool with id; forUpdate locks it (allocations from
// one pool go one at a time).
func (q *Queries) GetPool(ctx context.Context, id int64, forUpdate bool) (IPPool, error) {
	sql := `SELECT ` + poolCols + ` FROM ip_pools p WHERE p.id = $1`
	if forUpdate {
		sql += ` FOR UPDATE OF p`
	}
	p, err := scanPool(q.db.QueryRow(ctx, sql, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return p, fmt.Errorf("store: get pool %d: %w", id, err)
	}
	return p, err
}

// GetPoolByName returns the pool named name.
func (q *Queries) GetPoolByName(ctx context.Context, name string) (IPPool, error) {
	p, err := scanPool(q.db.QueryRow(ctx, `SELECT `+poolCols+` FROM ip_pools p WHERE p.name = $1`, name))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return p, fmt.Errorf("store: get pool %q: %w", name, err)
	}
	return p, err
}

// DefaultPool returns the default pool of a family (4 or 6).
func (q *Queries) DefaultPool(ctx context.Context, family int) (IPPool, error) {
	p, err := scanPool(q.db.QueryRow(ctx, `SELECT `+poolCols+` FROM ip_pools p WHERE p.is_default AND family(p.cidr) = $1`, family))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return p, fmt.Errorf("store: default pool: %w", err)
	}
	return p, err
}

// PoolContaining returns the pool an address falls in.
func (q *Queries) PoolContaining(ctx context.Context, a netip.Addr) (IPPool, error) {
	p, err := scanPool(q.db.QueryRow(ctx, `SELECT `+poolCols+` FROM ip_pools p WHERE p.cidr >>= $1::inet`, a))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return p, fmt.Errorf("store: pool of %s: %w", a, err)
	}
	return p, err
}

// poolError turns the pool constraints into ConflictErrors naming the
// field at fault.
func poolError(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.ConstraintName {
	case "ip_pools_name_key":
		return &ConflictError{Field: "name"}
	case "ip_pools_no_overlap":
		return &ConflictError{Field: "cidr"}
	case "ip_pools_one_default":
		return &ConflictError{Field: "default"}
	}
	return err
}

// InsertPool adds a pool and returns its id.
func (q *Queries) InsertPool(ctx context.Context, p IPPool) (int64, error) {
	var id int64
	err := q.db.QueryRow(ctx, `INSERT INTO ip_pools (name, cidr, mode, bridge, gateway, nameservers, share_prefix, is_default)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		p.Name, p.CIDR, p.Mode, p.Bridge, p.Gateway, nonNilAddrs(p.Nameservers), p.SharePrefix, p.Default).Scan(&id)
	if err != nil {
		return 0, poolError(err)
	}
	return id, nil
}

// UpdatePool writes a pool's changeable fields (not its range or share).
func (q *Queries) UpdatePool(ctx context.Context, p IPPool) error {
	tag, err := q.db.Exec(ctx, `UPDATE ip_pools SET name = $2, mode = $3, bridge = $4, gateway = $5, nameservers = $6,
		is_default = $7, updated_at = now() WHERE id = $1`,
		p.ID, p.Name, p.Mode, p.Bridge, p.Gateway, nonNilAddrs(p.Nameservers), p.Default)
	if err != nil {
		return poolError(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// DeletePool removes an empty pool; ErrInUse while it has shares given
// or reserved.
func (q *Queries) DeletePool(ctx context.Context, id int64) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM ip_pools WHERE id = $1`, id)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return ErrInUse
	}
	if err != nil {
		return fmt.Errorf("store: delete pool %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

func nonNilAddrs(a []netip.Addr) []netip.Addr {
	if a == nil {
		return []netip.Addr{}
	}
	return a
}

// IPAddress is a row of ip_addresses: one share.
type IPAddress struct {
	ID         int64
	PoolID     int64
	PoolName   string
	Share      netip.Prefix
	CTID       *int
	CustomerID *int64
	CreatedAt  time.Time
}

const addressCols = `a.id, a.pool_id, p.name, a.share, a.ct_id, a.customer_id, a.created_at`

func scanAddress(row pgx.Row) (IPAddress, error) {
	var a IPAddress
	err := row.Scan(&a.ID, &a.PoolID, &a.PoolName, &a.Share, &a.CTID, &a.CustomerID, &a.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ErrNotFound
	}
	return a, err
}

func (q *Queries) listAddresses(ctx context.Context, where string, args ...any) ([]IPAddress, error) {
	rows, err := q.db.Query(ctx, `SELECT `+addressCols+` FROM ip_addresses a JOIN ip_pools p ON p.id = a.pool_id `+
		where+` ORDER BY family(a.share), a.share`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list addresses: %w", err)
	}
	defer rows.Close()
	var out []IPAddress
	for rows.Next() {
		a, err := scanAddress(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list addresses: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ContainerAddresses returns the shares on a container.
func (q *Queries) ContainerAddresses(ctx context.Context, ctid int) ([]IPAddress, error) {
	return q.listAddresses(ctx, `WHERE a.ct_id = $1`, ctid)
}

// AssignedAddresses returns every share on a container.
func (q *Queries) AssignedAddresses(ctx context.Context) ([]IPAddress, error) {
	return q.listAddresses(ctx, `WHERE a.ct_id IS NOT NULL`)
}

// PoolAddresses returns the shares of a pool.
func (q *Queries) PoolAddresses(ctx context.Context, poolID int64) ([]IPAddress, error) {
	return q.listAddresses(ctx, `WHERE a.pool_id = $1`, poolID)
}

// AddressOf returns the share holding an address.
func (q *Queries) AddressOf(ctx context.Context, addr netip.Addr) (IPAddress, error) {
	a, err := scanAddress(q.db.QueryRow(ctx, `SELECT `+addressCols+` FROM ip_addresses a JOIN ip_pools p ON p.id = a.pool_id
		WHERE a.share >>= $1::inet`, addr))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return a, fmt.Errorf("store: address %s: %w", addr, err)
	}
	return a, err
}

// InsertAddress gives a share of a pool to a container or reserves it
// for a customer; a ConflictError on "address" when it is taken.
func (q *Queries) InsertAddress(ctx context.Context, a IPAddress) error {
	_, err := q.db.Exec(ctx, `INSERT INTO ip_addresses (pool_id, share, ct_id, customer_id) VALUES ($1, $2, $3, $4)`,
		a.PoolID, a.Share, a.CTID, a.CustomerID)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "23P01") {
		return &ConflictError{Field: "address"}
	}
	if err != nil {
		return fmt.Errorf("store: insert address %s: %w", a.Share, err)
	}
	return nil
}

// SetAddressContainer puts a reserved share on a container, or takes it
// off (ctid nil): a share no longer held by anyone goes back to the pool.
func (q *Queries) SetAddressContainer(ctx context.Context, id int64, ctid *int) error {
	if ctid == nil {
		_, err := q.db.Exec(ctx, `WITH d AS (DELETE FROM ip_addresses WHERE id = $1 AND customer_id IS NULL)
			UPDATE ip_addresses SET ct_id = NULL WHERE id = $1 AND customer_id IS NOT NULL`, id)
		if err != nil {
			return fmt.Errorf("store: release address %d: %w", id, err)
		}
		return nil
	}
	if _, err := q.db.Exec(ctx, `UPDATE ip_addresses SET ct_id = $2 WHERE id = $1`, id, *ctid); err != nil {
		return fmt.Errorf("store: assign address %d: %w", id, err)
	}
	return nil
}

// SetAddressCustomer reserves a share for a customer, or ends the
// reservation (customer nil): a share no longer held goes back.
func (q *Queries) SetAddressCustomer(ctx context.Context, id int64, customer *int64) error {
	if customer == nil {
		_, err := q.db.Exec(ctx, `WITH d AS (DELETE FROM ip_addresses WHERE id = $1 AND ct_id IS NULL)
			UPDATE ip_addresses SET customer_id = NULL WHERE id = $1 AND ct_id IS NOT NULL`, id)
		if err != nil {
			return fmt.Errorf("store: unreserve address %d: %w", id, err)
		}
		return nil
	}
	if _, err := q.db.Exec(ctx, `UPDATE ip_addresses SET customer_id = $2 WHERE id = $1`, id, *customer); err != nil {
		return fmt.Errorf("store: reserve address %d: %w", id, err)
	}
	return nil
}

// HeldIPAddress is a share with its customer's name.
type HeldIPAddress struct {
	IPAddress
	Customer string
}

// HeldAddresses lists the shares given or reserved; with owner, only
// those reserved for that customer or on their containers.
func (q *Queries) HeldAddresses(ctx context.Context, owner *int64) ([]HeldIPAddress, error) {
	rows, err := q.db.Query(ctx, `SELECT `+addressCols+`, coalesce(u.username, '') FROM ip_addresses a
		JOIN ip_pools p ON p.id = a.pool_id LEFT JOIN users u ON u.id = a.customer_id
		LEFT JOIN containers c ON c.ct_id = a.ct_id
		WHERE $1::bigint IS NULL OR a.customer_id = $1 OR c.owner_id = $1
		ORDER BY family(a.share), a.share`, owner)
	if err != nil {
		return nil, fmt.Errorf("store: held addresses: %w", err)
	}
	defer rows.Close()
	var out []HeldIPAddress
	for rows.Next() {
		var h HeldIPAddress
		a := &h.IPAddress
		if err := rows.Scan(&a.ID, &a.PoolID, &a.PoolName, &a.Share, &a.CTID, &a.CustomerID, &a.CreatedAt, &h.Customer); err != nil {
			return nil, fmt.Errorf("store: held addresses: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// PoolNameservers are the nameservers of the pools container ctid's
// addresses are from, IPv4 pools' first, without repeats.
func (q *Queries) PoolNameservers(ctx context.Context, ctid int) ([]netip.Addr, error) {
	rows, err := q.db.Query(ctx, `SELECT ns FROM (
			SELECT DISTINCT ON (ns) ns, family(p.cidr) AS fam, p.id, o.n FROM ip_addresses a
			JOIN ip_pools p ON p.id = a.pool_id, unnest(p.nameservers) WITH ORDINALITY AS o(ns, n)
			WHERE a.ct_id = $1 ORDER BY ns, family(p.cidr), p.id, o.n) s
		ORDER BY fam, id, n`, ctid)
	if err != nil {
		return nil, fmt.Errorf("store: pool nameservers: %w", err)
	}
	defer rows.Close()
	var out []netip.Addr
	for rows.Next() {
		var a netip.Addr
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("store: pool nameservers: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
