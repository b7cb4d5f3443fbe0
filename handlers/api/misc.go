package api

import (
	_ "embed"
	"fmt"
	"maps"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/diskspace"
)

func urlParam(r *http.Request, name string) string { return chi.URLParam(r, name) }

// Healthz is GET /healthz: the database answers; warnings say what on the
// host works but not as it should.
func (a *API) Healthz(w http.ResponseWriter, r *http.Request) {
	if err := a.Store.Pool.Ping(r.Context()); err != nil {
		a.Log.Error("health check: database", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "database": "unreachable"})
		return
	}
	body := map[string]any{"status": "ok"}
	status := http.StatusOK
	warn := map[string]string{}
	if a.HostWarnings != nil {
		maps.Copy(warn, a.HostWarnings())
	}
	if len(a.Disks) > 0 {
		disks := diskspace.Check(a.Disks)
		body["disks"] = disks
		for _, d := range disks {
			switch {
			case d.Full:
				body["status"], status = "disk_full", http.StatusServiceUnavailable
				warn["disk."+d.Name] = fmt.Sprintf("%s (%s) is full: %d bytes free; writes there fail", d.Name, d.Path, d.FreeBytes)
			case d.Low:
				warn["disk."+d.Name] = fmt.Sprintf("%s (%s) is getting full: %d of %d bytes free", d.Name, d.Path, d.FreeBytes, d.SizeBytes)
			case d.Error != "":
				warn["disk."+d.Name] = d.Name + ": " + d.Error
			}
		}
	}
	if len(warn) > 0 {
		body["warnings"] = warn
	}
	writeJSON(w, status, body)
}

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPIDocument is the API description, served as is.
func OpenAPIDocument() []byte { return openAPIDoc }

// OpenAPI is GET /api/v1/openapi.json.
func (a *API) OpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
}

// NotFound answers unknown routes in the API's error shape.
func (a *API) NotFound(w http.ResponseWriter, r *http.Request) {
	a.smartError(w, r, notFound("no route %s %s", r.Method, r.URL.Path))
}

// MethodNotAllowed answers a known route with the wrong method.
func (a *API) MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	a.smartError(w, r, apiErr(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s", r.Method, r.URL.Path))
}
