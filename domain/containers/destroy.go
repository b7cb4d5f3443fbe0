package containers

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/ops"
)

// Destroy records the removal of the container ref (hosting staff),
// refused while it runs unless forced, like lxc-destroy -f.
func (s *Service) Destroy(ctx context.Context, p db.Principal, ref string, force bool) (db.Operation, error) {
	if err := policy.RequireOperator(p); err != nil {
		return db.Operation{}, err
	}
	return s.destroy(ctx, p, ref, force)
}

func (s *Service) destroy(ctx context.Context, p db.Principal, ref string, force bool) (db.Operation, error) {
	var op db.Operation
	err := s.Store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		c, err := s.getForUpdate(ctx, q, p, ref)
		if err != nil {
			return err
		}
		// A row in creating or deleting with no operation left on it is
		// what a create or destroy that could not finish its clean-up
		// (its database gone) left: destroying it is how it goes.
		busy, err := q.HasUnfinished(ctx, c.CTID)
		if err != nil {
			return err
		}
		switch {
		case c.Phase == db.PhaseCreating && busy:
			return domain.Conflict("container %d is still being created; wait for its operation", c.CTID)
		case c.Phase == db.PhaseDeleting && busy:
			return domain.Conflict("container %d is already being destroyed", c.CTID)
		}
		clones, err := q.SnapshotClones(ctx, c.CTID)
		if err != nil {
			return err
		}
		if clones > 0 {
			return domain.Conflict("container %d has %d snapshot clone(s) built on it; destroy them first", c.CTID, clones)
		}
		if !busy && !force {
			st, err := s.Drv.State(ctx, strconv.Itoa(c.CTID))
			if err != nil && !errors.Is(err, lxcdriver.ErrNotFound) {
				return err
			}
			if err == nil && st != lxcdriver.StateStopped {
				return domain.Errorf(http.StatusConflict, "running", "container %d is %s; stop it first or use ?force=true", c.CTID, st)
			}
		}
		if err := q.SetContainerPhase(ctx, c.CTID, db.PhaseDeleting); err != nil {
			return err
		}
		op, err = s.Queue.EnqueueNow(ctx, tx, q, c.CTID, &ops.Destroy{Force: force},
			domain.Entry(p, "container.destroy", &c.CTID, map[string]any{"force": force}))
		return err
	})
	s.Queue.AfterCommit(op, err)
	return op, err
}

// Terminate is billing's destroy: running or not, releasing everything
// (history, alerts, the CTID).
func (s *Service) Terminate(ctx context.Context, p db.Principal, ref string) (db.Operation, error) {
	if err := policy.RequireStaff(p); err != nil {
		return db.Operation{}, err
	}
	return s.destroy(ctx, p, ref, true)
}
