package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/ops"
)

// CreateInput is vzctl create's: what the new container is made from and
// named, whose it is and on which plan.
type CreateInput struct {
	CTID        *int
	Name        *string
	Hostname    string
	Template    string
	Start       bool
	Nameservers []string
	OnBoot      bool
	Description string
	// Owner is a customer's username; Plan a plan's name.
	Owner string
	Plan  string
	// DiskSpace gives the container a filesystem of its own of that size
	// ("10G"), over the plan's.
	DiskSpace *string
	// RootPassword and SSHKeys are injected into the new container.
	RootPassword *string
	SSHKeys      []string
	// IPAddresses are given to it: "auto" (the default IPv4 pool's next
	// free address), "auto6" (the default IPv6 pool's next free share),
	// or addresses.
	IPAddresses []string
}

// Create records a container to be made and its create operation (staff).
func (s *Service) Create(ctx context.Context, p db.Principal, in CreateInput) (db.Operation, error) {
	if err := policy.RequireStaff(p); err != nil {
		return db.Operation{}, err
	}
	f := domain.FieldErrors{}
	checkIdentity(f, in.CTID, in.Name, in.Hostname)
	policy.CheckNameservers(f, "nameserver", in.Nameservers)
	policy.CheckDescription(f, "description", in.Description)
	if err := s.checkTemplate(ctx, f, in.Template); err != nil {
		return db.Operation{}, err
	}
	var ownerID *int64
	if p.ScopeOwner != nil {
		// A token narrowed to one customer makes that customer's
		// containers only.
		if in.Owner == "" {
			in.Owner = p.ScopeOwnerName
		} else if in.Owner != p.ScopeOwnerName {
			f.Add("owner", fmt.Sprintf("this token is narrowed to customer %q", p.ScopeOwnerName))
		}
	}
	if in.Owner != "" {
		u, err := s.Store.GetUserByName(ctx, in.Owner)
		switch {
		case errors.Is(err, db.ErrNotFound):
			f.Add("owner", fmt.Sprintf("no user %q", in.Owner))
		case err != nil:
			return db.Operation{}, err
		case u.Role != db.RoleCustomer:
			f.Add("owner", fmt.Sprintf("user %q is %s, not a customer", in.Owner, u.Role))
		default:
			ownerID = &u.ID
		}
	}
	cred := policy.CheckCredentials(f, in.RootPassword, in.SSHKeys)
	var plan *db.Plan
	if in.Plan != "" {
		pl, err := s.Store.GetPlan(ctx, in.Plan)
		switch {
		case errors.Is(err, db.ErrNotFound):
			f.Add("plan", fmt.Sprintf("no plan %q", in.Plan))
		case err != nil:
			return db.Operation{}, err
		default:
			plan = &pl
		}
	}
	if err := f.Err(); err != nil {
		return db.Operation{}, err
	}
	c := db.Container{Name: in.Name, OwnerID: ownerID, Template: in.Template, Hostname: in.Hostname,
		Nameservers: in.Nameservers, OnBoot: in.OnBoot, Description: in.Description}
	if plan != nil {
		c.PlanID, c.Limits = &plan.ID, plan.Limits
	}
	if in.DiskSpace != nil {
		raw, _ := json.Marshal(map[string]string{"diskspace": *in.DiskSpace})
		disk, err := s.parseLimits(raw, "")
		if err != nil {
			return db.Operation{}, err
		}
		merged, _ := json.Marshal(specOrEmpty(c.Limits).Merge(disk))
		c.Limits = merged
	}
	var withAddrs func(context.Context, *db.Queries, db.Container) error
	if len(in.IPAddresses) > 0 {
		withAddrs = func(ctx context.Context, q *db.Queries, c db.Container) error {
			for i, a := range in.IPAddresses {
				req := AddressRequest{Address: a}
				if a == "auto6" {
					req = AddressRequest{Address: "auto", Family: 6}
				}
				if _, err := s.allocate(ctx, q, p, c, fmt.Sprintf("ip_addresses[%d]", i), req); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return s.insertNew(ctx, p, c, in.CTID, &ops.Create{Start: in.Start, RootHash: cred.RootHash, SSHKeys: cred.SSHKeys}, withAddrs)
}

// CloneInput is lxc-copy's: the new container's identity, and whether it
// is a snapshot (overlay) clone.
type CloneInput struct {
	CTID     *int
	Name     *string
	Hostname string
	Snapshot bool
	Start    bool
}

// Clone records a copy of the stopped container ref and its clone
// operation (staff).
func (s *Service) Clone(ctx context.Context, p db.Principal, ref string, in CloneInput) (db.Operation, error) {
	if err := policy.RequireOperator(p); err != nil {
		return db.Operation{}, err
	}
	src, err := s.Get(ctx, p, ref)
	if err != nil {
		return db.Operation{}, err
	}
	f := domain.FieldErrors{}
	checkIdentity(f, in.CTID, in.Name, in.Hostname)
	if in.Snapshot {
		// Every new container is unprivileged, and its rootfs is mounted
		// idmapped; the kernel cannot idmap an overlayfs mount.
		f.Add("snapshot", "snapshot (overlay) clones are not available: every container is unprivileged and an overlay cannot be idmapped; make a full clone")
	}
	if err := f.Err(); err != nil {
		return db.Operation{}, err
	}
	if src.Phase != db.PhaseReady {
		return db.Operation{}, domain.Conflict("container %d is %s; it can be cloned once it is ready", src.CTID, src.Phase)
	}
	st, err := s.Drv.State(ctx, strconv.Itoa(src.CTID))
	if err != nil {
		return db.Operation{}, err
	}
	if st != lxcdriver.StateStopped {
		return db.Operation{}, domain.Conflict("container %d is %s; liblxc clones only stopped containers, stop it first", src.CTID, st)
	}
	origin := src.CTID
	c := db.Container{Name: in.Name, OwnerID: src.OwnerID, PlanID: src.PlanID, Limits: src.Limits, Template: src.Template,
		OriginCTID: &origin, Snapshot: in.Snapshot, Hostname: in.Hostname, Nameservers: src.Nameservers}
	return s.insertNew(ctx, p, c, in.CTID, &ops.Clone{SourceCTID: src.CTID, Snapshot: in.Snapshot, Start: in.Start}, nil)
}

// insertNew adds the row of a container to be made (by create or clone)
// and records its operation, in one transaction, then starts it (a new
// container has nothing queued before it). With no CTID asked for, the
// next free one from 101 up is taken.
func (s *Service) insertNew(ctx context.Context, p db.Principal, c db.Container, ctid *int, action ops.Action,
	after func(context.Context, *db.Queries, db.Container) error) (db.Operation, error) {
	// CTIDs liblxc already has are taken too: one lookup for a CTID asked
	// for, the whole lxcpath only when one must be chosen.
	var onDisk map[int]bool
	if ctid != nil {
		_, err := s.Drv.State(ctx, strconv.Itoa(*ctid))
		if err == nil {
			return db.Operation{}, &domain.Error{Status: http.StatusConflict, Code: "conflict",
				Message: fmt.Sprintf("liblxc already has a container %d", *ctid), Fields: map[string]string{"ctid": "already taken"}}
		}
		if !errors.Is(err, lxcdriver.ErrNotFound) {
			return db.Operation{}, err
		}
	} else {
		var err error
		if onDisk, err = s.ctidsOnDisk(ctx); err != nil {
			return db.Operation{}, err
		}
	}
	var op db.Operation
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = s.Store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
			if ctid != nil {
				c.CTID = *ctid
			} else {
				id, err := q.NextFreeCTID(ctx, onDisk)
				if err != nil {
					return err
				}
				c.CTID = id
			}
			if err := q.InsertContainer(ctx, c); err != nil {
				return err
			}
			if after != nil {
				if err := after(ctx, q, c); err != nil {
					return err
				}
			}
			details := map[string]any{"template": c.Template}
			if c.OriginCTID != nil {
				details["source_ctid"] = *c.OriginCTID
			}
			var err error
			op, err = s.Queue.EnqueueNow(ctx, tx, q, c.CTID, action, domain.Entry(p, "container."+action.ActionName(), &c.CTID, details))
			return err
		})
		var ce *db.ConflictError
		// Two requests may pick the same free CTID: try the next one.
		if ctid == nil && errors.As(err, &ce) && ce.Field == "ctid" {
			continue
		}
		break
	}
	s.Queue.AfterCommit(op, err)
	return op, err
}

