package handlers

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/ops"
)

// MaxShutdownTimeout bounds a clean shutdown's wait.
const MaxShutdownTimeout = 3600

// ContainerAction serves POST /api/v1/containers/{ref}/{start|stop|shutdown|
// restart|freeze|unfreeze}: it queues the action and answers 202.
func (a *API) ContainerAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Timeout *int `json:"timeout"`
		}
		if err := decodeJSON(w, r, &req, true); err != nil {
			a.smartError(w, r, err)
			return
		}
		var p ops.Params
		if req.Timeout != nil {
			if action != ops.ActionShutdown && action != ops.ActionRestart {
				a.smartError(w, r, FieldErrors{"timeout": "applies only to shutdown and restart, not " + action}.Err())
				return
			}
			if *req.Timeout < 1 || *req.Timeout > MaxShutdownTimeout {
				a.smartError(w, r, FieldErrors{"timeout": fmt.Sprintf("must be 1 to %d seconds", MaxShutdownTimeout)}.Err())
				return
			}
			p.Timeout = *req.Timeout
		}
		a.enqueueOnTx(w, r, action, p, func(_ *db.Queries, c db.Container) error {
			if c.Phase != db.PhaseReady {
				return conflict("container %d is %s; %s is possible once it is ready", c.CTID, c.Phase, action)
			}
			if c.SuspendedAt != nil && !principal(r).IsStaff() &&
				(action == ops.ActionStart || action == ops.ActionRestart || action == ops.ActionUnfreeze) {
				return suspendedErr(c)
			}
			return nil
		})
	}
}

// queueOn locks the container named by {ref}, runs check on it, and
// queues action with an audit record, all in one transaction; once that
// commits, an action on an otherwise idle container starts at once in
// this process (ops.Queue.EnqueueNow). adjust may change the params from
// what check saw.
func (a *API) queueOn(r *http.Request, action string, p ops.Params, check func(*db.Queries, db.Container) error, adjust ...func(*ops.Params)) (db.Operation, error) {
	ctx := r.Context()
	var op db.Operation
	err := a.Store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		c, err := a.lookupForUpdate(r, q)
		if err != nil {
			return err
		}
		if err := check(q, c); err != nil {
			return err
		}
		for _, f := range adjust {
			f(&p)
		}
		op, err = a.Queue.EnqueueNow(ctx, tx, q, c.CTID, action, p, principal(r).Actor())
		if err != nil {
			return err
		}
		return a.audit(r, q, "container."+action, c.CTID, map[string]any{"operation": op.ID})
	})
	a.startQueued(op, err)
	return op, err
}

// startQueued starts an operation its request recorded running (see
// ops.Queue.EnqueueNow) once the transaction has committed. When the
// transaction reported an error after recording it, the commit may still
// have happened with its answer lost: the operation is looked up, and
// started if it is there, running, so that it cannot stay running with
// nothing to run it.
func (a *API) startQueued(op db.Operation, err error) {
	if op.ID == "" || op.Status != db.OpRunning {
		return
	}
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, gerr := a.Store.GetOperation(ctx, op.ID)
		if gerr != nil || got.Status != db.OpRunning {
			return
		}
		a.Log.Warn("operation committed although its request failed; running it", "op", op.ID, "err", err)
		op = got
	}
	a.Queue.Start(op)
}

// enqueueOnTx is queueOn answering 202 with the operation.
func (a *API) enqueueOnTx(w http.ResponseWriter, r *http.Request, action string, p ops.Params, check func(*db.Queries, db.Container) error, adjust ...func(*ops.Params)) {
	op, err := a.queueOn(r, action, p, check, adjust...)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	accepted(w, op)
}
