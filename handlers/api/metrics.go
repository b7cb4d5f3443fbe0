package api

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ctpanel/ctpanel/diskspace"
)

// Telemetry is what /metrics tells besides the beancounters, gathered as
// the panel runs: the Go runtime and the process, HTTP requests by route,
// and operations by action.
type Telemetry struct {
	Registry   *prometheus.Registry
	HTTP       *prometheus.HistogramVec
	Operations *prometheus.HistogramVec
}

// NewTelemetry registers the panel's metrics.
func NewTelemetry() *Telemetry {
	t := &Telemetry{
		Registry: prometheus.NewRegistry(),
		HTTP: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ctpanel_http_request_duration_seconds",
			Help:    "HTTP requests by method, route pattern and status code, from arrival to the answer's end.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"method", "route", "code"}),
		Operations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ctpanel_operation_duration_seconds",
			Help:    "Container operations by action and outcome, from their start to their end.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900},
		}, []string{"action", "status"}),
	}
	t.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		t.HTTP, t.Operations)
	return t
}

// ObserveHTTP records one answered request; route is the route pattern
// ("" for none matched).
func (t *Telemetry) ObserveHTTP(method, route string, code int, seconds float64) {
	if t == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	t.HTTP.WithLabelValues(method, route, strconv.Itoa(code)).Observe(seconds)
}

// ObserveOperation records one finished operation.
func (t *Telemetry) ObserveOperation(action, status string, seconds float64) {
	if t == nil {
		return
	}
	t.Operations.WithLabelValues(action, status).Observe(seconds)
}

// Metrics is GET /metrics (staff token required): every running
// container's beancounters, read for this scrape, and the panel's own
// metrics (Go runtime, process, HTTP requests, operations), in the
// Prometheus text exposition format.
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
	scrape := prometheus.NewRegistry()
	if err := scrape.Register(&beancounterCollector{all: all, containers: len(list), disks: diskspace.Check(a.Disks)}); err != nil {
		a.smartError(w, r, err)
		return
	}
	gatherers := prometheus.Gatherers{scrape}
	if a.Telemetry != nil {
		gatherers = append(gatherers, a.Telemetry.Registry)
	}
	promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
}

var (
	containersDesc = prometheus.NewDesc("ctpanel_containers", "Containers ctpanel manages.", nil, nil)
	runningDesc    = prometheus.NewDesc("ctpanel_containers_running", "Containers with beancounters (running or frozen).", nil, nil)
	bcLabels       = []string{"ctid", "resource"}
	heldDesc       = prometheus.NewDesc("ctpanel_beancounter_held",
		"Beancounter held: current usage in the resource's unit (pages, bytes, tasks, CPU ms).", bcLabels, nil)
	maxheldDesc = prometheus.NewDesc("ctpanel_beancounter_maxheld", "Beancounter maxheld: peak usage.", bcLabels, nil)
	barrierDesc = prometheus.NewDesc("ctpanel_beancounter_barrier",
		"Beancounter barrier (9223372036854775807 = unlimited).", bcLabels, nil)
	limitDesc = prometheus.NewDesc("ctpanel_beancounter_limit",
		"Beancounter limit (9223372036854775807 = unlimited).", bcLabels, nil)
	diskLabels   = []string{"volume", "path"}
	diskSizeDesc = prometheus.NewDesc("ctpanel_disk_size_bytes", "Size of the file system holding a folder the panel writes to.", diskLabels, nil)
	diskFreeDesc = prometheus.NewDesc("ctpanel_disk_free_bytes", "Free bytes (root's, reserved blocks included) on that file system.", diskLabels, nil)
	diskFullDesc = prometheus.NewDesc("ctpanel_disk_full",
		"1 when that file system has less than 8 MiB (or no inode) free and writes there fail.", diskLabels, nil)
	failcntDesc = prometheus.NewDesc("ctpanel_beancounter_failcnt_total",
		"Beancounter failcnt: refused or throttled allocations, cumulative across restarts.", bcLabels, nil)
)

// beancounterCollector is one scrape's beancounters, read when the scrape
// came in.
type beancounterCollector struct {
	all        []ctRows
	containers int
	disks      []diskspace.Status
}

func (c *beancounterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{containersDesc, runningDesc, heldDesc, maxheldDesc, barrierDesc, limitDesc, failcntDesc, diskSizeDesc, diskFreeDesc, diskFullDesc} {
		ch <- d
	}
}

func (c *beancounterCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(containersDesc, prometheus.GaugeValue, float64(c.containers))
	ch <- prometheus.MustNewConstMetric(runningDesc, prometheus.GaugeValue, float64(len(c.all)))
	for _, d := range c.disks {
		if d.Error != "" {
			continue
		}
		full := 0.0
		if d.Full {
			full = 1
		}
		ch <- prometheus.MustNewConstMetric(diskSizeDesc, prometheus.GaugeValue, float64(d.SizeBytes), d.Name, d.Path)
		ch <- prometheus.MustNewConstMetric(diskFreeDesc, prometheus.GaugeValue, float64(d.FreeBytes), d.Name, d.Path)
		ch <- prometheus.MustNewConstMetric(diskFullDesc, prometheus.GaugeValue, full, d.Name, d.Path)
	}
	for _, ct := range c.all {
		id := strconv.Itoa(ct.CTID)
		for _, row := range ct.Rows {
			ch <- prometheus.MustNewConstMetric(heldDesc, prometheus.GaugeValue, float64(row.Held), id, row.Resource)
			ch <- prometheus.MustNewConstMetric(maxheldDesc, prometheus.GaugeValue, float64(row.MaxHeld), id, row.Resource)
			ch <- prometheus.MustNewConstMetric(barrierDesc, prometheus.GaugeValue, float64(row.Barrier), id, row.Resource)
			ch <- prometheus.MustNewConstMetric(limitDesc, prometheus.GaugeValue, float64(row.Limit), id, row.Resource)
			ch <- prometheus.MustNewConstMetric(failcntDesc, prometheus.CounterValue, float64(row.FailCnt), id, row.Resource)
		}
	}
}