// checkIdentity validates what names a new container: CTID, name, hostname.
func checkIdentity(f domain.FieldErrors, ctid *int, name *string, hostname string) {
	if ctid != nil {
		policy.CheckCTID(f, "ctid", *ctid)
	}
	if name != nil {
		checkContainerName(f, *name)
	}
	policy.CheckHostname(f, "hostname", hostname)
}

// checkContainerName is CheckName plus the words the API's paths use
// beside a container's reference (/api/v1/containers/bulk, /containers/new).
func checkContainerName(f domain.FieldErrors, name string) {
	policy.CheckName(f, "name", name)
	if name == "bulk" || name == "new" {
		f.Add("name", fmt.Sprintf("%q is a word of the panel's paths; choose another name", name))
	}
}

// checkTemplate adds a field error unless name is an enabled OS template;
// it returns only store failures.
func (s *Service) checkTemplate(ctx context.Context, f domain.FieldErrors, name string) error {
	if name == "" {
		f.Add("template", "is required")
		return nil
	}
	t, err := s.Store.GetTemplate(ctx, name)
	switch {
	case errors.Is(err, db.ErrNotFound) || (err == nil && !t.Enabled):
		f.Add("template", fmt.Sprintf("unknown template %q", name))
	case err != nil:
		return err
	}
	return nil
}
