package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Container phases; see the containers table.
const (
	PhaseCreating = "creating"
	PhaseReady    = "ready"
	PhaseDeleting = "deleting"
	PhaseMissing  = "missing"
)

// Container is a row of containers.
type Container struct {
	CTID        int
	Name        *string
	NodeID      int64
	OwnerID     *int64
	OwnerName   *string
	PlanID      *int64
	PlanName    *string
	Template    string
	OriginCTID  *int
	Snapshot    bool
	Hostname    string
	Nameservers []string
	OnBoot      bool
	Description string
	Phase       string
	LastState   string
	Limits      json.RawMessage // ubc.Spec as JSON
	SuspendedAt *time.Time
	SuspendMode *string
	// SuspendReason is what the suspend call gave as its reason.
	SuspendReason string
	// IDMapBase is the first of the container's 65536 host ids (nil for
	// a container made before every container was unprivileged, until
	// staff convert it); Privileged says it still runs without them.
	IDMapBase  *int64
	Privileged bool
	// IPAddresses are its shares: an address for a /32 or /128, a
	// routed prefix as address/len.
	IPAddresses []string
	// ImageVersion is the version of its template it was made from
	// (nil: a template without versions).
	ImageVersion *string
	// GuestOS is the guest first boot found ("debian 12 (networkd)"),
	// GuestNetwork the backend whose files the panel writes ('' when it
	// writes none and liblxc configures the interface).
	GuestOS      string
	GuestNetwork string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// IDMapSize is how many host ids a container's block holds: container
// uids and gids 0..65535.
const IDMapSize = 65536

// IDMapFirst is where the blocks begin: far above the ids a host gives
// its users and their /etc/subuid ranges (100000 + 65536 per user), and
// low enough for 64000 containers below the kernel's last id.
const IDMapFirst = 100_000_000

const containerCols = `c.ct_id, c.name, c.node_id, c.owner_id, u.username, c.plan_id, p.name, c.template,
	c.origin_ctid, c.snapshot, c.hostname, c.nameservers, c.onboot, c.description,
	c.phase, c.last_state, c.limits, c.suspended_at, c.suspend_mode, c.suspend_reason, c.idmap_base, c.privileged,
	(SELECT coalesce(array_agg(CASE WHEN masklen(a.share) IN (32, 128) THEN host(a.share) ELSE text(a.share) END
		ORDER BY family(a.share), a.share), '{}') FROM ip_addresses a WHERE a.ct_id = c.ct_id),
	c.image_version, c.guest_os, c.guest_network, c.created_at, c.updated_at`

const containerFrom = ` FROM containers c LEFT JOIN users u ON u.id = c.owner_id LEFT JOIN plans p ON p.id = c.plan_id `

// containerDest are the scan targets of containerCols, in its order.
func containerDest(c *Container) []any {
	return []any{&c.CTID, &c.Name, &c.NodeID, &c.OwnerID, &c.OwnerName, &c.PlanID, &c.PlanName, &c.Template,
		&c.OriginCTID, &c.Snapshot, &c.Hostname, &c.Nameservers, &c.OnBoot, &c.Description,
		&c.Phase, &c.LastState, &c.Limits, &c.SuspendedAt, &c.SuspendMode, &c.SuspendReason, &c.IDMapBase, &c.Privileged,
		&c.IPAddresses, &c.ImageVersion, &c.GuestOS, &c.GuestNetwork, &c.CreatedAt, &c.UpdatedAt}
}

func scanContainer(row pgx.Row) (Container, error) {
	var c Container
	err := row.Scan(containerDest(&c)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// InsertContainer adds a container row in phase creating, unprivileged,
// with a free block of host ids.
func (q *Queries) InsertContainer(ctx context.Context, c Container) error {
	// One allocation at a time; the unique constraint stays the proof.
	if _, err := q.db.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('ctpanel.idmap'))`); err != nil {
		return fmt.Errorf("store: insert container %d: %w", c.CTID, err)
	}
	_, err := q.db.Exec(ctx, `INSERT INTO containers
		(ct_id, name, node_id, owner_id, plan_id, template, origin_ctid, snapshot, hostname,
		 nameservers, onboot, description, limits, phase, idmap_base)
		VALUES ($1, $2, (SELECT id FROM nodes WHERE name = 'local'), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'creating',
		 (`+freeIDMapBase+`))`,
		c.CTID, c.Name, c.OwnerID, c.PlanID, c.Template, c.OriginCTID, c.Snapshot, c.Hostname,
		nonNil(c.Nameservers), c.OnBoot, c.Description, jsonOrEmpty(c.Limits))
	if cons, ok := uniqueViolation(err); ok {
		if strings.Contains(cons, "name") {
			return &ConflictError{Field: "name"}
		}
		return &ConflictError{Field: "ctid"}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.ConstraintName == "containers_unprivileged_have_idmap" {
		return fmt.Errorf("store: insert container %d: every block of host ids is taken", c.CTID)
	}
	if err != nil {
		return fmt.Errorf("store: insert container %d: %w", c.CTID, err)
	}
	return nil
}

// freeIDMapBase is a block no container has, the first free one from the
// bottom (generate_series counts up and LIMIT stops it there; an ORDER BY
// would make PostgreSQL list and sort all 65000 first), or NULL when none
// is left, which containers_unprivileged_have_idmap refuses.
var freeIDMapBase = fmt.Sprintf(`SELECT b FROM generate_series(%d::bigint, %d::bigint, %d) b
	WHERE NOT EXISTS (SELECT 1 FROM containers x WHERE x.idmap_base = b) LIMIT 1`,
	IDMapFirst, int64(1)<<32-1-IDMapSize, IDMapSize)

// AllocateIDMap gives a container a free block of host ids, or returns
// the one it has.
func (q *Queries) AllocateIDMap(ctx context.Context, ctid int) (int64, error) {
	if _, err := q.db.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('ctpanel.idmap'))`); err != nil {
		return 0, err
	}
	var base *int64
	err := q.db.QueryRow(ctx, `UPDATE containers SET idmap_base = COALESCE(idmap_base, (`+freeIDMapBase+`)),
		updated_at = now() WHERE ct_id = $1 RETURNING idmap_base`, ctid).Scan(&base)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("store: allocate host ids for %d: %w", ctid, err)
	}
	if base == nil {
		return 0, fmt.Errorf("store: allocate host ids for %d: every block of host ids is taken", ctid)
	}
	return *base, nil
}

