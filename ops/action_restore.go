package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/ctpanel/ctpanel/backup"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ActionRestore restores a backup into its container, in place.
const ActionRestore = "restore"

// Restore puts a backup's root filesystem back into the container: the
// snapshot is restored beside the rootfs and every file read back against
// its checksum (restic restore --verify) before the container is touched;
// then the container is stopped, the trees are swapped by rename, and it
// is started again if it ran. The old tree is kept until the restored one
// starts (put back if it does not), then removed. The container's CTID,
// addresses, limits and configuration stay as they are.
type Restore struct {
	BackupID string `json:"backup_id"`
	// Start starts the container afterwards even if it was stopped (a
	// restore into a new container).
	Start bool `json:"start,omitempty"`
}

func init() { register(ActionRestore, func() Action { return &Restore{} }) }

// ActionName is "restore".
func (*Restore) ActionName() string { return ActionRestore }

func (a *Restore) run(ctx context.Context, r *Runner, op db.Operation) error {
	b, err := r.Store.GetBackup(ctx, a.BackupID)
	if err != nil {
		return err
	}
	if b.Status != db.BackupSucceeded || b.SnapshotID == "" || b.SourcePath == "" {
		return fmt.Errorf("backup %s is %s: only a finished backup can be restored", b.ID, b.Status)
	}
	target, err := r.Store.GetTargetByID(ctx, b.TargetID)
	if err != nil {
		return err
	}
	rd, ok := r.Drv.(rootfsDirer)
	if !ok {
		return fmt.Errorf("this driver cannot restore containers: %w", lxcdriver.ErrUnsupported)
	}
	name := strconv.Itoa(op.CTID)
	dir, err := rd.RootfsDir(ctx, name)
	if err != nil {
		return err
	}
	stage, old := dir+".restore", dir+".old"
	// What an interrupted restore left: a swap half done is finished
	// backwards (the old tree is whole; the restored one may not be).
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(old); err == nil {
			if err := os.Rename(old, dir); err != nil {
				return err
			}
		}
	}
	if err := os.RemoveAll(stage); err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	repo, done, err := backup.Open(TargetOf(target))
	if err != nil {
		return err
	}
	defer done()
	if err := repo.Restore(ctx, b.SnapshotID, stage); err != nil {
		return fmt.Errorf("restore backup %s (the container is unchanged): %w", b.ID, err)
	}
	restored := filepath.Join(stage, b.SourcePath)
	if !hasInit(restored) {
		return fmt.Errorf("backup %s holds no /sbin/init or /bin/sh at %s (the container is unchanged)", b.ID, b.SourcePath)
	}
	state, err := r.Drv.State(ctx, name)
	if err != nil {
		return err
	}
	wasUp := state == lxcdriver.StateRunning || state == lxcdriver.StateFrozen
	if err := r.Drv.Stop(ctx, name); err != nil {
		return err
	}
	if err := os.RemoveAll(old); err != nil {
		return err
	}
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(restored, dir); err != nil {
		return errors.Join(err, os.Rename(old, dir))
	}
	// The restored guest's files say what its container was when backed
	// up: they are told its addresses now, and a new container (a.Start)
	// gets its own machine-id and SSH host keys.
	c, err := r.Store.GetContainer(ctx, op.CTID)
	if err != nil {
		return errors.Join(err, r.swapBack(dir, old))
	}
	note, err := r.setupGuest(ctx, c, a.Start)
	if err != nil {
		return errors.Join(fmt.Errorf("set up the restored guest: %w", err), r.swapBack(dir, old))
	}
	r.noteOp(ctx, op, note)
	if wasUp || a.Start {
		if err := r.start(ctx, op.CTID); err != nil {
			// Put the old tree back and bring it up as it was.
			_ = r.Drv.Stop(ctx, name)
			failed := dir + ".failed"
			_ = os.RemoveAll(failed)
			if rerr := errors.Join(os.Rename(dir, failed), os.Rename(old, dir)); rerr != nil {
				return errors.Join(err, rerr)
			}
			_ = os.RemoveAll(failed)
			return errors.Join(fmt.Errorf("the restored container did not start; the old tree is back: %w", err), r.start(ctx, op.CTID))
		}
	}
	return os.RemoveAll(old)
}

// hasInit says whether root holds something a container can boot.
// swapBack puts the old tree back in place of the restored one.
func (r *Runner) swapBack(dir, old string) error {
	failed := dir + ".failed"
	_ = os.RemoveAll(failed)
	if err := errors.Join(os.Rename(dir, failed), os.Rename(old, dir)); err != nil {
		return err
	}
	return os.RemoveAll(failed)
}

func hasInit(root string) bool {
	for _, p := range []string{"sbin/init", "bin/sh"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			return true
		}
	}
	return false
}
