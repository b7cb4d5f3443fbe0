package containers

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/ops"
)

// Suspend modes: stop and lock, or freeze.
const (
	SuspendStop   = "stop"
	SuspendFreeze = "freeze"
)

// Suspend is the billing system's suspend (staff): the container is
// stopped (or frozen) and its customer cannot start, restart or unfreeze
// it until Unsuspend.
func (s *Service) Suspend(ctx context.Context, p db.Principal, ref, mode, reason string) (db.Operation, error) {
	if err := policy.RequireStaff(p); err != nil {
		return db.Operation{}, err
	}
	if mode == "" {
		mode = SuspendStop
	}
	f := domain.FieldErrors{}
	if mode != SuspendStop && mode != SuspendFreeze {
		f.Add("mode", `must be "stop" (stop and lock) or "freeze"`)
	}
	policy.CheckDescription(f, "reason", reason)
	if err := f.Err(); err != nil {
		return db.Operation{}, err
	}
	return s.queueOn(ctx, p, ref, func(q *db.Queries, c db.Container) error {
		if c.Phase != db.PhaseReady {
			return domain.Conflict("container %d is %s", c.CTID, c.Phase)
		}
		if c.SuspendedAt != nil {
			return domain.Errorf(http.StatusConflict, "already_suspended", "container %d is already suspended (%s)", c.CTID, *c.SuspendMode)
		}
		return q.SetSuspended(ctx, c.CTID, &mode, reason)
	}, fixed(&ops.Suspend{Mode: mode}))
}

// Unsuspend undoes Suspend (staff): starts or thaws the container.
func (s *Service) Unsuspend(ctx context.Context, p db.Principal, ref string) (db.Operation, error) {
	if err := policy.RequireStaff(p); err != nil {
		return db.Operation{}, err
	}
	var mode string
	return s.queueOn(ctx, p, ref, func(q *db.Queries, c db.Container) error {
		if c.SuspendedAt == nil || c.SuspendMode == nil {
			return domain.Errorf(http.StatusConflict, "not_suspended", "container %d is not suspended", c.CTID)
		}
		mode = *c.SuspendMode
		return q.SetSuspended(ctx, c.CTID, nil, "")
	}, func() ops.Action { return &ops.Unsuspend{Mode: mode} })
}

// ReinstallInput is a fresh root filesystem's template and credentials.
type ReinstallInput struct {
	Template string
	// Version is the image version; the newest when empty.
	Version      string
	RootPassword *string
	SSHKeys      []string
}

// Reinstall records a fresh rootfs for the container ref, keeping its
// CTID, hostname, limits and addresses. A customer may reinstall their
// own container unless it is suspended.
func (s *Service) Reinstall(ctx context.Context, p db.Principal, ref string, in ReinstallInput) (db.Operation, error) {
	f := domain.FieldErrors{}
	cred, err := s.checkReinstall(ctx, f, in)
	if err != nil {
		return db.Operation{}, err
	}
	if err := f.Err(); err != nil {
		return db.Operation{}, err
	}
	return s.queueOn(ctx, p, ref, func(q *db.Queries, c db.Container) error {
		if c.Phase != db.PhaseReady && c.Phase != db.PhaseMissing {
			return domain.Conflict("container %d is %s", c.CTID, c.Phase)
		}
		if c.SuspendedAt != nil && !policy.MayStartSuspended(p) {
			return suspendedErr(c)
		}
		return q.SetContainerTemplate(ctx, c.CTID, in.Template)
	}, fixed(&ops.Reinstall{Template: in.Template, Version: in.Version, RootHash: cred.RootHash, SSHKeys: cred.SSHKeys}))
}

// CheckReinstall is the refusal (a 422 naming each field) Reinstall
// would answer in for what in asks, without reinstalling: for a form that
// is wrong elsewhere too (its confirmation), to name every field at once.
func (s *Service) CheckReinstall(ctx context.Context, in ReinstallInput) error {
	f := domain.FieldErrors{}
	if _, err := s.checkReinstall(ctx, f, in); err != nil {
		return err
	}
	return f.Err()
}

// checkReinstall adds to f what is wrong with in: the template, its
// version, the credentials; it returns only store failures.
func (s *Service) checkReinstall(ctx context.Context, f domain.FieldErrors, in ReinstallInput) (policy.Credentials, error) {
	if err := s.checkTemplate(ctx, f, in.Template); err != nil {
		return policy.Credentials{}, err
	}
	if in.Version != "" && f["template"] == "" {
		if _, err := s.Store.ImageVersion(ctx, in.Template, in.Version); errors.Is(err, db.ErrNotFound) {
			f.Add("version", fmt.Sprintf("image %q has no version %q", in.Template, in.Version))
		} else if err != nil {
			return policy.Credentials{}, err
		}
	}
	return policy.CheckCredentials(f, in.RootPassword, in.SSHKeys), nil
}

// ResetPassword records new credentials for root in the container ref.
// Without a password (nil) a random one is made and returned as
// generated: it is shown once and stored nowhere.
func (s *Service) ResetPassword(ctx context.Context, p db.Principal, ref string, password *string, keys []string) (op db.Operation, generated string, err error) {
	if password == nil {
		generated = policy.NewRootPassword()
		password = &generated
	}
	f := domain.FieldErrors{}
	cred := policy.CheckCredentials(f, password, keys)
	if err := f.Err(); err != nil {
		return db.Operation{}, "", err
	}
	op, err = s.queueOn(ctx, p, ref, func(q *db.Queries, c db.Container) error {
		if c.Phase != db.PhaseReady {
			return domain.Conflict("container %d is %s", c.CTID, c.Phase)
		}
		return nil
	}, fixed(&ops.SetCredentials{RootHash: cred.RootHash, SSHKeys: cred.SSHKeys}))
	if err != nil {
		return op, "", err
	}
	return op, generated, nil
}
