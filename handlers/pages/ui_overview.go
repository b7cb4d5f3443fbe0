package pages

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain/networks"
	"github.com/ctpanel/ctpanel/hoststat"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/ubc"
)

// overview is the staff dashboard's farm summary: the host now, the
// containers by state, addresses per pool, backups that failed and open
// alerts, and the latest operations.
type overview struct {
	Host          hoststat.Stat
	HostErr       string
	Memory, Disk  meter
	Suspended     int
	Pools         []networks.PoolView
	FailedBackups int
	// BackupsDue are the scheduled backups due in the next 24 hours,
	// BackupsLate those past due by more than ten minutes.
	BackupsDue, BackupsLate int
	OpenAlerts              int
	Tasks                   []task
}

// task is a line of the task log: what ran on which container, who asked,
// how long it took and how it ended.
type task struct {
	db.Operation
	Took string
}

func (u *UI) overview(ctx context.Context, p db.Principal, suspended int) (overview, error) {
	var o overview
	st, err := hoststat.Read("/proc", lxcdriver.ContainersDir(u.Containers.Drv))
	if err != nil {
		o.HostErr = err.Error()
	}
	o.Host = st
	o.Memory = newMeter("Memory", st.MemUsed, st.MemTotal, ubc.FormatBytes)
	if st.DiskSize > 0 {
		o.Disk = newMeter("Disk (containers)", st.DiskUsed, st.DiskSize, ubc.FormatBytes)
	}
	o.Suspended = suspended
	if o.Pools, err = u.Networks.List(ctx, p); err != nil {
		return o, err
	}
	if o.BackupsDue, o.BackupsLate, err = u.Store.BackupsDue(ctx, 24*time.Hour); err != nil {
		return o, err
	}
	if o.FailedBackups, err = u.Store.FailedBackupsSince(ctx, time.Now().Add(-24*time.Hour)); err != nil {
		return o, err
	}
	alerts, err := u.Alerts.List(ctx, p, true, 1000)
	if err != nil {
		return o, err
	}
	o.OpenAlerts = len(alerts)
	o.Tasks, err = u.recentTasks(ctx, 12)
	return o, err
}

// recentTasks is the task log: the farm's latest n operations.
func (u *UI) recentTasks(ctx context.Context, n int) ([]task, error) {
	ops, err := u.Store.RecentOperations(ctx, n)
	if err != nil {
		return nil, err
	}
	var out []task
	for _, op := range ops {
		t := task{Operation: op}
		if op.StartedAt != nil {
			end := time.Now()
			if op.FinishedAt != nil {
				end = *op.FinishedAt
			}
			t.Took = end.Sub(*op.StartedAt).Round(100 * time.Millisecond).String()
		}
		out = append(out, t)
	}
	return out, nil
}

// TaskLogJSON is GET /tasks.json?n= (staff): the latest operations of
// the farm for the task logs, which pages refresh as operations end.
func (u *UI) TaskLogJSON(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n < 1 || n > 50 {
		n = 5
	}
	tasks, err := u.recentTasks(r.Context(), n)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	type row struct {
		CreatedAt   string `json:"created_at"`
		When        string `json:"when"`
		CTID        int    `json:"ctid"`
		Action      string `json:"action"`
		RequestedBy string `json:"requested_by"`
		Took        string `json:"took"`
		Status      string `json:"status"`
		Error       string `json:"error"`
	}
	out := make([]row, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, row{CreatedAt: t.CreatedAt.UTC().Format(time.RFC3339), When: fmtTime(t.CreatedAt), CTID: t.CTID,
			Action: t.Action, RequestedBy: t.RequestedBy, Took: t.Took, Status: t.Status, Error: t.Error})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"tasks": out})
}

// hostRanges are the overview's chart ranges.
var hostRanges = map[string]time.Duration{"1h": time.Hour, "1d": 24 * time.Hour, "1w": 7 * 24 * time.Hour, "1m": 30 * 24 * time.Hour}

// HostHistoryJSON is GET /host-history.json?range=1h|1d|1w|1m (staff):
// the host's CPU, load, memory and disk over the range, about 240 points,
// for the overview's charts.
func (u *UI) HostHistoryJSON(w http.ResponseWriter, r *http.Request) {
	rng := r.URL.Query().Get("range")
	if rng == "" {
		rng = "1d"
	}
	span, ok := hostRanges[rng]
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": "invalid_request",
			"message": "invalid range: one of 1h, 1d, 1w, 1m", "fields": map[string]string{"range": "one of 1h, 1d, 1w, 1m"}}})
		return
	}
	to := time.Now()
	step := max(time.Minute, (span / 240).Truncate(time.Minute))
	pts, err := u.Store.HostHistory(r.Context(), to.Add(-span), to, step)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	if pts == nil {
		pts = []db.HostSample{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"range": rng, "step": step.String(), "points": pts})
}
