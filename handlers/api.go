// Package handlers holds ctpanel's HTTP API. Handlers are methods on API,
// which holds the store, the driver, the operation queue and a logger;
// server/router.go declares every route.
package handlers

import (
	"log/slog"

	"github.com/ctpanel/ctpanel/console"
	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/monitor"
	"github.com/ctpanel/ctpanel/ops"
	"github.com/ctpanel/ctpanel/ubc"
)

// API serves /api/v1.
type API struct {
	Store *db.Store
	Drv   lxcdriver.Driver
	Queue *ops.Queue
	Hub   *ops.Hub
	Log   *slog.Logger
	Mon   *monitor.Monitor
	Bus   *monitor.Bus
	// Host bounds limits: nothing above what the host has.
	Host ubc.Host
	// AllowedOrigins may open websockets besides the panel's own origin.
	AllowedOrigins []string
	// CookieSecure marks the web panel's session cookie Secure even on
	// plain HTTP requests (TLS ends at a proxy in front).
	CookieSecure bool
	// Console keeps console and shell sessions and their tickets.
	Console *console.Manager
	// TemplateCacheDir holds the tar.gz OS templates (NAME.tar.gz).
	TemplateCacheDir string
}
