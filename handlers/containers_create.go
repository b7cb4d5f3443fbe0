package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/ops"
	"github.com/ctpanel/ctpanel/ubc"
)

// stringList accepts a JSON string or a list of strings, as vzctl takes one
// or several --nameserver.
type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		if one == "" {
			*s = []string{}
		} else {
			*s = []string{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return &json.UnmarshalTypeError{Value: "value", Type: reflectStringSlice}
	}
	*s = many
	return nil
}

type createRequest struct {
	CTID        *int       `json:"ctid"`
	Name        *string    `json:"name"`
	Hostname    string     `json:"hostname"`
	Template    string     `json:"template"`
	Start       bool       `json:"start"`
	Nameservers stringList `json:"nameserver"`
	OnBoot      bool       `json:"onboot"`
	Description string     `json:"description"`
	Owner       string     `json:"owner"`
	Plan        string     `json:"plan"`
	// DiskSpace gives the container a filesystem of its own of that size
	// ("10G"), over the plan's.
	DiskSpace *string `json:"diskspace"`
	// RootPassword and SSHKeys are injected into the new container.
	RootPassword *string  `json:"root_password"`
	SSHKeys      []string `json:"ssh_keys"`
}

// CreateContainer is POST /api/v1/containers (vzctl create).
func (a *API) CreateContainer(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	f := FieldErrors{}
	checkIdentity(f, req.CTID, req.Name, req.Hostname)
	checkNameservers(f, "nameserver", req.Nameservers)
	checkDescription(f, "description", req.Description)
	if err := a.checkTemplate(r, f, req.Template); err != nil {
		a.smartError(w, r, err)
		return
	}
	var ownerID *int64
	if req.Owner != "" {
		u, err := a.Store.GetUserByName(r.Context(), req.Owner)
		switch {
		case errors.Is(err, db.ErrNotFound):
			f.Add("owner", fmt.Sprintf("no user %q", req.Owner))
		case err != nil:
			a.smartError(w, r, err)
			return
		case u.Role != db.RoleCustomer:
			f.Add("owner", fmt.Sprintf("user %q is %s, not a customer", req.Owner, u.Role))
		default:
			ownerID = &u.ID
		}
	}
	params := ops.Params{Start: req.Start}
	credentialFields(f, req.RootPassword, req.SSHKeys, &params)
	var plan *db.Plan
	if req.Plan != "" {
		p, err := a.Store.GetPlan(r.Context(), req.Plan)
		switch {
		case errors.Is(err, db.ErrNotFound):
			f.Add("plan", fmt.Sprintf("no plan %q", req.Plan))
		case err != nil:
			a.smartError(w, r, err)
			return
		default:
			plan = &p
		}
	}
	if err := f.Err(); err != nil {
		a.smartError(w, r, err)
		return
	}
	c := db.Container{Name: req.Name, OwnerID: ownerID, Template: req.Template, Hostname: req.Hostname,
		Nameservers: req.Nameservers, OnBoot: req.OnBoot, Description: req.Description}
	if plan != nil {
		c.PlanID, c.Limits = &plan.ID, plan.Limits
	}
	if req.DiskSpace != nil {
		raw, _ := json.Marshal(map[string]string{"diskspace": *req.DiskSpace})
		disk, err := a.parseLimits(raw, "")
		if err != nil {
			a.smartError(w, r, err)
			return
		}
		merged, _ := json.Marshal(specOrEmpty(c.Limits).Merge(disk))
		c.Limits = merged
	}
	op, err := a.insertNew(r, c, req.CTID, ops.ActionCreate, params)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Content-Location", "/api/v1/containers/"+strconv.Itoa(op.CTID))
	accepted(w, op)
}

