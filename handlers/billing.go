package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/webhooks"
)

// CreateWebhook is POST /api/v1/webhooks {"url","events":[..],"secret"}
// (staff). Without a secret one is made; it is answered once.
func (a *API) CreateWebhook(w http.ResponseWriter, r *http.Request) {
	var req struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
		Secret string   `json:"secret"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	f := FieldErrors{}
	if u, err := url.Parse(req.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(req.URL) > 2048 {
		f.Add("url", "must be an absolute http or https URL")
	}
	if len(req.Events) == 0 {
		f.Add("events", "list at least one of the events")
	}
	for _, e := range req.Events {
		if !slices.Contains(webhooks.Events, e) {
			f.Add("events", "unknown event "+strconv.Quote(e))
		}
	}
	if req.Secret != "" && (len(req.Secret) < 16 || len(req.Secret) > 256) {
		f.Add("secret", "must be 16 to 256 characters")
	}
	if err := f.Err(); err != nil {
		a.smartError(w, r, err)
		return
	}
	if req.Secret == "" {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		req.Secret = hex.EncodeToString(b)
	}
	h, err := a.Store.CreateWebhook(r.Context(), req.URL, req.Secret, req.Events, principal(r).Actor())
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/webhooks/"+strconv.FormatInt(h.ID, 10))
	markSecret(r, "secret")
	writeJSON(w, http.StatusCreated, map[string]any{"id": h.ID, "url": h.URL, "events": h.Events, "secret": req.Secret, "created_at": h.CreatedAt})
}

// ListWebhooks is GET /api/v1/webhooks (staff).
func (a *API) ListWebhooks(w http.ResponseWriter, r *http.Request) {
	list, err := a.Store.ListWebhooks(r.Context(), "")
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": list})
}

func (a *API) webhookFromURL(r *http.Request) (db.Webhook, error) {
	id, err := strconv.ParseInt(urlParam(r, "id"), 10, 64)
	if err != nil {
		return db.Webhook{}, notFound("webhook %q does not exist", urlParam(r, "id"))
	}
	h, err := a.Store.GetWebhook(r.Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("webhook %d does not exist", id)
	}
	return h, err
}

// DeleteWebhook is DELETE /api/v1/webhooks/{id} (staff).
func (a *API) DeleteWebhook(w http.ResponseWriter, r *http.Request) {
	h, err := a.webhookFromURL(r)
	if err == nil {
		err = a.Store.DeleteWebhook(r.Context(), h.ID)
	}
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ListDeliveries is GET /api/v1/webhooks/{id}/deliveries (staff): each
// delivery with its attempts and last result.
func (a *API) ListDeliveries(w http.ResponseWriter, r *http.Request) {
	h, err := a.webhookFromURL(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	list, err := a.Store.ListDeliveries(r.Context(), h.ID, 200)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": list})
}

// Usage is one container's usage for an invoice period.
type Usage struct {
	CTID            int               `json:"ctid"`
	From            time.Time         `json:"from"`
	To              time.Time         `json:"to"`
	CPUSeconds      float64           `json:"cpu_seconds"`
	MemoryPeakBytes uint64            `json:"memory_peak_bytes"`
	MemoryAvgBytes  uint64            `json:"memory_avg_bytes"`
	NetworkInBytes  *uint64           `json:"network_in_bytes"`
	NetworkOutBytes *uint64           `json:"network_out_bytes"`
	DiskUsedBytes   *uint64           `json:"disk_used_bytes"`
	UptimeSeconds   float64           `json:"uptime_seconds"`
	Failcnt         map[string]uint64 `json:"failcnt"`
	Samples         int               `json:"samples"`
}

// uptimeGap: consecutive samples closer than this count as up between them
// (it covers the 10 s raw interval and 1 min downsampled buckets).
const uptimeGap = 150 * time.Second

// usageOf folds one container's samples (ordered by resource, time).
func usageOf(ctid int, from, to time.Time, samples []db.Sample) Usage {
	u := Usage{CTID: ctid, From: from, To: to, Failcnt: map[string]uint64{}}
	var memSum, memN uint64
	var cpuMs uint64
	var prev *db.Sample
	firstFail := map[string]uint64{}
	for i := range samples {
		s := &samples[i]
		same := prev != nil && prev.Resource == s.Resource
		switch s.Resource {
		case lxcdriver.ResCPU:
			if same {
				if s.MaxHeld >= prev.MaxHeld {
					cpuMs += s.MaxHeld - prev.MaxHeld
				} else { // restarted: the counter began again
					cpuMs += s.MaxHeld
				}
			}
		case lxcdriver.ResPhysPages:
			u.MemoryPeakBytes = max(u.MemoryPeakBytes, s.MaxHeld*4096)
			memSum += s.Held * 4096
			memN++
		case lxcdriver.ResNumProc:
			u.Samples++
			if same {
				if gap := s.At.Sub(prev.At); gap <= uptimeGap {
					u.UptimeSeconds += gap.Seconds()
				}
			}
		}
		if _, ok := firstFail[s.Resource]; !ok {
			firstFail[s.Resource] = s.FailCnt
		}
		if s.FailCnt >= firstFail[s.Resource] {
			u.Failcnt[s.Resource] = s.FailCnt - firstFail[s.Resource]
		}
		prev = s
	}
	u.CPUSeconds = float64(cpuMs) / 1000
	if memN > 0 {
		u.MemoryAvgBytes = memSum / memN
	}
	return u
}

// parsePeriod reads ?from=&to= (RFC 3339): to defaults to now, from to
// back(to). Problems are added to f.
func parsePeriod(q url.Values, f FieldErrors, back func(time.Time) time.Time) (from, to time.Time) {
	to = time.Now().UTC()
	var err error
	if s := q.Get("to"); s != "" {
		if to, err = time.Parse(time.RFC3339, s); err != nil {
			f.Add("to", "must be an RFC 3339 time such as 2026-11-30T00:00:00Z")
		}
	}
	from = back(to)
	if s := q.Get("from"); s != "" {
		if from, err = time.Parse(time.RFC3339, s); err != nil {
			f.Add("from", "must be an RFC 3339 time such as 2026-11-01T00:00:00Z")
		}
	}
	if len(f) == 0 && !from.Before(to) {
		f.Add("from", "must be before to")
	}
	return from, to
}

func usagePeriod(r *http.Request) (time.Time, time.Time, error) {
	f := FieldErrors{}
	from, to := parsePeriod(r.URL.Query(), f, func(to time.Time) time.Time { return to.AddDate(0, -1, 0) })
	if len(f) > 0 {
		return from, to, &APIError{Status: http.StatusBadRequest, Code: "invalid_parameter", Message: "invalid period", Fields: f}
	}
	return from, to, nil
}

// ContainerUsage is GET /api/v1/containers/{ref}/usage?from=&to= (default
// the last month): CPU seconds, memory peak and average, uptime and failcnt
// growth from the stored history, right across restarts.
func (a *API) ContainerUsage(w http.ResponseWriter, r *http.Request) {
	c, err := a.lookup(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	from, to, err := usagePeriod(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	samples, err := a.Store.UsageSamples(r.Context(), c.CTID, from, to)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	u := usageOf(c.CTID, from, to, samples)
	if du, err := a.Drv.DiskUsage(r.Context(), strconv.Itoa(c.CTID)); err == nil && du.Loop {
		u.DiskUsedBytes = &du.UsedBytes
	}
	writeJSON(w, http.StatusOK, u)
}

// AllUsage is GET /api/v1/usage?from=&to=: every container's usage.
func (a *API) AllUsage(w http.ResponseWriter, r *http.Request) {
	from, to, err := usagePeriod(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	list, err := a.Store.ListContainers(r.Context(), ownerScope(principal(r)))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	samples, err := a.Store.UsageSamples(r.Context(), 0, from, to)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	by := map[int][]db.Sample{}
	for _, s := range samples {
		by[s.CTID] = append(by[s.CTID], s)
	}
	out := make([]Usage, 0, len(list))
	for _, c := range list {
		out = append(out, usageOf(c.CTID, from, to, by[c.CTID]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": from, "to": to, "usage": out})
}
