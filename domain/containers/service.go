// Package containers is the domain of VPS containers: finding one the
// caller may see, creating, cloning, acting on, configuring, limiting,
// suspending, reinstalling and destroying it. Every change validates its
// input, authorizes the caller (domain/policy), writes the state and
// records its operation in one transaction, audits, and leaves what
// happens after the commit to the ops package.
package containers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/ops"
	"github.com/ctpanel/ctpanel/ubc"
)

// Service is the containers domain.
type Service struct {
	Store *db.Store
	Drv   lxcdriver.Driver
	Queue *ops.Queue
	Log   *slog.Logger
	// Host bounds limits: nothing above what the host has.
	Host ubc.Host
	// SnapshotDir is where snapshots are kept (a restic repository on
	// this host); empty, snapshots are refused.
	SnapshotDir string
	// Terminals ends the sessions on a container that changes owner.
	Terminals Terminals
}

// Get resolves ref, a CTID or a name, to a container p may see; anything
// else is a 404 that does not tell whether it exists.
func (s *Service) Get(ctx context.Context, p db.Principal, ref string) (db.Container, error) {
	return s.get(ctx, s.Store.Queries, p, ref, false)
}

// getForUpdate is Get inside a transaction, locking the row so that
// operations on one container queue in commit order.
func (s *Service) getForUpdate(ctx context.Context, q *db.Queries, p db.Principal, ref string) (db.Container, error) {
	return s.get(ctx, q, p, ref, true)
}

func (s *Service) get(ctx context.Context, q *db.Queries, p db.Principal, ref string, lock bool) (db.Container, error) {
	c, err := resolveRef(ctx, q, ref, lock)
	if errors.Is(err, db.ErrNotFound) || (err == nil && !policy.CanSee(p, c)) {
		return db.Container{}, domain.NotFound("container %s does not exist", strconv.Quote(ref))
	}
	return c, err
}

func resolveRef(ctx context.Context, q *db.Queries, ref string, lock bool) (db.Container, error) {
	if policy.IsAllDigits(ref) {
		id, err := strconv.Atoi(ref)
		if err != nil {
			return db.Container{}, db.ErrNotFound
		}
		if lock {
			return q.LockContainer(ctx, id)
		}
		return q.GetContainer(ctx, id)
	}
	c, err := q.GetContainerByName(ctx, ref)
	if err != nil || !lock {
		return c, err
	}
	return q.LockContainer(ctx, c.CTID)
}

// List is vzlist: the containers p may see.
func (s *Service) List(ctx context.Context, p db.Principal) ([]db.Container, error) {
	return s.Store.ListContainers(ctx, policy.OwnerScope(p))
}

// View is a container as both front ends show it: vzlist's columns plus
// ctpanel's settings (the API's JSON shape).
type View struct {
	CTID        int      `json:"ctid"`
	Name        *string  `json:"name"`
	Status      string   `json:"status"`
	Phase       string   `json:"phase"`
	NProc       int      `json:"nproc"`
	Hostname    string   `json:"hostname"`
	IPAddresses []string `json:"ip_addresses"`
	Nameservers []string `json:"nameserver"`
	OnBoot      bool     `json:"onboot"`
	Description string   `json:"description"`
	Template    string   `json:"template"`
	// ImageVersion is the version of the image it was made from; GuestOS
	// what the panel found in it ("debian 12 (networkd)", "" for a guest
	// it writes no network files into).
	ImageVersion *string `json:"image_version"`
	GuestOS      string  `json:"guest_os"`
	Owner        *string `json:"owner"`
	Plan         *string `json:"plan"`
	OriginCTID   *int    `json:"origin_ctid"`
	Snapshot     bool    `json:"snapshot"`
	// Suspended is set while the container is suspended.
	Suspended *Suspension `json:"suspended"`
	// Privileged is true for a container made before every container
	// was unprivileged, until staff convert it.
	Privileged bool      `json:"privileged"`
	CreatedAt  time.Time `json:"created_at"`
}

