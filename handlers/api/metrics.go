package api

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
)

// Metrics is GET /metrics: every running container's beancounters in the
// Prometheus text exposition format (staff token required).
func (a *API) Metrics(w http.ResponseWriter, r *http.Request) {
	all, err := a.running(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	list, err := a.Store.ListContainers(r.Context(), nil)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	b := bufio.NewWriter(w)
	defer b.Flush()
	fmt.Fprintln(b, "# HELP ctpanel_containers Containers ctpanel manages.")
	fmt.Fprintln(b, "# TYPE ctpanel_containers gauge")
	fmt.Fprintf(b, "ctpanel_containers %d\n", len(list))
	fmt.Fprintln(b, "# HELP ctpanel_containers_running Containers with beancounters (running or frozen).")
	fmt.Fprintln(b, "# TYPE ctpanel_containers_running gauge")
	fmt.Fprintf(b, "ctpanel_containers_running %d\n", len(all))
	type metric struct {
		name, help, kind string
		value            func(i, j int) uint64
	}
	metrics := []metric{
		{"ctpanel_beancounter_held", "Beancounter held: current usage in the resource's unit (pages, bytes, tasks, CPU ms).", "gauge",
			func(i, j int) uint64 { return all[i].Rows[j].Held }},
		{"ctpanel_beancounter_maxheld", "Beancounter maxheld: peak usage.", "gauge",
			func(i, j int) uint64 { return all[i].Rows[j].MaxHeld }},
		{"ctpanel_beancounter_barrier", "Beancounter barrier (9223372036854775807 = unlimited).", "gauge",
			func(i, j int) uint64 { return all[i].Rows[j].Barrier }},
		{"ctpanel_beancounter_limit", "Beancounter limit (9223372036854775807 = unlimited).", "gauge",
			func(i, j int) uint64 { return all[i].Rows[j].Limit }},
		{"ctpanel_beancounter_failcnt_total", "Beancounter failcnt: refused or throttled allocations, cumulative across restarts.", "counter",
			func(i, j int) uint64 { return all[i].Rows[j].FailCnt }},
	}
	for _, m := range metrics {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.kind)
		for i, c := range all {
			for j, row := range c.Rows {
				fmt.Fprintf(b, "%s{ctid=\"%d\",resource=%s} %s\n", m.name, c.CTID, strconv.Quote(row.Resource),
					strconv.FormatUint(m.value(i, j), 10))
			}
		}
	}
}
