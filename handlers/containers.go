package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ContainerView is a container as the API shows it: vzlist's columns plus
// ctpanel's settings.
type ContainerView struct {
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
	Owner       *string  `json:"owner"`
	Plan        *string  `json:"plan"`
	OriginCTID  *int     `json:"origin_ctid"`
	Snapshot    bool     `json:"snapshot"`
	// Suspended is set while the container is suspended.
	Suspended *SuspensionView `json:"suspended"`
	CreatedAt time.Time       `json:"created_at"`
}

// SuspensionView is how and since when a container is suspended.
type SuspensionView struct {
	Mode   string    `json:"mode"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// view joins a row with what liblxc reports now. Status is liblxc's state;
// a container being created or gone from disk shows its phase instead.
func (a *API) view(ctx context.Context, c db.Container) ContainerView {
	v := ContainerView{
		CTID: c.CTID, Name: c.Name, Phase: c.Phase, Hostname: c.Hostname,
		IPAddresses: []string{}, Nameservers: c.Nameservers, OnBoot: c.OnBoot,
		Description: c.Description, Template: c.Template, Owner: c.OwnerName,
		OriginCTID: c.OriginCTID, Snapshot: c.Snapshot, CreatedAt: c.CreatedAt,
		Plan: c.PlanName,
	}
	if c.SuspendedAt != nil && c.SuspendMode != nil {
		v.Suspended = &SuspensionView{Mode: *c.SuspendMode, Reason: c.SuspendReason, Since: *c.SuspendedAt}
	}
	if v.Nameservers == nil {
		v.Nameservers = []string{}
	}
	if c.Phase == db.PhaseCreating || c.Phase == db.PhaseMissing {
		v.Status = c.Phase
		return v
	}
	info, err := a.Drv.Info(ctx, strconv.Itoa(c.CTID))
	if errors.Is(err, lxcdriver.ErrNotFound) {
		v.Status = db.PhaseMissing
		return v
	}
	if err != nil {
		a.Log.Warn("container info", "ctid", c.CTID, "err", err)
		v.Status = "unknown"
		return v
	}
	v.Status, v.NProc = string(info.State), info.NProc
	v.IPAddresses = append(append(v.IPAddresses, info.IPv4...), info.IPv6...)
	return v
}

// lookup resolves {ref}, a CTID or a name, to a container the caller may
// see; anything else is a 404 that does not tell whether it exists.
func (a *API) lookup(r *http.Request) (db.Container, error) {
	return a.lookupIn(r, a.Store.Queries, false)
}

// lookupForUpdate is lookup inside a transaction, locking the row so that
// operations on one container queue in commit order.
func (a *API) lookupForUpdate(r *http.Request, q *db.Queries) (db.Container, error) {
	return a.lookupIn(r, q, true)
}

func (a *API) lookupIn(r *http.Request, q *db.Queries, lock bool) (db.Container, error) {
	ref := chi.URLParam(r, "ref")
	c, err := resolveRef(r.Context(), q, ref, lock)
	if errors.Is(err, db.ErrNotFound) || (err == nil && !canSee(principal(r), c)) {
		return db.Container{}, notFound("container %s does not exist", strconv.Quote(ref))
	}
	return c, err
}

func resolveRef(ctx context.Context, q *db.Queries, ref string, lock bool) (db.Container, error) {
	if isAllDigits(ref) {
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

// ListContainers is vzlist: GET /api/v1/containers.
func (a *API) ListContainers(w http.ResponseWriter, r *http.Request) {
	rows, err := a.Store.ListContainers(r.Context(), ownerScope(principal(r)))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	out := make([]ContainerView, 0, len(rows))
	for _, c := range rows {
		out = append(out, a.view(r.Context(), c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"containers": out})
}

// GetContainer is GET /api/v1/containers/{ref}.
func (a *API) GetContainer(w http.ResponseWriter, r *http.Request) {
	c, err := a.lookup(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.view(r.Context(), c))
}
