package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ImageMeta is what an image is: its distribution, release, architecture
// and variant, and where it came from.
type ImageMeta struct {
	Distribution string
	Release      string
	Arch         string
	Variant      string
	Origin       string // lxc, uploaded, built, imported
}

// ImageVersion is one root file system of a template in the image store.
type ImageVersion struct {
	Template  string
	Version   string
	File      string // name in the image store
	SHA256    string
	SizeBytes int64
	Origin    string
	// Containers counts the containers made from this version.
	Containers int
	CreatedAt  time.Time
}

const versionCols = `v.template, v.version, v.file, v.sha256, v.size_bytes, v.origin,
	(SELECT count(*) FROM containers c WHERE c.template = v.template AND c.image_version = v.version), v.created_at`

func scanVersion(row pgx.Row) (ImageVersion, error) {
	var v ImageVersion
	err := row.Scan(&v.Template, &v.Version, &v.File, &v.SHA256, &v.SizeBytes, &v.Origin, &v.Containers, &v.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, ErrNotFound
	}
	return v, err
}

// ImageVersions lists a template's versions, newest first.
func (q *Queries) ImageVersions(ctx context.Context, template string) ([]ImageVersion, error) {
	rows, err := q.db.Query(ctx, `SELECT `+versionCols+` FROM image_versions v WHERE v.template = $1
		ORDER BY v.created_at DESC, v.version DESC`, template)
	if err != nil {
		return nil, fmt.Errorf("store: image versions of %q: %w", template, err)
	}
	defer rows.Close()
	var out []ImageVersion
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("store: image versions of %q: %w", template, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ImageVersion finds one version of a template; version "" is the newest.
// ErrNotFound when there is none.
func (q *Queries) ImageVersion(ctx context.Context, template, version string) (ImageVersion, error) {
	v, err := scanVersion(q.db.QueryRow(ctx, `SELECT `+versionCols+` FROM image_versions v
		WHERE v.template = $1 AND ($2 = '' OR v.version = $2)
		ORDER BY v.created_at DESC, v.version DESC LIMIT 1`, template, version))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return v, fmt.Errorf("store: image version %s@%s: %w", template, version, err)
	}
	return v, err
}

// AddImageVersion records a new version of template, making the template
// (enabled, with meta) when it does not exist; an existing one gets meta
// where meta says something. created says whether the template is new.
func (q *Queries) AddImageVersion(ctx context.Context, v ImageVersion, meta ImageMeta, description string) (created bool, err error) {
	err = q.db.QueryRow(ctx, `INSERT INTO os_templates (name, kind, source, description, enabled, distribution, release, arch, variant, origin)
		VALUES ($1, 'tarball', '', $2, true, $3, $4, $5, $6, $7)
		ON CONFLICT (name) DO UPDATE SET
			distribution = CASE WHEN $3 <> '' THEN $3 ELSE os_templates.distribution END,
			release = CASE WHEN $4 <> '' THEN $4 ELSE os_templates.release END,
			arch = CASE WHEN $5 <> '' THEN $5 ELSE os_templates.arch END,
			variant = CASE WHEN $6 <> '' THEN $6 ELSE os_templates.variant END
		RETURNING (xmax = 0)`,
		v.Template, description, meta.Distribution, meta.Release, meta.Arch, meta.Variant, meta.Origin).Scan(&created)
	if err != nil {
		return false, fmt.Errorf("store: image %q: %w", v.Template, err)
	}
	if _, err := q.db.Exec(ctx, `INSERT INTO image_versions (template, version, file, sha256, size_bytes, origin)
		VALUES ($1, $2, $3, $4, $5, $6)`, v.Template, v.Version, v.File, v.SHA256, v.SizeBytes, v.Origin); err != nil {
		if _, dup := uniqueViolation(err); dup {
			return false, ErrConflict
		}
		return false, fmt.Errorf("store: add image version %s@%s: %w", v.Template, v.Version, err)
	}
	return created, nil
}

// DeleteImageVersion removes a version's row.
func (q *Queries) DeleteImageVersion(ctx context.Context, template, version string) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM image_versions WHERE template = $1 AND version = $2`, template, version)
	if err != nil {
		return fmt.Errorf("store: delete image version %s@%s: %w", template, version, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// ImageFiles lists every file the image store's rows name (start-up
// removes others a crash left).
func (q *Queries) ImageFiles(ctx context.Context) ([]string, error) {
	rows, err := q.db.Query(ctx, `SELECT file FROM image_versions`)
	if err != nil {
		return nil, fmt.Errorf("store: image files: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// TemplateMeta reads a template's image metadata.
func (q *Queries) TemplateMeta(ctx context.Context, name string) (ImageMeta, error) {
	var m ImageMeta
	err := q.db.QueryRow(ctx, `SELECT distribution, release, arch, variant, origin FROM os_templates WHERE name = $1`, name).
		Scan(&m.Distribution, &m.Release, &m.Arch, &m.Variant, &m.Origin)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, ErrNotFound
	}
	if err != nil {
		return m, fmt.Errorf("store: template meta %q: %w", name, err)
	}
	return m, nil
}

// ImageTask is a build or import of an image.
type ImageTask struct {
	ID          string
	Kind        string // build, import
	Template    string
	Params      json.RawMessage
	Status      string // running, succeeded, failed
	Progress    string
	Error       string
	Version     *string
	RequestedBy string
	CreatedAt   time.Time
	FinishedAt  *time.Time
}

const taskCols = `id::text, kind, template, params, status, progress, error, version, requested_by, created_at, finished_at`

func scanTask(row pgx.Row) (ImageTask, error) {
	var t ImageTask
	err := row.Scan(&t.ID, &t.Kind, &t.Template, &t.Params, &t.Status, &t.Progress, &t.Error, &t.Version,
		&t.RequestedBy, &t.CreatedAt, &t.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// InsertImageTask records a running task. ErrConflict when a task for
// the same template is running.
func (q *Queries) InsertImageTask(ctx context.Context, kind, template string, params any, by string) (ImageTask, error) {
	raw, err := json.Marshal(params)
	if err != nil {
		return ImageTask{}, err
	}
	t, err := scanTask(q.db.QueryRow(ctx, `INSERT INTO image_tasks (kind, template, params, requested_by)
		SELECT $1, $2, $3, $4
		WHERE NOT EXISTS (SELECT 1 FROM image_tasks WHERE template = $2 AND status = 'running')
		RETURNING `+taskCols, kind, template, raw, by))
	if errors.Is(err, ErrNotFound) {
		return t, ErrConflict
	}
	if err != nil {
		return t, fmt.Errorf("store: insert image task: %w", err)
	}
	return t, nil
}

// SetImageTaskProgress records what a running task is doing.
func (q *Queries) SetImageTaskProgress(ctx context.Context, id, progress string) error {
	_, err := q.db.Exec(ctx, `UPDATE image_tasks SET progress = $2 WHERE id = $1::uuid AND status = 'running'`, id, progress)
	return err
}

// FinishImageTask records a task's outcome.
func (q *Queries) FinishImageTask(ctx context.Context, id string, version string, taskErr error) error {
	status, msg := "succeeded", ""
	var ver *string
	if taskErr != nil {
		status, msg = "failed", taskErr.Error()
	} else {
		ver = &version
	}
	_, err := q.db.Exec(ctx, `UPDATE image_tasks SET status = $2, error = $3, version = $4, finished_at = now(),
			progress = CASE WHEN $2 = 'succeeded' THEN 'done: version ' || $4 ELSE progress END
		WHERE id = $1::uuid`, id, status, msg, ver)
	if err != nil {
		return fmt.Errorf("store: finish image task %s: %w", id, err)
	}
	return nil
}

// FailRunningImageTasks fails every task still running (a panel start:
// none of them runs any more).
func (q *Queries) FailRunningImageTasks(ctx context.Context, reason string) (int64, error) {
	tag, err := q.db.Exec(ctx, `UPDATE image_tasks SET status = 'failed', error = $1, finished_at = now()
		WHERE status = 'running'`, reason)
	if err != nil {
		return 0, fmt.Errorf("store: fail image tasks: %w", err)
	}
	return tag.RowsAffected(), nil
}

// GetImageTask finds a task by id.
func (q *Queries) GetImageTask(ctx context.Context, id string) (ImageTask, error) {
	if _, ok := operationID(id); !ok {
		return ImageTask{}, ErrNotFound
	}
	t, err := scanTask(q.db.QueryRow(ctx, `SELECT `+taskCols+` FROM image_tasks WHERE id = $1::uuid`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return t, fmt.Errorf("store: image task %s: %w", id, err)
	}
	return t, err
}

// ListImageTasks lists the latest tasks, newest first.
func (q *Queries) ListImageTasks(ctx context.Context, limit int) ([]ImageTask, error) {
	rows, err := q.db.Query(ctx, `SELECT `+taskCols+` FROM image_tasks ORDER BY created_at DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: image tasks: %w", err)
	}
	defer rows.Close()
	var out []ImageTask
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// SetContainerImage records the image version a container is made from.
func (q *Queries) SetContainerImage(ctx context.Context, ctid int, template string, version *string) error {
	_, err := q.db.Exec(ctx, `UPDATE containers SET template = $2, image_version = $3, updated_at = now() WHERE ct_id = $1`,
		ctid, template, version)
	if err != nil {
		return fmt.Errorf("store: set image of %d: %w", ctid, err)
	}
	return nil
}

// SetContainerGuest records what first boot found in a container.
func (q *Queries) SetContainerGuest(ctx context.Context, ctid int, guestOS, network string) error {
	_, err := q.db.Exec(ctx, `UPDATE containers SET guest_os = $2, guest_network = $3 WHERE ct_id = $1`, ctid, guestOS, network)
	if err != nil {
		return fmt.Errorf("store: set guest of %d: %w", ctid, err)
	}
	return nil
}

// SetOperationNote records an operation's note.
func (q *Queries) SetOperationNote(ctx context.Context, id, note string) error {
	uid, ok := operationID(id)
	if !ok {
		return ErrNotFound
	}
	_, err := q.db.Exec(ctx, `UPDATE operations SET note = $2 WHERE id = $1`, uid, note)
	return err
}
