package api

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/alerts"
	"github.com/ctpanel/ctpanel/domain/policy"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/monitor"
	"github.com/ctpanel/ctpanel/ubc"
)

// wantsText: Accept: text/plain or ?format=text asks for the
// /proc/user_beancounters layout.
func wantsText(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return f == "text"
	}
	acc := r.Header.Get("Accept")
	return strings.Contains(acc, "text/plain") && !strings.Contains(acc, "application/json")
}

func toCounters(rows []monitor.Row) []lxcdriver.Counter {
	out := make([]lxcdriver.Counter, len(rows))
	for i, r := range rows {
		out[i] = lxcdriver.Counter{Resource: r.Resource, Held: r.Held, MaxHeld: r.MaxHeld,
			Barrier: r.Barrier, Limit: r.Limit, FailCnt: r.FailCnt}
	}
	return out
}

func writeText(w http.ResponseWriter, render func(*bytes.Buffer) error) {
	var b bytes.Buffer
	if err := render(&b); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// ContainerBeancounters is GET /api/v1/containers/{ref}/beancounters.
func (a *API) ContainerBeancounters(w http.ResponseWriter, r *http.Request) {
	c, err := a.lookup(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	rows, err := a.Mon.Live(r.Context(), c.CTID)
	if errors.Is(err, lxcdriver.ErrNotRunning) || errors.Is(err, lxcdriver.ErrNotFound) {
		a.smartError(w, r, domain.Conflict("container %d is not running: beancounters exist only for running containers", c.CTID))
		return
	}
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	if wantsText(r) {
		writeText(w, func(b *bytes.Buffer) error {
			return ubc.WriteText(b, []ubc.Table{{CTID: c.CTID, Rows: toCounters(rows)}})
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ctid": c.CTID, "beancounters": rows})
}

type ctRows struct {
	CTID int           `json:"ctid"`
	Rows []monitor.Row `json:"beancounters"`
}

// running reads every running container the caller may see.
func (a *API) running(r *http.Request) ([]ctRows, error) {
	list, err := a.Store.ListContainers(r.Context(), policy.OwnerScope(principal(r)))
	if err != nil {
		return nil, err
	}
	var out []ctRows
	for _, c := range list {
		if c.Phase != db.PhaseReady {
			continue
		}
		rows, err := a.Mon.Live(r.Context(), c.CTID)
		if errors.Is(err, lxcdriver.ErrNotRunning) || errors.Is(err, lxcdriver.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ctRows{CTID: c.CTID, Rows: rows})
	}
	return out, nil
}

// AllBeancounters is GET /api/v1/beancounters: the host's
// /proc/user_beancounters, one block per running container.
func (a *API) AllBeancounters(w http.ResponseWriter, r *http.Request) {
	all, err := a.running(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	if wantsText(r) {
		writeText(w, func(b *bytes.Buffer) error {
			tables := make([]ubc.Table, len(all))
			for i, c := range all {
				tables[i] = ubc.Table{CTID: c.CTID, Rows: toCounters(c.Rows)}
			}
			return ubc.WriteText(b, tables)
		})
		return
	}
	if all == nil {
		all = []ctRows{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"containers": all})
}

// currentFailcnts reads running containers (folding their failcnts) and
// returns every cumulative failcnt the caller may see.
func (a *API) currentFailcnts(r *http.Request) (map[int]map[string]uint64, error) {
	if _, err := a.running(r); err != nil {
		return nil, err
	}
	totals, err := a.Store.FailcntTotals(r.Context())
	if err != nil {
		return nil, err
	}
	if p := principal(r); !p.IsStaff() {
		mine, err := a.Store.ListContainers(r.Context(), policy.OwnerScope(p))
		if err != nil {
			return nil, err
		}
		keep := map[int]bool{}
		for _, c := range mine {
			keep[c.CTID] = true
		}
		for id := range totals {
			if !keep[id] {
				delete(totals, id)
			}
		}
	}
	return totals, nil
}

// FailStat is GET /api/v1/beancounters/failstat (ubc_failstat): every
// (container, resource) whose cumulative failcnt is above zero.
func (a *API) FailStat(w http.ResponseWriter, r *http.Request) {
	cur, err := a.currentFailcnts(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	fails := ubc.FailStat(cur)
	if wantsText(r) {
		writeText(w, func(b *bytes.Buffer) error { return ubc.WriteFailText(b, fails, false) })
		return
	}
	if fails == nil {
		fails = []ubc.Fail{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"failstat": fails})
}

// CreateSnapshot is POST /api/v1/beancounters/snapshots: saves the current
// failcnts for a later faildiff.
func (a *API) CreateSnapshot(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Label string `json:"label"`
	}
	if err := decodeJSON(w, r, &req, true); err != nil {
		a.smartError(w, r, err)
		return
	}
	if len(req.Label) > 200 {
		a.smartError(w, r, FieldErrors{"label": "must be at most 200 characters"}.Err())
		return
	}
	if _, err := a.currentFailcnts(r); err != nil {
		a.smartError(w, r, err)
		return
	}
	id, at, err := a.Store.CreateSnapshot(r.Context(), req.Label, principal(r).Actor())
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/beancounters/faildiff?since="+strconv.FormatInt(id, 10))
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "label": req.Label, "created_at": at})
}

// FailDiff is GET /api/v1/beancounters/faildiff?since=SNAPSHOT
// (ubc_faildiff): old, new and delta of each failcnt that grew.
func (a *API) FailDiff(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
	if err != nil {
		a.smartError(w, r, &APIError{Status: http.StatusBadRequest, Code: "invalid_parameter",
			Message: "since must be a snapshot id from POST /api/v1/beancounters/snapshots", Fields: map[string]string{"since": "a snapshot id"}})
		return
	}
	old, err := a.Store.SnapshotFailcnts(r.Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("snapshot %d does not exist", id)
	}
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	cur, err := a.currentFailcnts(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	diff := ubc.FailDiff(old, cur)
	if wantsText(r) {
		writeText(w, func(b *bytes.Buffer) error { return ubc.WriteFailText(b, diff, true) })
		return
	}
	if diff == nil {
		diff = []ubc.Fail{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"since": id, "faildiff": diff})
}

// Stats is GET /api/v1/containers/{ref}/stats?from=&to=&step=: the stored
// history (RFC 3339 times, default the last hour; step a Go duration,
// default chosen for about 360 points).
func (a *API) Stats(w http.ResponseWriter, r *http.Request) {
	c, err := a.lookup(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	q := r.URL.Query()
	f := FieldErrors{}
	from, to := parsePeriod(q, f, func(to time.Time) time.Time { return to.Add(-time.Hour) })
	step := to.Sub(from) / 360
	if s := q.Get("step"); s != "" {
		if step, err = time.ParseDuration(s); err != nil || step < time.Second {
			f.Add("step", "must be a duration of at least 1s, such as 10s or 5m")
		}
	}
	if step < time.Second {
		step = time.Second
	}
	if len(f) == 0 && step > 0 && to.Sub(from)/step > 10000 {
		f.Add("step", "too small for the range: at most 10000 points")
	}
	if len(f) > 0 {
		a.smartError(w, r, &APIError{Status: http.StatusBadRequest, Code: "invalid_parameter", Message: "invalid query", Fields: f})
		return
	}
	samples, err := a.Store.QuerySamples(r.Context(), c.CTID, from, to, step)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	type point struct {
		At      time.Time `json:"t"`
		Held    uint64    `json:"held"`
		MaxHeld uint64    `json:"maxheld"`
		Barrier uint64    `json:"barrier"`
		Limit   uint64    `json:"limit"`
		FailCnt uint64    `json:"failcnt"`
	}
	series := map[string][]point{}
	for _, s := range samples {
		series[s.Resource] = append(series[s.Resource], point{s.At, s.Held, s.MaxHeld, s.Barrier, s.Limit, s.FailCnt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"ctid": c.CTID, "from": from, "to": to, "step": step.String(), "series": series})
}

// ListAlerts is GET /api/v1/alerts[?open=true].
func (a *API) ListAlerts(w http.ResponseWriter, r *http.Request) {
	list, err := a.Alerts.List(r.Context(), principal(r), r.URL.Query().Get("open") == "true", 500)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": list})
}

// AckAlerts is POST /api/v1/alerts/acknowledge (staff): {"ids":[...]},
// {"ctid":N} or {"all":true}; answers the ids it closed.
func (a *API) AckAlerts(w http.ResponseWriter, r *http.Request) {
	var req alerts.AckRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	ids, err := a.Alerts.AckMany(r.Context(), principal(r), req)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": ids, "count": len(ids)})
}

// AckAlert is POST /api/v1/alerts/{id}/ack (staff).
func (a *API) AckAlert(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.Alerts.Ack(r.Context(), principal(r), urlParam(r, "id")))
}
