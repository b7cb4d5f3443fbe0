package pages

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/monitor"
	"github.com/ctpanel/ctpanel/ubc"
)

// ContainerPage is GET /containers/{ref}: state and actions, settings,
// the beancounter table (live), charts, console, operations and (for
// staff) the audit trail. Another customer's container is a 404.
func (u *UI) ContainerPage(w http.ResponseWriter, r *http.Request) {
	u.showContainer(w, r, http.StatusOK, nil)
}

// showContainer renders the container page; extra carries a form shown
// again with its errors.
func (u *UI) showContainer(w http.ResponseWriter, r *http.Request, status int, extra view) {
	c, err := u.Containers.Get(r.Context(), principal(r), ref(r))
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	ctx := r.Context()
	p := principal(r)
	v := u.Containers.Describe(ctx, c)
	spec, err := ubc.Decode(c.Limits)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	plan := ""
	if c.PlanID != nil {
		if pl, err := u.Store.GetPlanByID(ctx, *c.PlanID); err == nil {
			plan = pl.Name
		}
	}
	var rows []monitor.Row
	if v.Status == string(lxcdriver.StateRunning) || v.Status == string(lxcdriver.StateFrozen) {
		rows, err = u.Mon.Live(ctx, c.CTID)
		if err != nil && !errors.Is(err, lxcdriver.ErrNotRunning) && !errors.Is(err, lxcdriver.ErrNotFound) {
			u.Log.Warn("container page: beancounters", "ctid", c.CTID, "err", err)
		}
	}
	opsList, err := u.Containers.Operations(ctx, p, strconv.Itoa(c.CTID), 20)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	busy := false
	for _, o := range opsList {
		busy = busy || !o.Done()
	}
	data := view{
		"C": v, "Row": c, "Plan": plan, "Rows": rows, "Ops": opsList, "Busy": busy,
		"Limits":    specFields(spec),
		"Meters":    u.meters(ctx, p, c, rows),
		"Suspended": c.SuspendedAt != nil,
		"Op":        r.URL.Query().Get("op"),
		"Done":      r.URL.Query().Get("done"),
		"Form": map[string]string{
			"hostname":    c.Hostname,
			"nameserver":  strings.Join(c.Nameservers, " "),
			"name":        deref(c.Name),
			"description": c.Description,
			"onboot":      strconv.FormatBool(c.OnBoot),
		},
		"Console": "/containers/" + strconv.Itoa(c.CTID) + "/console",
	}
	netv, err := u.networkData(r, c.CTID)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	for k, val := range netv {
		data[k] = val
	}
	bv, err := u.backupData(r, c.CTID)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	for k, val := range bv {
		data[k] = val
	}
	if p.IsStaff() {
		plans, err := u.Store.ListPlans(ctx)
		if err != nil {
			u.serverError(w, r, err)
			return
		}
		var names []string
		for _, pl := range plans {
			names = append(names, pl.Name)
		}
		data["PlanNames"] = names
		if data["CustomerNames"], err = u.Store.EnabledCustomerNames(ctx); err != nil {
			u.serverError(w, r, err)
			return
		}
		trail, err := u.Store.ListAudit(ctx, db.AuditFilter{CTID: &c.CTID, Limit: 30})
		if err != nil {
			u.serverError(w, r, err)
			return
		}
		data["Audit"] = trail
	}
	for k, val := range extra {
		data[k] = val
	}
	u.render(w, r, status, "container", data)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
