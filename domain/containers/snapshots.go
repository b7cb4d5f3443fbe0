package containers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/ctpanel/ctpanel/backup"
	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/ops"
)

// Snapshots are the quick undo: a named backup of the container kept on
// this host, in a restic repository of the panel's own (SnapshotDir),
// made as a backup is (a pass while it runs, a freeze for the delta) and
// rolled back as a backup is restored in place. On a directory rootfs a
// copy-on-write snapshot is not to be had (no reflinks on ext4, and liblxc's
// dir snapshots are full copies): a snapshot costs only the chunks no
// other snapshot or backup of the repository holds, compressed; the first
// of a container about its used size, each next one what changed.

// SnapshotTarget is the name of the snapshots' own target.
const SnapshotTarget = "_snapshots"

var snapshotName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// SnapshotView is a snapshot as both front ends show it.
type SnapshotView struct {
	Name string `json:"name"`
	BackupView
}

func snapshotView(b db.Backup) SnapshotView {
	v := SnapshotView{BackupView: backupView(b)}
	if b.Name != nil {
		v.Name = *b.Name
	}
	return v
}

// snapshotTarget is the snapshots' target, made at the first snapshot.
func (s *Service) snapshotTarget(ctx context.Context, q *db.Queries) (db.BackupTarget, error) {
	if s.SnapshotDir == "" {
		return db.BackupTarget{}, domain.Conflict("snapshots are not set up on this panel")
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return db.BackupTarget{}, err
	}
	return q.EnsureTarget(ctx, db.BackupTarget{Name: SnapshotTarget, Kind: "dir", Path: s.SnapshotDir, RepoPassword: hex.EncodeToString(secret)})
}

// TakeSnapshot snapshots the container ref as name (its customer, or
// staff), within its plan's count: 202 with the snapshot and its
// operation.
func (s *Service) TakeSnapshot(ctx context.Context, p db.Principal, ref, name string) (SnapshotView, db.Operation, error) {
	var view SnapshotView
	// Another customer's container is a 404 whatever the name.
	if _, err := s.Get(ctx, p, ref); err != nil {
		return view, db.Operation{}, err
	}
	if !snapshotName.MatchString(name) {
		f := domain.FieldErrors{}
		f.Add("name", "must be 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit")
		return view, db.Operation{}, f.Err()
	}
	op, err := s.queueWith(ctx, p, ref, "container.snapshot", func(q *db.Queries, c db.Container) (ops.Action, map[string]any, error) {
		t, err := s.snapshotTarget(ctx, q)
		if err != nil {
			return nil, nil, err
		}
		pol, err := PlanBackupPolicy(ctx, q, c.PlanID)
		if err != nil {
			return nil, nil, err
		}
		if max := pol.Snapshots.Max; max != nil {
			have, err := q.ListSnapshots(ctx, c.CTID, nil)
			if err != nil {
				return nil, nil, err
			}
			n := 0
			for _, h := range have {
				if h.Status != db.BackupFailed {
					n++
				}
			}
			if n >= *max {
				return nil, nil, domain.Conflict("container %d's plan keeps %d snapshot(s) and it has %d: delete one first", c.CTID, *max, n)
			}
		}
		if max := pol.Snapshots.MaxBytes; max != nil {
			held, err := q.StoredBytes(ctx, c.CTID, "snapshot")
			if err != nil {
				return nil, nil, err
			}
			if *max == 0 || held >= *max {
				return nil, nil, domain.Conflict("container %d's plan keeps %d bytes of snapshots and its snapshots hold %d: delete one first", c.CTID, *max, held)
			}
		}
		b := db.Backup{CTID: c.CTID, OwnerID: c.OwnerID, TargetID: t.ID, Manifest: manifestOf(c), Kind: "snapshot", Name: &name}
		b.ID, err = q.InsertBackup(ctx, b)
		var ce *db.ConflictError
		if errors.As(err, &ce) {
			return nil, nil, domain.ConflictField("name", "container %d has a snapshot %q", c.CTID, name)
		}
		if err != nil {
			return nil, nil, err
		}
		got, err := q.GetBackup(ctx, b.ID)
		if err != nil {
			return nil, nil, err
		}
		view = snapshotView(got)
		return &ops.Backup{BackupID: b.ID}, map[string]any{"snapshot": name}, nil
	})
	return view, op, err
}

// Snapshots lists the container ref's snapshots, newest first.
func (s *Service) Snapshots(ctx context.Context, p db.Principal, ref string) ([]SnapshotView, error) {
	c, err := s.Get(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	list, err := s.Store.ListSnapshots(ctx, c.CTID, nil)
	if err != nil {
		return nil, err
	}
	out := make([]SnapshotView, 0, len(list))
	for _, b := range list {
		out = append(out, snapshotView(b))
	}
	return out, nil
}

// snapshot finds the container ref's snapshot name as p may see it.
func (s *Service) snapshot(ctx context.Context, p db.Principal, ref, name string) (db.Backup, error) {
	c, err := s.Get(ctx, p, ref)
	if err != nil {
		return db.Backup{}, err
	}
	b, err := s.Store.GetSnapshot(ctx, c.CTID, name)
	if errors.Is(err, db.ErrNotFound) {
		return b, domain.NotFound("container %d has no snapshot %s", c.CTID, strconv.Quote(name))
	}
	return b, err
}

// RollbackSnapshot puts the container ref back to its snapshot name.
func (s *Service) RollbackSnapshot(ctx context.Context, p db.Principal, ref, name string) (db.Operation, error) {
	b, err := s.snapshot(ctx, p, ref, name)
	if err != nil {
		return db.Operation{}, err
	}
	return s.RestoreBackup(ctx, p, b.ID, nil)
}

// DeleteSnapshot removes the container ref's snapshot name.
func (s *Service) DeleteSnapshot(ctx context.Context, p db.Principal, ref, name string) error {
	b, err := s.snapshot(ctx, p, ref, name)
	if err != nil {
		return err
	}
	return s.DeleteBackup(ctx, p, b.ID)
}

// ExpireSnapshots removes the unprotected snapshots older than their
// plan lets them live; it returns how many went.
func (s *Service) ExpireSnapshots(ctx context.Context, now time.Time) (int, error) {
	list, pols, err := s.Store.SnapshotsWithPlans(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, b := range list {
		var pol backup.Policy
		if err := json.Unmarshal(pols[i], &pol); err != nil || pol.Snapshots.MaxAgeHours == 0 {
			continue
		}
		if now.Sub(b.CreatedAt) < time.Duration(pol.Snapshots.MaxAgeHours)*time.Hour {
			continue
		}
		if err := s.DeleteBackup(ctx, scheduler, b.ID); err != nil {
			return n, fmt.Errorf("expire snapshot %s of %d: %w", b.ID, b.CTID, err)
		}
		n++
	}
	return n, nil
}
