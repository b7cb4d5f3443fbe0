package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ctpanel/ctpanel/backup"
	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ActionBackup backs a container up to a target.
const ActionBackup = "backup"

// MaxFreeze is the longest a backup keeps a container frozen: past it a
// watchdog thaws the container whatever the copy is doing (the backup then
// fails rather than block the VPS).
var MaxFreeze = 2 * time.Minute

// backupSlots bounds the backups running at once on this host.
var backupSlots atomic.Pointer[chan struct{}]

func init() { SetBackupConcurrency(2) }

// SetBackupConcurrency sets how many backups may run at once (at least
// one); backups already waiting keep the bound they began with.
func SetBackupConcurrency(n int) {
	ch := make(chan struct{}, max(1, n))
	backupSlots.Store(&ch)
}

// Backup is one backup, as Proxmox's suspend mode makes it: a first pass
// while the container runs, then a freeze, a second pass that reads only
// what changed since (restic against the first snapshot), and a thaw; the
// second snapshot is the backup. A stopped container is read once, with
// no freeze.
type Backup struct {
	BackupID string `json:"backup_id"`
}

func init() { register(ActionBackup, func() Action { return &Backup{} }) }

// ActionName is "backup".
func (*Backup) ActionName() string { return ActionBackup }

// TargetOf is what the backup engine needs of a target's row.
func TargetOf(t db.BackupTarget) backup.Target {
	return backup.Target{Kind: t.Kind, Path: t.Path, Host: t.Host, Port: t.Port, User: t.Username,
		PrivateKey: t.PrivateKey, HostKey: t.HostKey, Password: t.RepoPassword}
}

func (a *Backup) run(ctx context.Context, r *Runner, op db.Operation) (err error) {
	b, err := r.Store.GetBackup(ctx, a.BackupID)
	if err != nil {
		return err
	}
	if b.Status == db.BackupSucceeded {
		return nil
	}
	slots := *backupSlots.Load()
	select {
	case slots <- struct{}{}:
		defer func() { <-slots }()
	case <-ctx.Done():
		return ctx.Err()
	}
	res := db.Backup{ID: b.ID, Status: db.BackupFailed}
	defer func() {
		if err != nil {
			res.Error = err.Error()
			if ferr := r.Store.FinishBackup(context.WithoutCancel(ctx), res); ferr != nil {
				err = errors.Join(err, ferr)
			}
		}
	}()
	target, err := r.Store.GetTargetByID(ctx, b.TargetID)
	if err != nil {
		return err
	}
	rs, ok := r.Drv.(lxcdriver.RootfsStore)
	if !ok {
		return fmt.Errorf("this driver cannot back containers up: %w", lxcdriver.ErrUnsupported)
	}
	name := strconv.Itoa(op.CTID)
	repo, done, err := backup.Open(TargetOf(target))
	if err != nil {
		return fmt.Errorf("backup target %s: %w", target.Name, err)
	}
	defer done()
	if err := repo.Init(ctx); err != nil {
		return fmt.Errorf("backup target %s: %w", target.Name, err)
	}
	state, err := r.Drv.State(ctx, name)
	if err != nil {
		return err
	}
	if state == lxcdriver.StateFrozen && b.Status == db.BackupRunning {
		// A panel that died mid-freeze left it so: thaw, and start over.
		if err := r.Drv.Unfreeze(ctx, name); err != nil {
			return err
		}
		state = lxcdriver.StateRunning
	}
	// Read where it lies (a directory rootfs) or through a mount of its
	// disk, held until the frozen pass is done.
	view, err := rs.OpenRootfs(ctx, name)
	if err != nil {
		return err
	}
	defer func() {
		// The backup stands or falls by itself; a mount that will not
		// go is cleared by the next backup or the container's destroy.
		if rerr := view.Release(); rerr != nil {
			r.Log.Warn("backup: let go of the root filesystem", "ctid", op.CTID, "err", rerr)
			return
		}
		if view.RebootAsked() {
			r.Log.Info("backup: the guest rebooted while its disk was read; starting it", "ctid", op.CTID)
			if serr := r.start(context.WithoutCancel(ctx), op.CTID); serr != nil {
				r.Log.Warn("backup: start the rebooted guest", "ctid", op.CTID, "err", serr)
			}
		}
	}()
	dir := view.Dir
	if err := r.Store.SetBackupRunning(ctx, b.ID, dir, int64(view.IDBase)); err != nil {
		return err
	}
	tags := []string{"ctpanel", "backup-" + b.ID, "ct-" + name}
	var sum backup.Summary
	var added uint64
	// Progress: the first pass is most of the work (the frozen one reads
	// only what changed), recorded at most every second.
	var last time.Time
	progress := func(p backup.Progress) {
		if time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		if err := r.Store.SetBackupProgress(ctx, b.ID, 100*p.PercentDone, int64(p.BytesDone)); err != nil {
			r.Log.Warn("backup progress", "backup", b.ID, "err", err)
		}
	}
	if state == lxcdriver.StateRunning {
		first, err := repo.Backup(ctx, dir, "", append(tags, "first-pass"), progress)
		if err != nil && !errors.Is(err, backup.ErrIncomplete) {
			return err // files that vanished while it ran are read again frozen
		}
		frozenFor, second, err := r.frozenPass(ctx, name, func(ctx context.Context) (backup.Summary, error) {
			return repo.Backup(ctx, dir, first.SnapshotID, tags, nil)
		})
		ms := int(frozenFor.Milliseconds())
		res.FreezeMS = &ms
		if err != nil {
			return err
		}
		if err := repo.Forget(ctx, false, first.SnapshotID); err != nil {
			return err
		}
		sum, added = second, first.DataAdded+second.DataAdded
	} else {
		if sum, err = repo.Backup(ctx, dir, "", tags, progress); err != nil {
			return err
		}
		added = sum.DataAdded
	}
	size, stored := int64(sum.TotalBytes), int64(added)
	res.Status, res.SnapshotID, res.SizeBytes, res.AddedBytes = db.BackupSucceeded, sum.SnapshotID, &size, &stored
	if err := r.Store.FinishBackup(ctx, res); err != nil {
		return err
	}
	// The backup is good whatever retention does; a retention that fails
	// is done again after the next backup. Snapshots have their own rules.
	if b.Kind == "snapshot" {
		return nil
	}
	if err := r.applyRetention(ctx, op.CTID, target); err != nil {
		r.Log.Warn("backup retention", "ctid", op.CTID, "target", target.Name, "err", err)
	}
	return nil
}

