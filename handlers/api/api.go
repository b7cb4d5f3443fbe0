// Package api is ctpanel's REST API under /api/v1 (and its websockets,
// /healthz and /metrics). Handlers are methods on API: each decodes the
// request, calls the domain layer (domain/...) as the authenticated
// principal and renders the answer; server/router.go declares every
// route. The web pages (handlers/pages) call the same domain layer, never
// this package.
package api

import (
	"log/slog"
	"net/http"

	"github.com/ctpanel/ctpanel/console"
	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/diskspace"
	"github.com/ctpanel/ctpanel/domain/services"
	"github.com/ctpanel/ctpanel/handlers/auth"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/monitor"
	"github.com/ctpanel/ctpanel/ops"
)

// API serves /api/v1.
type API struct {
	*services.Set
	// Store is for reads that are the API's alone (beancounters, history,
	// audit) and for its own bookkeeping (idempotency keys, call audit).
	Store *db.Store
	// Drv runs exec; everything else reaches liblxc through operations.
	Drv      lxcdriver.Driver
	Hub      *ops.Hub
	Log      *slog.Logger
	Mon      *monitor.Monitor
	Bus      *monitor.Bus
	Sessions *auth.Sessions
	// Disks are the file systems /healthz and /metrics report on.
	Disks []diskspace.Volume
	// Origins says which Hosts and websocket Origins are the panel's.
	Origins *auth.Origins
	// Console keeps console and shell sessions and their tickets.
	Console *console.Manager
	// Telemetry is the panel's own metrics (nil: none).
	Telemetry *Telemetry
	// HostWarnings says what on the host works but not as it should
	// (lxcfs not running), by component; nil: nothing checked.
	HostWarnings func() map[string]string
}

// principal is who the authenticated request is from.
func principal(r *http.Request) db.Principal { return auth.Principal(r) }
