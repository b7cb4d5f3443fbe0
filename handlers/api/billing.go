package api

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/domain/webhooks"
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
	h, secret, err := a.Webhooks.Create(r.Context(), principal(r), webhooks.NewWebhook{URL: req.URL, Events: req.Events, Secret: req.Secret})
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/webhooks/"+strconv.FormatInt(h.ID, 10))
	markSecret(r, "secret")
	writeJSON(w, http.StatusCreated, map[string]any{"id": h.ID, "url": h.URL, "events": h.Events, "secret": secret, "created_at": h.CreatedAt})
}

// ListWebhooks is GET /api/v1/webhooks (staff).
func (a *API) ListWebhooks(w http.ResponseWriter, r *http.Request) {
	list, err := a.Webhooks.List(r.Context(), principal(r))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": list})
}

// DeleteWebhook is DELETE /api/v1/webhooks/{id} (staff).
func (a *API) DeleteWebhook(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.Webhooks.Delete(r.Context(), principal(r), urlParam(r, "id")))
}

// ListDeliveries is GET /api/v1/webhooks/{id}/deliveries (staff): each
// delivery with its attempts and last result.
func (a *API) ListDeliveries(w http.ResponseWriter, r *http.Request) {
	list, err := a.Webhooks.Deliveries(r.Context(), principal(r), urlParam(r, "id"), 200)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": list})
}

// Usage is one container's usage for an invoice period.
type Usage = containers.Usage

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
	from, to, err := usagePeriod(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	u, err := a.Containers.Usage(r.Context(), principal(r), ref(r), from, to)
	if err != nil {
		a.smartError(w, r, err)
		return
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
	out, err := a.Containers.AllUsage(r.Context(), principal(r), from, to)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": from, "to": to, "usage": out})
}