// applyRetention removes what the container's plan does not keep of its
// finished backups on target: retention, then rotation past the plan's
// count. Days and weeks are the host's local ones.
func (r *Runner) applyRetention(ctx context.Context, ctid int, target db.BackupTarget) error {
	c, err := r.Store.GetContainer(ctx, ctid)
	if err != nil {
		return err
	}
	var pol backup.Policy
	if c.PlanID != nil {
		pl, err := r.Store.GetPlanByID(ctx, *c.PlanID)
		if err != nil {
			return err
		}
		if len(pl.BackupPolicy) > 0 {
			if err := json.Unmarshal(pl.BackupPolicy, &pol); err != nil {
				return err
			}
		}
	}
	if pol.Keep.Empty() && !pol.Rotating() {
		return nil
	}
	list, err := r.Store.ListBackups(ctx, ctid, nil)
	if err != nil {
		return err
	}
	var items []backup.Item
	snap := map[string]string{}
	for _, b := range list {
		if b.TargetID == target.ID && b.Status == db.BackupSucceeded {
			var added int64
			if b.AddedBytes != nil {
				added = *b.AddedBytes
			}
			items = append(items, backup.Item{ID: b.ID, At: b.CreatedAt, Protected: b.Protected, Bytes: added})
			snap[b.ID] = b.SnapshotID
		}
	}
	drop := pol.Drop(items, time.Local)
	if len(drop) == 0 {
		return nil
	}
	var ids []string
	for _, id := range drop {
		ids = append(ids, snap[id])
	}
	repo, done, err := backup.Open(TargetOf(target))
	if err != nil {
		return err
	}
	defer done()
	if err := repo.Forget(ctx, true, ids...); err != nil {
		return err
	}
	for _, id := range drop {
		if err := r.Store.DeleteBackup(ctx, id); err != nil {
			return err
		}
	}
	r.Log.Info("backup retention", "ctid", ctid, "removed", len(drop))
	return nil
}

// frozenPass freezes the container, runs pass and thaws it, on every
// path: a watchdog thaws it after MaxFreeze even if pass hangs. It returns
// how long the container was frozen.
func (r *Runner) frozenPass(ctx context.Context, name string, pass func(context.Context) (backup.Summary, error)) (time.Duration, backup.Summary, error) {
	if err := r.Drv.Freeze(ctx, name); err != nil {
		return 0, backup.Summary{}, err
	}
	start := time.Now()
	passCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchdog := time.AfterFunc(MaxFreeze, func() {
		cancel()
		_ = r.Drv.Unfreeze(context.WithoutCancel(ctx), name)
	})
	sum, err := pass(passCtx)
	watchdog.Stop()
	thawErr := r.Drv.Unfreeze(context.WithoutCancel(ctx), name)
	frozen := time.Since(start)
	if passCtx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("the frozen pass took longer than %s; thawed and given up", MaxFreeze)
	}
	return frozen, sum, errors.Join(err, thawErr)
}
