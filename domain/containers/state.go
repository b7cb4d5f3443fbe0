package containers

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/ops"
)

// MaxShutdownTimeout bounds a clean shutdown's wait, in seconds.
const MaxShutdownTimeout = 3600

// StateActions are what Act does: vzctl start, stop, restart and
// OpenVZ's chkpnt --suspend/--resume (freeze, unfreeze).
var StateActions = []string{ops.ActionStart, ops.ActionStop, ops.ActionShutdown, ops.ActionRestart, ops.ActionFreeze, ops.ActionUnfreeze}

// Act records a change of state of the container ref: start, stop,
// shutdown, restart (timeout in seconds for the last two, nil for the
// default), freeze or unfreeze (staff only). A customer may not start,
// restart or unfreeze a suspended container.
func (s *Service) Act(ctx context.Context, p db.Principal, ref, action string, timeout *int) (db.Operation, error) {
	var timeoutSecs int
	switch action {
	case ops.ActionStart, ops.ActionStop, ops.ActionShutdown, ops.ActionRestart:
	case ops.ActionFreeze, ops.ActionUnfreeze:
		if !policy.MayFreeze(p) {
			return db.Operation{}, domain.Forbidden("only staff (not billing or customer tokens) can %s a container", action)
		}
	default:
		return db.Operation{}, domain.NotFound("no action %q", action)
	}
	if timeout != nil {
		f := domain.FieldErrors{}
		switch {
		case action != ops.ActionShutdown && action != ops.ActionRestart:
			f.Add("timeout", "applies only to shutdown and restart, not "+action)
		case *timeout < 1 || *timeout > MaxShutdownTimeout:
			f.Add("timeout", fmt.Sprintf("must be 1 to %d seconds", MaxShutdownTimeout))
		}
		if err := f.Err(); err != nil {
			return db.Operation{}, err
		}
		timeoutSecs = *timeout
	}
	return s.queueOn(ctx, p, ref, func(_ *db.Queries, c db.Container) error {
		if c.Phase != db.PhaseReady {
			return domain.Conflict("container %d is %s; %s is possible once it is ready", c.CTID, c.Phase, action)
		}
		if c.SuspendedAt != nil && !policy.MayStartSuspended(p) &&
			(action == ops.ActionStart || action == ops.ActionRestart || action == ops.ActionUnfreeze) {
			return suspendedErr(c)
		}
		return nil
	}, func() ops.Action { return stateAction(action, timeoutSecs) })
}

// stateAction is the operation of a change of state.
func stateAction(action string, timeout int) ops.Action {
	switch action {
	case ops.ActionStop:
		return &ops.Stop{}
	case ops.ActionShutdown:
		return &ops.Shutdown{Timeout: timeout}
	case ops.ActionRestart:
		return &ops.Restart{Timeout: timeout}
	case ops.ActionFreeze:
		return &ops.Freeze{}
	case ops.ActionUnfreeze:
		return &ops.Unfreeze{}
	}
	return &ops.Start{}
}

// Unprivilege converts the stopped, privileged container ref to run with a
// block of host ids of its own (staff). The block is allocated with the
// operation; converting an unprivileged container is a conflict.
func (s *Service) Unprivilege(ctx context.Context, p db.Principal, ref string) (db.Operation, error) {
	if err := policy.RequireOperator(p); err != nil {
		return db.Operation{}, err
	}
	return s.queueOn(ctx, p, ref, func(q *db.Queries, c db.Container) error {
		if !c.Privileged {
			return domain.Conflict("container %d is unprivileged already", c.CTID)
		}
		if c.Phase != db.PhaseReady {
			return domain.Conflict("container %d is %s; it can be converted once it is ready", c.CTID, c.Phase)
		}
		st, err := s.Drv.State(ctx, strconv.Itoa(c.CTID))
		if err != nil {
			return err
		}
		if st != lxcdriver.StateStopped {
			return domain.Conflict("container %d is %s; stop it before converting it", c.CTID, st)
		}
		_, err = q.AllocateIDMap(ctx, c.CTID)
		return err
	}, fixed(&ops.Unprivilege{}))
}
