package pages

import (
	"net/http"
	"sort"

	"github.com/ctpanel/ctpanel/domain/containers"
)

// farmRow is a line of the farm: vzlist's columns, the owner and plan,
// and the resources whose failcnt grew and is not acknowledged yet.
type farmRow struct {
	containers.View
	Plan      string
	Failing   []string
	Suspended bool
}

// Dashboard is GET /: for staff the whole farm as vzlist shows it, for a
// customer their own containers.
func (u *UI) Dashboard(w http.ResponseWriter, r *http.Request) {
	rows, err := u.farm(r)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	statuses := map[string]int{}
	for _, c := range rows {
		statuses[c.Status]++
	}
	v := view{"Rows": rows, "Statuses": statuses, "Op": r.URL.Query().Get("op"), "Done": r.URL.Query().Get("done")}
	if p := principal(r); p.IsStaff() {
		o, err := u.overview(r.Context(), p, rows)
		if err != nil {
			u.serverError(w, r, err)
			return
		}
		v["Overview"] = o
	}
	u.render(w, r, http.StatusOK, "dashboard", v)
}

func (u *UI) farm(r *http.Request) ([]farmRow, error) {
	ctx := r.Context()
	p := principal(r)
	list, err := u.Containers.List(ctx, p)
	if err != nil {
		return nil, err
	}
	plans, err := u.planNames(r)
	if err != nil {
		return nil, err
	}
	alerts, err := u.Alerts.List(ctx, p, true, 1000)
	if err != nil {
		return nil, err
	}
	failing := map[int]map[string]bool{}
	for _, a := range alerts {
		if failing[a.CTID] == nil {
			failing[a.CTID] = map[string]bool{}
		}
		failing[a.CTID][a.Resource] = true
	}
	out := make([]farmRow, 0, len(list))
	for _, c := range list {
		row := farmRow{View: u.Containers.Describe(ctx, c), Suspended: c.SuspendedAt != nil}
		if c.PlanID != nil {
			row.Plan = plans[*c.PlanID]
		}
		for res := range failing[c.CTID] {
			row.Failing = append(row.Failing, res)
		}
		sort.Strings(row.Failing)
		out = append(out, row)
	}
	return out, nil
}

func (u *UI) planNames(r *http.Request) (map[int64]string, error) {
	list, err := u.Store.ListPlans(r.Context())
	if err != nil {
		return nil, err
	}
	out := map[int64]string{}
	for _, p := range list {
		out[p.ID] = p.Name
	}
	return out, nil
}