// Suspension is how and since when a container is suspended.
type Suspension struct {
	Mode   string    `json:"mode"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// Describe joins a row with what liblxc reports now. Status is liblxc's
// state; a container being created or gone from disk shows its phase.
func (s *Service) Describe(ctx context.Context, c db.Container) View {
	v := View{
		CTID: c.CTID, Name: c.Name, Phase: c.Phase, Hostname: c.Hostname,
		IPAddresses: append([]string{}, c.IPAddresses...), Nameservers: c.Nameservers, OnBoot: c.OnBoot,
		Description: c.Description, Template: c.Template, Owner: c.OwnerName,
		OriginCTID: c.OriginCTID, Snapshot: c.Snapshot, CreatedAt: c.CreatedAt,
		Plan: c.PlanName, Privileged: c.Privileged, ImageVersion: c.ImageVersion, GuestOS: c.GuestOS,
	}
	if c.SuspendedAt != nil && c.SuspendMode != nil {
		v.Suspended = &Suspension{Mode: *c.SuspendMode, Reason: c.SuspendReason, Since: *c.SuspendedAt}
	}
	if v.Nameservers == nil {
		v.Nameservers = []string{}
	}
	if c.Phase == db.PhaseCreating || c.Phase == db.PhaseMissing {
		v.Status = c.Phase
		return v
	}
	info, err := s.Drv.Info(ctx, strconv.Itoa(c.CTID))
	if errors.Is(err, lxcdriver.ErrNotFound) {
		v.Status = db.PhaseMissing
		return v
	}
	if err != nil {
		s.Log.Warn("container info", "ctid", c.CTID, "err", err)
		v.Status = "unknown"
		return v
	}
	v.Status, v.NProc = string(info.State), info.NProc
	return v
}

// check looks at the locked container before its operation is recorded;
// it may also write the state change in q.
type check func(q *db.Queries, c db.Container) error

// queueOn locks the container named ref, runs chk on it and records the
// operation action returns with an audit entry, all in one transaction;
// once that commits, ops starts an operation on an otherwise idle
// container at once. action is called after chk, so it may use what chk
// saw.
func (s *Service) queueOn(ctx context.Context, p db.Principal, ref string, chk check, action func() ops.Action) (db.Operation, error) {
	return s.queueWith(ctx, p, ref, "", func(q *db.Queries, c db.Container) (ops.Action, map[string]any, error) {
		if err := chk(q, c); err != nil {
			return nil, nil, err
		}
		return action(), nil, nil
	})
}

// queueWith is queueOn for a change that makes its operation, and the
// details of its audit entry, while the row is locked. audit names the
// entry; "" is container.<action>.
func (s *Service) queueWith(ctx context.Context, p db.Principal, ref, audit string,
	change func(q *db.Queries, c db.Container) (ops.Action, map[string]any, error)) (db.Operation, error) {
	var op db.Operation
	err := s.Store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		c, err := s.getForUpdate(ctx, q, p, ref)
		if err != nil {
			return err
		}
		a, details, err := change(q, c)
		if err != nil {
			return err
		}
		name := audit
		if name == "" {
			name = "container." + a.ActionName()
		}
		op, err = s.Queue.EnqueueNow(ctx, tx, q, c.CTID, a, domain.Entry(p, name, &c.CTID, details))
		return err
	})
	s.Queue.AfterCommit(op, err)
	return op, err
}

func fixed(a ops.Action) func() ops.Action { return func() ops.Action { return a } }

func suspendedErr(c db.Container) error {
	return domain.Errorf(http.StatusConflict, "suspended",
		"container %d is suspended; it can be started again once the account is unsuspended", c.CTID)
}

// specOrEmpty decodes stored limits, empty when they don't decode.
func specOrEmpty(raw []byte) ubc.Spec {
	sp, _ := ubc.Decode(raw)
	return sp
}

// Operation finds operation id if p may see its container.
func (s *Service) Operation(ctx context.Context, p db.Principal, id string) (db.Operation, error) {
	op, err := s.Store.GetOperation(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return op, domain.NotFound("operation %q does not exist", id)
	}
	if err != nil {
		return op, err
	}
	if !p.IsStaff() || p.ScopeOwner != nil {
		// A customer sees the operations of their container's own life:
		// not those of an earlier container that had the same CTID.
		c, err := s.Store.GetContainer(ctx, op.CTID)
		if errors.Is(err, db.ErrNotFound) || (err == nil && (!policy.CanSee(p, c) || op.CreatedAt.Before(c.CreatedAt))) {
			return op, domain.NotFound("operation %q does not exist", id)
		}
		if err != nil {
			return op, err
		}
	}
	op.Error = policy.ErrorFor(p, op.Error)
	return op, nil
}

// Operations lists the latest operations of the container ref, of its own
// life only: a CTID used again does not show the operations of the
// container that had it before.
func (s *Service) Operations(ctx context.Context, p db.Principal, ref string, limit int) ([]db.Operation, error) {
	c, err := s.Get(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	list, err := s.Store.ListOperations(ctx, c.CTID, limit)
	if err != nil {
		return nil, err
	}
	out := list[:0]
	for _, o := range list {
		if !o.CreatedAt.Before(c.CreatedAt) {
			o.Error = policy.ErrorFor(p, o.Error)
			out = append(out, o)
		}
	}
	return out, nil
}

// NextFreeCTID is the CTID a new container would get: free in the
// database and in liblxc.
func (s *Service) NextFreeCTID(ctx context.Context) (int, error) {
	onDisk, err := s.ctidsOnDisk(ctx)
	if err != nil {
		return 0, err
	}
	return s.Store.NextFreeCTID(ctx, onDisk)
}

func (s *Service) ctidsOnDisk(ctx context.Context) (map[int]bool, error) {
	names, err := s.Drv.List(ctx)
	if err != nil {
		return nil, err
	}
	onDisk := map[int]bool{}
	for _, n := range names {
		if id, err := strconv.Atoi(n); err == nil {
			onDisk[id] = true
		}
	}
	return onDisk, nil
}
