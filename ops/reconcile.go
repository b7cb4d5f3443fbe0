package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/hostnet"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// SystemActor names ctpanel itself in operations and the audit log.
const SystemActor = "ctpanel"

// Reconcile brings the database and liblxc back in line at start-up, before
// workers run: operations interrupted by a crash are queued again (each
// action is safe to repeat; those a request started at once get a River
// job), containers whose create or destroy was cut
// short are finished or removed, containers gone from disk are marked
// missing, state changed by hand (lxc-start, lxc-stop) is recorded, and
// onboot containers are started.
func Reconcile(ctx context.Context, store *db.Store, drv lxcdriver.Driver, queue *Queue, log *slog.Logger) error {
	if err := requeue(ctx, store, queue, log); err != nil {
		return err
	}
	rows, err := store.ListContainers(ctx, nil)
	if err != nil {
		return err
	}
	names, err := drv.List(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: list liblxc containers: %w", err)
	}
	onDisk := map[string]bool{}
	for _, name := range names {
		onDisk[name] = true
	}
	known := map[string]bool{}
	audit := func(ctid int, action string, details map[string]any) {
		id := ctid
		if err := store.Audit(ctx, db.AuditEntry{Actor: SystemActor, ActorRole: "system", Action: action, CTID: &id, Details: details}); err != nil {
			log.Warn("audit", "err", err)
		}
	}
	for _, c := range rows {
		name := strconv.Itoa(c.CTID)
		known[name] = true
		busy, err := store.HasUnfinished(ctx, c.CTID)
		if err != nil {
			return err
		}
		if busy {
			continue // its queued operation settles it
		}
		switch c.Phase {
		case db.PhaseCreating, db.PhaseDeleting:
			// A create that failed and could not clean up, or a destroy cut
			// short without its job: finish removing it.
			if err := removeContainer(ctx, drv, name); err != nil {
				log.Error("reconcile: remove unfinished container", "ctid", c.CTID, "err", err)
				continue
			}
			if err := store.DeleteContainer(ctx, c.CTID); err != nil {
				return err
			}
			audit(c.CTID, "reconcile.removed", map[string]any{"phase": c.Phase})
			log.Warn("reconcile: removed a container left half-made", "ctid", c.CTID, "phase", c.Phase)
		case db.PhaseReady, db.PhaseMissing:
			if !onDisk[name] {
				if c.Phase == db.PhaseReady {
					if err := store.SetContainerPhase(ctx, c.CTID, db.PhaseMissing); err != nil {
						return err
					}
					audit(c.CTID, "reconcile.missing", nil)
					log.Warn("reconcile: container is gone from liblxc", "ctid", c.CTID)
				}
				continue
			}
			if c.Phase == db.PhaseMissing {
				if err := store.SetContainerPhase(ctx, c.CTID, db.PhaseReady); err != nil {
					return err
				}
				audit(c.CTID, "reconcile.found", nil)
			}
			st, err := drv.State(ctx, name)
			if err != nil {
				log.Warn("reconcile: state", "ctid", c.CTID, "err", err)
				continue
			}
			if string(st) != c.LastState {
				if err := store.SetContainerState(ctx, c.CTID, string(st)); err != nil {
					return err
				}
				audit(c.CTID, "reconcile.state_changed", map[string]any{"from": c.LastState, "to": string(st)})
				log.Info("reconcile: state changed outside ctpanel", "ctid", c.CTID, "from", c.LastState, "to", st)
			}
			if c.OnBoot && st == lxcdriver.StateStopped {
				err := store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
					_, err := queue.Enqueue(ctx, tx, q, c.CTID, &Start{}, db.AuditEntry{Actor: SystemActor + " (onboot)"})
					return err
				})
				if err != nil {
					return err
				}
				audit(c.CTID, "container.start", map[string]any{"reason": "onboot"})
			}
		}
	}
	for _, name := range names {
		if !known[name] {
			log.Warn("reconcile: liblxc has a container ctpanel does not manage; left alone", "name", name)
		}
	}
	// Folders liblxc does not list (no config) that no row accounts for:
	// what a create or destroy cut short left. Only CTID-named ones are
	// the panel's to remove.
	if hm, ok := drv.(interface {
		HalfMade(context.Context) ([]string, error)
	}); ok {
		left, err := hm.HalfMade(ctx)
		if err != nil {
			return err
		}
		for _, name := range left {
			if ctid, err := strconv.Atoi(name); err != nil || ctid < 1 || strconv.Itoa(ctid) != name || known[name] {
				continue
			}
			if err := drv.Destroy(ctx, name); err != nil && !errors.Is(err, lxcdriver.ErrNotFound) {
				log.Error("reconcile: remove a half-made container folder", "name", name, "err", err)
				continue
			}
			log.Warn("reconcile: removed a half-made container folder no row accounts for", "name", name)
		}
	}
	return nil
}

// requeue makes sure every unfinished operation will run: those running
// when ctpanel stopped are pending again (every action is safe to repeat)
// and, through River's API, each gets a job unless it has one that will
// still run. An operation whose job River finished, discarded or no longer
// has cannot run again and is failed.
func requeue(ctx context.Context, store *db.Store, queue *Queue, log *slog.Logger) error {
	n, err := store.RequeueInterrupted(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Warn("operations interrupted by a restart are queued again", "count", n)
	}
	list, err := store.UnfinishedOperations(ctx)
	if err != nil {
		return err
	}
	queued, failed := 0, 0
	for _, u := range list {
		// One started at once never had a job; one queued without its
		// job on record has lost it.
		needsJob := u.JobID == nil && u.StartedAtOnce
		if !needsJob {
			var job *rivertype.JobRow
			var err error
			if u.JobID != nil {
				job, err = queue.Client.JobGet(ctx, *u.JobID)
			}
			switch {
			case errors.Is(err, river.ErrNotFound):
				job = nil
			case err != nil:
				return fmt.Errorf("reconcile: job of operation %s: %w", u.ID, err)
			}
			switch {
			case job == nil, job.State == rivertype.JobStateCompleted, job.State == rivertype.JobStateDiscarded,
				job.State == rivertype.JobStateCancelled:
				if _, _, err := store.FinishOperation(ctx, u.ID, errors.New("interrupted: no job left to run it"), ""); err != nil {
					return err
				}
				failed++
				continue
			case job.State == rivertype.JobStateRunning:
				// Its worker died with the last process; River's rescuer
				// retires that job, a new one runs the operation.
				needsJob = true
			}
		}
		if !needsJob {
			continue
		}
		res, err := queue.Client.Insert(ctx, JobArgs{OperationID: u.ID}, nil)
		if err != nil {
			return fmt.Errorf("reconcile: queue interrupted operation %s: %w", u.ID, err)
		}
		if err := store.SetOperationJob(ctx, u.ID, res.Job.ID); err != nil {
			return err
		}
		queued++
	}
	if queued > 0 {
		log.Warn("interrupted operations were given a new job", "count", queued)
	}
	if failed > 0 {
		log.Warn("operations without a job were failed", "count", failed)
	}
	return nil
}

// SyncNetwork makes the host side of containers' networks match the
// database at start-up: pairs, routes and filter entries of containers
// with addresses kept or made, the panel's stray ones removed, nothing
// else of the host's touched.
func SyncNetwork(ctx context.Context, store *db.Store, plane hostnet.Plane) error {
	shares, err := store.NetShares(ctx, 0)
	if err != nil {
		return err
	}
	specs := NetSpecs(shares)
	if err := plane.Sync(ctx, specs); err != nil {
		return fmt.Errorf("ops: network reconciliation: %w", err)
	}
	return nil
}
