package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

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
	rs, ok := r.Drv.(lxcdriver.RootfsStore)
	if !ok {
		return fmt.Errorf("this driver cannot restore containers: %w", lxcdriver.ErrUnsupported)
	}
	name := strconv.Itoa(op.CTID)
	stage, err := rs.StageRootfs(ctx, name)
	if err != nil {
		return err
	}
	defer func() {
		if derr := stage.Discard(); derr != nil {
			r.Log.Warn("restore: remove the staged root filesystem", "ctid", op.CTID, "err", derr)
		}
	}()
	repo, done, err := backup.Open(TargetOf(target))
	if err != nil {
		return err
	}
	defer done()
	if err := repo.Restore(ctx, b.SnapshotID, stage.Dir); err != nil {
		if strings.Contains(err.Error(), "no space left on device") {
			return fmt.Errorf("restore backup %s: its files do not fit the container's disk (the container is unchanged): %w", b.ID, err)
		}
		return fmt.Errorf("restore backup %s (the container is unchanged): %w", b.ID, err)
	}
	// restic puts the tree at its path when backed up; it becomes the
	// root.
	if err := liftTree(stage.Dir, b.SourcePath); err != nil {
		return fmt.Errorf("restore backup %s (the container is unchanged): %w", b.ID, err)
	}
	if !hasInit(stage.Dir) {
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
	if err := stage.Swap(ctx, uint32(b.SourceIDBase)); err != nil {
		return err
	}
	// The restored guest's files say what its container was when backed
	// up: they are told its addresses now, and a new container (a.Start)
	// gets its own machine-id and SSH host keys.
	c, err := r.Store.GetContainer(ctx, op.CTID)
	if err != nil {
		return errors.Join(err, stage.Revert())
	}
	note, err := r.setupGuest(ctx, c, a.Start)
	if err != nil {
		return errors.Join(fmt.Errorf("set up the restored guest: %w", err), stage.Revert())
	}
	r.noteOp(ctx, op, note)
	if wasUp || a.Start {
		if err := r.start(ctx, op.CTID); err != nil {
			// Put the old tree back and bring it up as it was.
			_ = r.Drv.Stop(ctx, name)
			if rerr := stage.Revert(); rerr != nil {
				return errors.Join(err, rerr)
			}
			return errors.Join(fmt.Errorf("the restored container did not start; the old tree is back: %w", err), r.start(ctx, op.CTID))
		}
	}
	return stage.Commit()
}

// liftTree makes the tree restic restored at root/sub the whole of root:
// sub's entries are moved up by rename (one filesystem), root takes sub's
// owner, mode and times, and the folders that led to it go.
func liftTree(root, sub string) error {
	sub = strings.Trim(filepath.Clean("/"+sub), "/")
	if sub == "" {
		return nil
	}
	first, rest, _ := strings.Cut(sub, "/")
	// The first step is renamed aside, so that a top-level entry of the
	// tree with its name ("run" of /run/...) can take its place.
	aside, err := os.MkdirTemp(root, ".ctpanel-restore-")
	if err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(root, first), filepath.Join(aside, first)); err != nil {
		return err
	}
	from := filepath.Join(aside, first, rest)
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(from, e.Name()), filepath.Join(root, e.Name())); err != nil {
			return err
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(from, &st); err != nil {
		return err
	}
	if err := os.Lchown(root, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := unix.Chmod(root, st.Mode&0o7777); err != nil {
		return err
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, root, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	return os.RemoveAll(aside)
}

// hasInit says whether root holds something a container can boot.
func hasInit(root string) bool {
	for _, p := range []string{"sbin/init", "bin/sh"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			return true
		}
	}
	return false
}