// insertNew adds the row of a container to be made (by create or clone)
// and records its operation, in one transaction, then starts it (a new
// container has nothing queued before it). With no CTID asked for, the
// next free one from 101 up is taken.
func (a *API) insertNew(r *http.Request, c db.Container, ctid *int, action string, p ops.Params) (db.Operation, error) {
	ctx := r.Context()
	// CTIDs liblxc already has are taken too: one lookup for a CTID asked
	// for, the whole lxcpath only when one must be chosen.
	onDisk := map[int]bool{}
	if ctid != nil {
		_, err := a.Drv.State(ctx, strconv.Itoa(*ctid))
		if err == nil {
			return db.Operation{}, &APIError{Status: http.StatusConflict, Code: "conflict",
				Message: fmt.Sprintf("liblxc already has a container %d", *ctid), Fields: map[string]string{"ctid": "already taken"}}
		}
		if !isNotFound(err) {
			return db.Operation{}, err
		}
	} else {
		names, err := a.Drv.List(ctx)
		if err != nil {
			return db.Operation{}, err
		}
		for _, n := range names {
			if id, err := strconv.Atoi(n); err == nil {
				onDisk[id] = true
			}
		}
	}
	var op db.Operation
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = a.Store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
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
			var err error
			op, err = a.Queue.EnqueueNow(ctx, tx, q, c.CTID, action, p, principal(r).Actor())
			if err != nil {
				return err
			}
			return a.audit(r, q, "container."+action, c.CTID, map[string]any{"operation": op.ID, "template": c.Template, "source_ctid": p.SourceCTID})
		})
		var ce *db.ConflictError
		// Two requests may pick the same free CTID: try the next one.
		if ctid == nil && errors.As(err, &ce) && ce.Field == "ctid" {
			continue
		}
		break
	}
	a.startQueued(op, err)
	return op, err
}

// CloneContainer is POST /api/v1/containers/{ref}/clone (lxc-copy [-s]).
func (a *API) CloneContainer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		CTID     *int    `json:"ctid"`
		Name     *string `json:"name"`
		Hostname string  `json:"hostname"`
		Snapshot bool    `json:"snapshot"`
		Start    bool    `json:"start"`
	}
	if err := decodeJSON(w, r, &req, true); err != nil {
		a.smartError(w, r, err)
		return
	}
	src, err := a.lookup(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	f := FieldErrors{}
	checkIdentity(f, req.CTID, req.Name, req.Hostname)
	if _, disk := specOrEmpty(src.Limits).DiskBytes(); req.Snapshot && disk {
		f.Add("snapshot", "the source has a disk of its own (diskspace); make a full clone")
	}
	if req.Snapshot && src.Snapshot {
		f.Add("snapshot", "the source is itself a snapshot clone; make a full clone of it instead")
	}
	if err := f.Err(); err != nil {
		a.smartError(w, r, err)
		return
	}
	if src.Phase != db.PhaseReady {
		a.smartError(w, r, conflict("container %d is %s; it can be cloned once it is ready", src.CTID, src.Phase))
		return
	}
	st, err := a.Drv.State(r.Context(), strconv.Itoa(src.CTID))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	if st != lxcdriver.StateStopped {
		a.smartError(w, r, conflict("container %d is %s; liblxc clones only stopped containers, stop it first", src.CTID, st))
		return
	}
	origin := src.CTID
	c := db.Container{Name: req.Name, OwnerID: src.OwnerID, PlanID: src.PlanID, Limits: src.Limits, Template: src.Template,
		OriginCTID: &origin, Snapshot: req.Snapshot, Hostname: req.Hostname, Nameservers: src.Nameservers}
	op, err := a.insertNew(r, c, req.CTID, ops.ActionClone, ops.Params{SourceCTID: src.CTID, Snapshot: req.Snapshot, Start: req.Start})
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Content-Location", "/api/v1/containers/"+strconv.Itoa(op.CTID))
	accepted(w, op)
}

// specOrEmpty decodes stored limits, empty when they don't decode.
func specOrEmpty(raw json.RawMessage) ubc.Spec {
	s, _ := decodeSpec(raw)
	return s
}

// checkIdentity validates what names a new container: CTID, name, hostname.
func checkIdentity(f FieldErrors, ctid *int, name *string, hostname string) {
	if ctid != nil {
		checkCTID(f, "ctid", *ctid)
	}
	if name != nil {
		checkName(f, "name", *name)
	}
	checkHostname(f, "hostname", hostname)
}

// checkTemplate adds a field error unless name is an enabled OS template;
// it returns only store failures.
func (a *API) checkTemplate(r *http.Request, f FieldErrors, name string) error {
	if name == "" {
		f.Add("template", "is required")
		return nil
	}
	t, err := a.Store.GetTemplate(r.Context(), name)
	switch {
	case errors.Is(err, db.ErrNotFound) || (err == nil && !t.Enabled):
		f.Add("template", fmt.Sprintf("unknown template %q", name))
	case err != nil:
		return err
	}
	return nil
}
