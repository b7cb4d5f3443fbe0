package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// BackupTarget is a row of backup_targets.
type BackupTarget struct {
	ID           int64
	Name         string
	Kind         string
	Path         string
	Host         string
	Port         int
	Username     string
	PrivateKey   string
	HostKey      string
	RepoPassword string
	CreatedAt    time.Time
}

const targetCols = `id, name, kind, path, host, port, username, private_key, host_key, repo_password, created_at`

func scanTarget(row pgx.Row) (BackupTarget, error) {
	var t BackupTarget
	err := row.Scan(&t.ID, &t.Name, &t.Kind, &t.Path, &t.Host, &t.Port, &t.Username, &t.PrivateKey, &t.HostKey, &t.RepoPassword, &t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// InsertTarget adds a target; a taken name is a ConflictError on name.
func (q *Queries) InsertTarget(ctx context.Context, t BackupTarget) (BackupTarget, error) {
	if t.Port == 0 {
		t.Port = 22
	}
	out, err := scanTarget(q.db.QueryRow(ctx, `INSERT INTO backup_targets (name, kind, path, host, port, username, private_key, host_key, repo_password)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+targetCols,
		t.Name, t.Kind, t.Path, t.Host, t.Port, t.Username, t.PrivateKey, t.HostKey, t.RepoPassword))
	if _, ok := uniqueViolation(err); ok {
		return out, &ConflictError{Field: "name"}
	}
	if err != nil {
		return out, fmt.Errorf("store: insert backup target: %w", err)
	}
	return out, nil
}

// ListTargets lists the targets by name.
func (q *Queries) ListTargets(ctx context.Context) ([]BackupTarget, error) {
	rows, err := q.db.Query(ctx, `SELECT `+targetCols+` FROM backup_targets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list backup targets: %w", err)
	}
	defer rows.Close()
	var out []BackupTarget
	for rows.Next() {
		t, err := scanTarget(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list backup targets: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// GetTarget finds a target by name.
func (q *Queries) GetTarget(ctx context.Context, name string) (BackupTarget, error) {
	return scanTarget(q.db.QueryRow(ctx, `SELECT `+targetCols+` FROM backup_targets WHERE name = $1`, name))
}

// GetTargetByID finds a target by id.
func (q *Queries) GetTargetByID(ctx context.Context, id int64) (BackupTarget, error) {
	return scanTarget(q.db.QueryRow(ctx, `SELECT `+targetCols+` FROM backup_targets WHERE id = $1`, id))
}

// DeleteTarget removes a target no backup is on (ErrInUse).
func (q *Queries) DeleteTarget(ctx context.Context, id int64) error {
	_, err := q.db.Exec(ctx, `DELETE FROM backup_targets WHERE id = $1`, id)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return fmt.Errorf("store: delete backup target %d: %w", id, ErrInUse)
	}
	if err != nil {
		return fmt.Errorf("store: delete backup target %d: %w", id, err)
	}
	return nil
}

// Backup is a row of backups, with its target's name.
type Backup struct {
	ID         string
	CTID       int
	OwnerID    *int64
	TargetID   int64
	TargetName string
	Status     string
	Kind       string
	Name       *string
	SnapshotID string
	SourcePath string
	// SourceIDBase is the host id owning the backed-up tree's root files
	// (0: the container's own ids).
	SourceIDBase int64
	Manifest     json.RawMessage
	SizeBytes    *int64
	AddedBytes   *int64
	FreezeMS     *int
	Error        string
	Progress     float64
	BytesDone    int64
	Protected    bool
	CreatedAt    time.Time
	FinishedAt   *time.Time
}

// Backup statuses.
const (
	BackupPending   = "pending"
	BackupRunning   = "running"
	BackupSucceeded = "succeeded"
	BackupFailed    = "failed"
)

const backupCols = `b.id, b.ct_id, b.owner_id, b.target_id, t.name, b.status, b.kind, b.name, b.snapshot_id, b.source_path, b.source_id_base, b.manifest,
	b.size_bytes, b.added_bytes, b.freeze_ms, b.error, b.progress, b.bytes_done, b.protected, b.created_at, b.finished_at`

func scanBackup(row pgx.Row) (Backup, error) {
	var b Backup
	err := row.Scan(&b.ID, &b.CTID, &b.OwnerID, &b.TargetID, &b.TargetName, &b.Status, &b.Kind, &b.Name, &b.SnapshotID, &b.SourcePath, &b.SourceIDBase,
		&b.Manifest, &b.SizeBytes, &b.AddedBytes, &b.FreezeMS, &b.Error, &b.Progress, &b.BytesDone, &b.Protected, &b.CreatedAt, &b.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, ErrNotFound
	}
	return b, err
}

// InsertBackup records a backup about to be made and returns its id.
func (q *Queries) InsertBackup(ctx context.Context, b Backup) (string, error) {
	var id string
	kind := b.Kind
	if kind == "" {
		kind = "backup"
	}
	err := q.db.QueryRow(ctx, `INSERT INTO backups (ct_id, owner_id, target_id, manifest, kind, name) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id::text`,
		b.CTID, b.OwnerID, b.TargetID, jsonOrEmpty(b.Manifest), kind, b.Name).Scan(&id)
	if _, ok := uniqueViolation(err); ok {
		return "", &ConflictError{Field: "name"}
	}
	if err != nil {
		return "", fmt.Errorf("store: insert backup: %w", err)
	}
	return id, nil
}

// GetBackup finds a backup.
func (q *Queries) GetBackup(ctx context.Context, id string) (Backup, error) {
	b, err := scanBackup(q.db.QueryRow(ctx, `SELECT `+backupCols+` FROM backups b JOIN backup_targets t ON t.id = b.target_id
		WHERE b.id::text = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return b, fmt.Errorf("store: get backup %s: %w", id, err)
	}
	return b, err
}

// ListBackups lists a container's backups (ctid 0: all), newest first;
// with owner, only that customer's. Snapshots are not backups.
func (q *Queries) ListBackups(ctx context.Context, ctid int, owner *int64) ([]Backup, error) {
	return q.listBackups(ctx, "backup", ctid, owner)
}

// ListSnapshots is ListBackups of snapshots.
func (q *Queries) ListSnapshots(ctx context.Context, ctid int, owner *int64) ([]Backup, error) {
	return q.listBackups(ctx, "snapshot", ctid, owner)
}

func (q *Queries) listBackups(ctx context.Context, kind string, ctid int, owner *int64) ([]Backup, error) {
	rows, err := q.db.Query(ctx, `SELECT `+backupCols+` FROM backups b JOIN backup_targets t ON t.id = b.target_id
		WHERE b.kind = $3 AND ($1 = 0 OR b.ct_id = $1) AND ($2::bigint IS NULL OR b.owner_id = $2)
		ORDER BY b.created_at DESC, b.id`, ctid, owner, kind)
	if err != nil {
		return nil, fmt.Errorf("store: list backups: %w", err)
	}
	defer rows.Close()
	var out []Backup
	for rows.Next() {
		b, err := scanBackup(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list backups: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// SetBackupRunning marks a backup begun, from sourcePath.
func (q *Queries) SetBackupRunning(ctx context.Context, id, sourcePath string, idBase int64) error {
	_, err := q.db.Exec(ctx, `UPDATE backups SET status = 'running', source_path = $2, source_id_base = $3 WHERE id::text = $1`, id, sourcePath, idBase)
	if err != nil {
		return fmt.Errorf("store: backup %s running: %w", id, err)
	}
	return nil
}

// FinishBackup records a backup's outcome: its snapshot and figures, or
// its error.
func (q *Queries) FinishBackup(ctx context.Context, b Backup) error {
	_, err := q.db.Exec(ctx, `UPDATE backups SET status = $2, snapshot_id = $3, size_bytes = $4, added_bytes = $5,
		freeze_ms = $6, error = $7, finished_at = now(), progress = CASE WHEN $2 = 'succeeded' THEN 100 ELSE progress END
		WHERE id::text = $1`,
		b.ID, b.Status, b.SnapshotID, b.SizeBytes, b.AddedBytes, b.FreezeMS, b.Error)
	if err != nil {
		return fmt.Errorf("store: finish backup %s: %w", b.ID, err)
	}
	return nil
}

// DeleteBackup removes a backup's row.
func (q *Queries) DeleteBackup(ctx context.Context, id string) error {
	if _, err := q.db.Exec(ctx, `DELETE FROM backups WHERE id::text = $1`, id); err != nil {
		return fmt.Errorf("store: delete backup %s: %w", id, err)
	}
	return nil
}

// SetBackupProtected sets a backup's protected flag.
func (q *Queries) SetBackupProtected(ctx context.Context, id string, protected bool) error {
	if _, err := q.db.Exec(ctx, `UPDATE backups SET protected = $2 WHERE id::text = $1`, id, protected); err != nil {
		return fmt.Errorf("store: protect backup %s: %w", id, err)
	}
	return nil
}

// CountBackups is how many of a container's backups are made or being
// made (failed ones aside).
func (q *Queries) CountBackups(ctx context.Context, ctid int) (int, error) {
	var n int
	if err := q.db.QueryRow(ctx, `SELECT count(*) FROM backups WHERE ct_id = $1 AND status <> 'failed' AND kind = 'backup'`, ctid).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count backups of %d: %w", ctid, err)
	}
	return n, nil
}

// StoredBytes is what container ctid's finished backups of kind
// ("backup" or "snapshot") added to their targets when made.
func (q *Queries) StoredBytes(ctx context.Context, ctid int, kind string) (int64, error) {
	var n int64
	if err := q.db.QueryRow(ctx, `SELECT coalesce(sum(added_bytes), 0) FROM backups WHERE ct_id = $1 AND status = 'succeeded' AND kind = $2`,
		ctid, kind).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: stored bytes of %d: %w", ctid, err)
	}
	return n, nil
}

// FailedBackupsSince counts the backups and snapshots that failed since.
func (q *Queries) FailedBackupsSince(ctx context.Context, since time.Time) (int, error) {
	var n int
	if err := q.db.QueryRow(ctx, `SELECT count(*) FROM backups WHERE status = 'failed' AND created_at >= $1`, since).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: failed backups: %w", err)
	}
	return n, nil
}

// BackupsDue counts the scheduled backups due within the next `within`,
// and those past due (not run yet: a panel that was down, or every slot
// of the host busy).
func (q *Queries) BackupsDue(ctx context.Context, within time.Duration) (due, late int, err error) {
	err = q.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE next_run_at >= now() AND next_run_at < now() + $1::interval),
		count(*) FILTER (WHERE next_run_at < now() - interval '10 minutes') FROM backup_schedules`, within).Scan(&due, &late)
	if err != nil {
		return 0, 0, fmt.Errorf("store: backups due: %w", err)
	}
	return due, late, nil
}

// UsernameOf is user id's name.
func (q *Queries) UsernameOf(ctx context.Context, id int64) (string, error) {
	var name string
	err := q.db.QueryRow(ctx, `SELECT username FROM users WHERE id = $1`, id).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	return name, err
}

// BackupUsage is a container's finished backups: how many, and what they
// added to their targets.
type BackupUsage struct {
	Count       int
	StoredBytes int64
}

// BackupUsageOf is BackupUsage of every container with backups.
func (q *Queries) BackupUsageOf(ctx context.Context) (map[int]BackupUsage, error) {
	rows, err := q.db.Query(ctx, `SELECT ct_id, count(*), coalesce(sum(added_bytes), 0)::bigint FROM backups
		WHERE status = 'succeeded' AND kind = 'backup' GROUP BY ct_id`)
	if err != nil {
		return nil, fmt.Errorf("store: backup usage: %w", err)
	}
	defer rows.Close()
	out := map[int]BackupUsage{}
	for rows.Next() {
		var id int
		var u BackupUsage
		if err := rows.Scan(&id, &u.Count, &u.StoredBytes); err != nil {
			return nil, fmt.Errorf("store: backup usage: %w", err)
		}
		out[id] = u
	}
	return out, rows.Err()
}

// BackupSchedule is a row of backup_schedules, with its target's name.
type BackupSchedule struct {
	CTID        int
	TargetID    int64
	TargetName  string
	MinuteOfDay int
	NextRunAt   time.Time
	LastRunAt   *time.Time
	LastBackup  *string
}

const scheduleCols = `s.ct_id, s.target_id, t.name, s.minute_of_day, s.next_run_at, s.last_run_at, s.last_backup::text`

func scanSchedule(row pgx.Row) (BackupSchedule, error) {
	var s BackupSchedule
	err := row.Scan(&s.CTID, &s.TargetID, &s.TargetName, &s.MinuteOfDay, &s.NextRunAt, &s.LastRunAt, &s.LastBackup)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, ErrNotFound
	}
	return s, err
}

// PutSchedule sets a container's schedule.
func (q *Queries) PutSchedule(ctx context.Context, s BackupSchedule) error {
	_, err := q.db.Exec(ctx, `INSERT INTO backup_schedules (ct_id, target_id, minute_of_day, next_run_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (ct_id) DO UPDATE SET target_id = excluded.target_id, minute_of_day = excluded.minute_of_day,
			next_run_at = excluded.next_run_at`, s.CTID, s.TargetID, s.MinuteOfDay, s.NextRunAt)
	if err != nil {
		return fmt.Errorf("store: backup schedule of %d: %w", s.CTID, err)
	}
	return nil
}

// GetSchedule is a container's schedule.
func (q *Queries) GetSchedule(ctx context.Context, ctid int) (BackupSchedule, error) {
	return scanSchedule(q.db.QueryRow(ctx, `SELECT `+scheduleCols+` FROM backup_schedules s JOIN backup_targets t ON t.id = s.target_id
		WHERE s.ct_id = $1`, ctid))
}

// DeleteSchedule removes a container's schedule.
func (q *Queries) DeleteSchedule(ctx context.Context, ctid int) (bool, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM backup_schedules WHERE ct_id = $1`, ctid)
	if err != nil {
		return false, fmt.Errorf("store: delete backup schedule of %d: %w", ctid, err)
	}
	return tag.RowsAffected() > 0, nil
}

// DueSchedules locks up to limit schedules due at now, skipping those
// another panel holds (SKIP LOCKED); the caller moves each on in the
// same transaction.
func (q *Queries) DueSchedules(ctx context.Context, now time.Time, limit int) ([]BackupSchedule, error) {
	rows, err := q.db.Query(ctx, `SELECT `+scheduleCols+` FROM backup_schedules s JOIN backup_targets t ON t.id = s.target_id
		WHERE s.next_run_at <= $1 ORDER BY s.next_run_at LIMIT $2 FOR UPDATE OF s SKIP LOCKED`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("store: due backup schedules: %w", err)
	}
	defer rows.Close()
	var out []BackupSchedule
	for rows.Next() {
		s, err := scanSchedule(rows)
		if err != nil {
			return nil, fmt.Errorf("store: due backup schedules: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ScheduleRan moves a schedule on to next, recording the run.
func (q *Queries) ScheduleRan(ctx context.Context, ctid int, ran, next time.Time, backupID *string) error {
	_, err := q.db.Exec(ctx, `UPDATE backup_schedules SET last_run_at = $2, next_run_at = $3, last_backup = $4::uuid WHERE ct_id = $1`,
		ctid, ran, next, backupID)
	if err != nil {
		return fmt.Errorf("store: backup schedule of %d ran: %w", ctid, err)
	}
	return nil
}

// SetBackupProgress records how far a running backup is.
func (q *Queries) SetBackupProgress(ctx context.Context, id string, percent float64, bytesDone int64) error {
	if _, err := q.db.Exec(ctx, `UPDATE backups SET progress = $2, bytes_done = $3 WHERE id::text = $1 AND status = 'running'`,
		id, percent, bytesDone); err != nil {
		return fmt.Errorf("store: backup %s progress: %w", id, err)
	}
	return nil
}

// EnsureTarget finds target name, making it as t says when missing.
func (q *Queries) EnsureTarget(ctx context.Context, t BackupTarget) (BackupTarget, error) {
	got, err := q.GetTarget(ctx, t.Name)
	if !errors.Is(err, ErrNotFound) {
		return got, err
	}
	got, err = q.InsertTarget(ctx, t)
	var ce *ConflictError
	if errors.As(err, &ce) {
		return q.GetTarget(ctx, t.Name)
	}
	return got, err
}

// GetSnapshot finds a container's snapshot by name.
func (q *Queries) GetSnapshot(ctx context.Context, ctid int, name string) (Backup, error) {
	return scanBackup(q.db.QueryRow(ctx, `SELECT `+backupCols+` FROM backups b JOIN backup_targets t ON t.id = b.target_id
		WHERE b.kind = 'snapshot' AND b.ct_id = $1 AND b.name = $2`, ctid, name))
}

// SnapshotsWithPlans are every finished, unprotected snapshot with its
// container's plan's backup policy (JSON), for expiry.
func (q *Queries) SnapshotsWithPlans(ctx context.Context) ([]Backup, []json.RawMessage, error) {
	rows, err := q.db.Query(ctx, `SELECT `+backupCols+`, coalesce(pl.backup_policy, '{}') FROM backups b
		JOIN backup_targets t ON t.id = b.target_id JOIN containers c ON c.ct_id = b.ct_id LEFT JOIN plans pl ON pl.id = c.plan_id
		WHERE b.kind = 'snapshot' AND b.status IN ('succeeded', 'failed') AND NOT b.protected`)
	if err != nil {
		return nil, nil, fmt.Errorf("store: snapshots: %w", err)
	}
	defer rows.Close()
	var out []Backup
	var pols []json.RawMessage
	for rows.Next() {
		var b Backup
		var pol json.RawMessage
		if err := rows.Scan(&b.ID, &b.CTID, &b.OwnerID, &b.TargetID, &b.TargetName, &b.Status, &b.Kind, &b.Name, &b.SnapshotID, &b.SourcePath, &b.SourceIDBase,
			&b.Manifest, &b.SizeBytes, &b.AddedBytes, &b.FreezeMS, &b.Error, &b.Progress, &b.BytesDone, &b.Protected, &b.CreatedAt, &b.FinishedAt, &pol); err != nil {
			return nil, nil, fmt.Errorf("store: snapshots: %w", err)
		}
		out, pols = append(out, b), append(pols, pol)
	}
	return out, pols, rows.Err()
}

// UnscheduledOnPlans are the containers without a schedule of their own
// whose plan sets a default one, with that plan's backup policy (JSON).
func (q *Queries) UnscheduledOnPlans(ctx context.Context) (map[int]json.RawMessage, error) {
	rows, err := q.db.Query(ctx, `SELECT c.ct_id, p.backup_policy FROM containers c JOIN plans p ON p.id = c.plan_id
		WHERE coalesce(p.backup_policy->'schedule'->>'target', '') <> ''
		AND NOT EXISTS (SELECT 1 FROM backup_schedules s WHERE s.ct_id = c.ct_id)`)
	if err != nil {
		return nil, fmt.Errorf("store: unscheduled containers: %w", err)
	}
	defer rows.Close()
	out := map[int]json.RawMessage{}
	for rows.Next() {
		var id int
		var pol json.RawMessage
		if err := rows.Scan(&id, &pol); err != nil {
			return nil, fmt.Errorf("store: unscheduled containers: %w", err)
		}
		out[id] = pol
	}
	return out, rows.Err()
}
