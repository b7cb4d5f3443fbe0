package containers

import (
	"context"
	"net/http"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/ops"
)

// Update is vzctl set --save for a container's settings; nil leaves a
// field as it is.
type Update struct {
	// Name: a pointer to nil (or to "") removes the name.
	Name        **string
	Hostname    *string
	Nameservers *[]string
	OnBoot      *bool
	Description *string
	// Plan moves the container to a plan (ChangePlan), alone.
	Plan *string
}

// Update changes the settings of the container ref. Settings that live in
// the container (hostname, nameservers) are applied by a configure
// operation, live when it runs: then op is that operation. A plan change
// is ChangePlan's operation. c is the container as it is now.
func (s *Service) Update(ctx context.Context, p db.Principal, ref string, in Update) (op *db.Operation, c db.Container, err error) {
	f := domain.FieldErrors{}
	var u db.ContainerUpdate
	if in.Name != nil {
		name := *in.Name
		if name != nil && *name == "" {
			name = nil
		}
		if name != nil {
			checkContainerName(f, *name)
		}
		u.Name = &name
	}
	if in.Hostname != nil {
		policy.CheckHostname(f, "hostname", *in.Hostname)
		u.Hostname = in.Hostname
	}
	if in.Nameservers != nil {
		policy.CheckNameservers(f, "nameserver", *in.Nameservers)
		u.Nameservers = in.Nameservers
	}
	if !policy.MayChangeIdentity(p) && (in.OnBoot != nil || in.Name != nil || in.Plan != nil || in.Description != nil) {
		return nil, c, &domain.Error{Status: http.StatusForbidden, Code: "forbidden",
			Message: "only staff can change a container's name, onboot, plan or description",
			Fields:  map[string]string{"onboot": "staff only", "name": "staff only", "plan": "staff only", "description": "staff only"}}
	}
	if in.Plan != nil {
		// A plan change replaces the limits and applies them live; it is
		// its own request so its answer is plainly the operation.
		if in.Name != nil || in.Hostname != nil || in.Nameservers != nil || in.OnBoot != nil || in.Description != nil {
			return nil, c, domain.FieldErrors{"plan": "change the plan in a request of its own"}.Err()
		}
		o, err := s.ChangePlan(ctx, p, ref, *in.Plan)
		if err != nil {
			return nil, c, err
		}
		return &o, c, nil
	}
	u.OnBoot = in.OnBoot
	if in.Description != nil {
		policy.CheckDescription(f, "description", *in.Description)
		u.Description = in.Description
	}
	if err := f.Err(); err != nil {
		return nil, c, err
	}
	var ctid int
	err = s.Store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		c, err := s.getForUpdate(ctx, q, p, ref)
		if err != nil {
			return err
		}
		ctid = c.CTID
		if c.Phase == db.PhaseDeleting || c.Phase == db.PhaseMissing {
			return domain.Conflict("container %d is %s", c.CTID, c.Phase)
		}
		if err := q.UpdateContainer(ctx, c.CTID, u); err != nil {
			return err
		}
		changed := map[string]any{}
		for k, v := range map[string]bool{"name": u.Name != nil, "hostname": u.Hostname != nil,
			"nameserver": u.Nameservers != nil, "onboot": u.OnBoot != nil, "description": u.Description != nil} {
			if v {
				changed[k] = true
			}
		}
		inside := (u.Hostname != nil && *u.Hostname != c.Hostname) ||
			(u.Nameservers != nil && !slices.Equal(*u.Nameservers, c.Nameservers))
		// A container still being created picks the settings up from its row.
		if inside && c.Phase == db.PhaseReady {
			o, err := s.Queue.Enqueue(ctx, tx, q, c.CTID, &ops.Configure{}, domain.Entry(p, "", nil, nil))
			if err != nil {
				return err
			}
			op = &o
			changed["operation"] = o.ID
		}
		return domain.Audit(ctx, q, p, "container.set", &c.CTID, changed)
	})
	if err != nil {
		return nil, c, err
	}
	c, err = s.Store.GetContainer(ctx, ctid)
	return op, c, err
}