// SetPrivileged records whether a container runs without its id map.
func (q *Queries) SetPrivileged(ctx context.Context, ctid int, privileged bool) error {
	_, err := q.db.Exec(ctx, `UPDATE containers SET privileged = $2, updated_at = now() WHERE ct_id = $1`, ctid, privileged)
	if err != nil {
		return fmt.Errorf("store: set privileged of %d: %w", ctid, err)
	}
	return nil
}

// PrivilegedContainers lists the CTIDs of containers not yet converted.
func (q *Queries) PrivilegedContainers(ctx context.Context) ([]int, error) {
	rows, err := q.db.Query(ctx, `SELECT ct_id FROM containers WHERE privileged ORDER BY ct_id`)
	if err != nil {
		return nil, fmt.Errorf("store: privileged containers: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

func jsonOrEmpty(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage(`{}`)
	}
	return b
}

// SetContainerLimits stores a container's limits and, when planID is not
// nil, the plan they came from.
func (q *Queries) SetContainerLimits(ctx context.Context, ctid int, limits json.RawMessage, planID *int64, setPlan bool) error {
	_, err := q.db.Exec(ctx, `UPDATE containers SET limits = $2,
		plan_id = CASE WHEN $4 THEN $3 ELSE plan_id END, updated_at = now() WHERE ct_id = $1`,
		ctid, jsonOrEmpty(limits), planID, setPlan)
	if err != nil {
		return fmt.Errorf("store: set limits of %d: %w", ctid, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// GetContainer finds a container by CTID.
func (q *Queries) GetContainer(ctx context.Context, ctid int) (Container, error) {
	c, err := scanContainer(q.db.QueryRow(ctx, `SELECT `+containerCols+containerFrom+`WHERE c.ct_id = $1`, ctid))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return c, fmt.Errorf("store: get container %d: %w", ctid, err)
	}
	return c, err
}

// LockContainer reads a container and locks its row until the transaction
// ends, so operations on one container are queued in commit order.
func (q *Queries) LockContainer(ctx context.Context, ctid int) (Container, error) {
	c, err := scanContainer(q.db.QueryRow(ctx, `SELECT `+containerCols+containerFrom+`WHERE c.ct_id = $1 FOR UPDATE OF c`, ctid))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return c, fmt.Errorf("store: lock container %d: %w", ctid, err)
	}
	return c, err
}

// GetContainerByName finds a container by its unique name.
func (q *Queries) GetContainerByName(ctx context.Context, name string) (Container, error) {
	c, err := scanContainer(q.db.QueryRow(ctx, `SELECT `+containerCols+containerFrom+`WHERE c.name = $1`, name))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return c, fmt.Errorf("store: get container %q: %w", name, err)
	}
	return c, err
}

// ListContainers lists containers by CTID; ownerID limits them to one owner.
func (q *Queries) ListContainers(ctx context.Context, ownerID *int64) ([]Container, error) {
	rows, err := q.db.Query(ctx, `SELECT `+containerCols+containerFrom+
		`WHERE ($1::bigint IS NULL OR c.owner_id = $1) ORDER BY c.ct_id`, ownerID)
	if err != nil {
		return nil, fmt.Errorf("store: list containers: %w", err)
	}
	defer rows.Close()
	var out []Container
	for rows.Next() {
		c, err := scanContainer(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list containers: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// NextFreeCTID is the lowest CTID from 101 up that is neither in the
// database nor among taken (names liblxc already has).
func (q *Queries) NextFreeCTID(ctx context.Context, taken map[int]bool) (int, error) {
	rows, err := q.db.Query(ctx, `SELECT ct_id FROM containers ORDER BY ct_id`)
	if err != nil {
		return 0, fmt.Errorf("store: next ctid: %w", err)
	}
	used := map[int]bool{}
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("store: next ctid: %w", err)
		}
		used[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store: next ctid: %w", err)
	}
	for id := 101; ; id++ {
		if !used[id] && !taken[id] {
			return id, nil
		}
	}
}

// ContainerUpdate holds the settable fields of PATCH; nil means unchanged.
type ContainerUpdate struct {
	Name        **string
	Hostname    *string
	Nameservers *[]string
	OnBoot      *bool
	Description *string
}

// UpdateContainer applies u to a container.
func (q *Queries) UpdateContainer(ctx context.Context, ctid int, u ContainerUpdate) error {
	sets := []string{"updated_at = now()"}
	args := []any{ctid}
	add := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	if u.Name != nil {
		add("name", *u.Name)
	}
	if u.Hostname != nil {
		add("hostname", *u.Hostname)
	}
	if u.Nameservers != nil {
		add("nameservers", nonNil(*u.Nameservers))
	}
	if u.OnBoot != nil {
		add("onboot", *u.OnBoot)
	}
	if u.Description != nil {
		add("description", *u.Description)
	}
	tag, err := q.db.Exec(ctx, `UPDATE containers SET `+strings.Join(sets, ", ")+` WHERE ct_id = $1`, args...)
	if _, ok := uniqueViolation(err); ok {
		return &ConflictError{Field: "name"}
	}
	if err != nil {
		return fmt.Errorf("store: update container %d: %w", ctid, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// SetSuspended marks a container suspended (mode "stop" or "freeze") or,
// with mode nil, not suspended.
func (q *Queries) SetSuspended(ctx context.Context, ctid int, mode *string, reason string) error {
	_, err := q.db.Exec(ctx, `UPDATE containers SET suspend_mode = $2, suspend_reason = $3,
		suspended_at = CASE WHEN $2::text IS NULL THEN NULL ELSE now() END, updated_at = now() WHERE ct_id = $1`,
		ctid, mode, reason)
	if err != nil {
		return fmt.Errorf("store: suspend %d: %w", ctid, err)
	}
	return nil
}

// SetContainerPhase moves a container to another phase.
func (q *Queries) SetContainerPhase(ctx context.Context, ctid int, phase string) error {
	_, err := q.db.Exec(ctx, `UPDATE containers SET phase = $2, updated_at = now() WHERE ct_id = $1`, ctid, phase)
	if err != nil {
		return fmt.Errorf("store: set phase of %d: %w", ctid, err)
	}
	return nil
}

// SetContainerOwner gives a container to the user ownerID (nil: nobody).
func (q *Queries) SetContainerOwner(ctx context.Context, ctid int, ownerID *int64) error {
	_, err := q.db.Exec(ctx, `UPDATE containers SET owner_id = $2, updated_at = now() WHERE ct_id = $1`, ctid, ownerID)
	if err != nil {
		return fmt.Errorf("store: set owner of %d: %w", ctid, err)
	}
	return nil
}

// SetContainerState records the run state liblxc last reported.
func (q *Queries) SetContainerState(ctx context.Context, ctid int, state string) error {
	_, err := q.db.Exec(ctx, `UPDATE containers SET last_state = $2 WHERE ct_id = $1 AND last_state <> $2`, ctid, state)
	if err != nil {
		return fmt.Errorf("store: set state of %d: %w", ctid, err)
	}
	return nil
}

// DeleteContainer removes a container row.
func (q *Queries) DeleteContainer(ctx context.Context, ctid int) error {
	// Its history and alerts go with it: a CTID used again later must not
	// show the previous owner's data.
	_, err := q.db.Exec(ctx, `WITH s AS (DELETE FROM bc_samples WHERE ct_id = $1),
		a AS (DELETE FROM alerts WHERE ct_id = $1)
		DELETE FROM containers WHERE ct_id = $1`, ctid)
	if err != nil {
		return fmt.Errorf("store: delete container %d: %w", ctid, err)
	}
	return nil
}

// SetContainerTemplate records the template a reinstall uses.
func (q *Queries) SetContainerTemplate(ctx context.Context, ctid int, template string) error {
	_, err := q.db.Exec(ctx, `UPDATE containers SET template = $2, updated_at = now() WHERE ct_id = $1`, ctid, template)
	if err != nil {
		return fmt.Errorf("store: set template of %d: %w", ctid, err)
	}
	return nil
}

// SnapshotClones counts the overlay clones built on a container; liblxc
// cannot destroy it while they exist.
func (q *Queries) SnapshotClones(ctx context.Context, ctid int) (int, error) {
	var n int
	err := q.db.QueryRow(ctx, `SELECT count(*) FROM containers WHERE origin_ctid = $1 AND snapshot`, ctid).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: snapshot clones of %d: %w", ctid, err)
	}
	return n, nil
}
