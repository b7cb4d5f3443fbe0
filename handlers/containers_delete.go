package handlers

import (
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/ops"
)

// DeleteContainer is DELETE /api/v1/containers/{ref}[?force=true]: refused
// with 409 while the container runs unless forced, like lxc-destroy -f.
func (a *API) DeleteContainer(w http.ResponseWriter, r *http.Request) {
	force := false
	if s := r.URL.Query().Get("force"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			a.smartError(w, r, &APIError{Status: http.StatusBadRequest, Code: "invalid_parameter",
				Message: "force must be true or false", Fields: map[string]string{"force": "must be true or false"}})
			return
		}
		force = b
	}
	ctx := r.Context()
	var op db.Operation
	err := a.Store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		c, err := a.lookupForUpdate(r, q)
		if err != nil {
			return err
		}
		switch c.Phase {
		case db.PhaseCreating:
			return conflict("container %d is still being created; wait for its operation", c.CTID)
		case db.PhaseDeleting:
			return conflict("container %d is already being destroyed", c.CTID)
		}
		clones, err := q.SnapshotClones(ctx, c.CTID)
		if err != nil {
			return err
		}
		if clones > 0 {
			return conflict("container %d has %d snapshot clone(s) built on it; destroy them first", c.CTID, clones)
		}
		if busy, err := q.HasUnfinished(ctx, c.CTID); err != nil {
			return err
		} else if !busy && !force {
			st, err := a.Drv.State(ctx, strconv.Itoa(c.CTID))
			if err != nil && !isNotFound(err) {
				return err
			}
			if err == nil && st != lxcdriver.StateStopped {
				return &APIError{Status: http.StatusConflict, Code: "running",
					Message: "container " + strconv.Itoa(c.CTID) + " is " + string(st) + "; stop it first or use ?force=true"}
			}
		}
		if err := q.SetContainerPhase(ctx, c.CTID, db.PhaseDeleting); err != nil {
			return err
		}
		op, err = a.Queue.EnqueueNow(ctx, tx, q, c.CTID, ops.ActionDestroy, ops.Params{Force: force}, principal(r).Actor())
		if err != nil {
			return err
		}
		return a.audit(r, q, "container.destroy", c.CTID, map[string]any{"operation": op.ID, "force": force})
	})
	a.startQueued(op, err)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	accepted(w, op)
}
