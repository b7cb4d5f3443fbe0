package handlers

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/ops"
)

// PatchContainer is PATCH /api/v1/containers/{ref} (vzctl set --save) for
// name, hostname, nameserver, onboot and description. Settings that live in
// the container (hostname, nameserver) are applied by a configure
// operation, live when it runs: then the answer is 202 with the operation.
// Otherwise it is 200 with the container.
func (a *API) PatchContainer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name        json.RawMessage `json:"name"`
		Hostname    *string         `json:"hostname"`
		Nameservers *stringList     `json:"nameserver"`
		OnBoot      *bool           `json:"onboot"`
		Description *string         `json:"description"`
		Plan        *string         `json:"plan"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	p := principal(r)
	f := FieldErrors{}
	var u db.ContainerUpdate
	if req.Name != nil {
		var name *string
		if err := json.Unmarshal(req.Name, &name); err != nil {
			f.Add("name", "must be a string or null")
		} else {
			if name != nil && *name == "" {
				name = nil // "" removes the name, as null does
			}
			if name != nil {
				checkName(f, "name", *name)
			}
			u.Name = &name
		}
	}
	if req.Hostname != nil {
		checkHostname(f, "hostname", *req.Hostname)
		u.Hostname = req.Hostname
	}
	if req.Nameservers != nil {
		ns := []string(*req.Nameservers)
		checkNameservers(f, "nameserver", ns)
		u.Nameservers = &ns
	}
	if !p.IsStaff() && (req.OnBoot != nil || req.Name != nil || req.Plan != nil) {
		a.smartError(w, r, &APIError{Status: http.StatusForbidden, Code: "forbidden",
			Message: "only staff can change a container's name, onboot or plan",
			Fields:  map[string]string{"onboot": "staff only", "name": "staff only", "plan": "staff only"}})
		return
	}
	if req.Plan != nil {
		// A plan change replaces the limits and applies them live; it is
		// its own request so its answer is plainly the operation.
		if req.Name != nil || req.Hostname != nil || req.Nameservers != nil || req.OnBoot != nil || req.Description != nil {
			a.smartError(w, r, FieldErrors{"plan": "change the plan in a request of its own"}.Err())
			return
		}
		a.changePlan(w, r, *req.Plan)
		return
	}
	if req.OnBoot != nil {
		u.OnBoot = req.OnBoot
	}
	if req.Description != nil {
		checkDescription(f, "description", *req.Description)
		u.Description = req.Description
	}
	if err := f.Err(); err != nil {
		a.smartError(w, r, err)
		return
	}
	ctx := r.Context()
	var op *db.Operation
	var ctid int
	err := a.Store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		c, err := a.lookupForUpdate(r, q)
		if err != nil {
			return err
		}
		ctid = c.CTID
		if c.Phase == db.PhaseDeleting || c.Phase == db.PhaseMissing {
			return conflict("container %d is %s", c.CTID, c.Phase)
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
			o, err := a.Queue.Enqueue(ctx, tx, q, c.CTID, ops.ActionConfigure, ops.Params{}, p.Actor())
			if err != nil {
				return err
			}
			op = &o
			changed["operation"] = o.ID
		}
		return a.audit(r, q, "container.set", c.CTID, changed)
	})
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	if op != nil {
		accepted(w, *op)
		return
	}
	c, err := a.Store.GetContainer(ctx, ctid)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.view(ctx, c))
}
