// Package services bundles the domain's services for the front ends:
// server/ builds one Set and hands it to both the REST API
// (handlers/api) and the web pages (handlers/pages).
package services

import (
	"log/slog"

	"github.com/ctpanel/ctpanel/domain/mailing"
	"github.com/ctpanel/ctpanel/mail"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain/alerts"
	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/domain/customers"
	"github.com/ctpanel/ctpanel/domain/networks"
	"github.com/ctpanel/ctpanel/domain/plans"
	"github.com/ctpanel/ctpanel/domain/templates"
	"github.com/ctpanel/ctpanel/domain/tokens"
	"github.com/ctpanel/ctpanel/domain/twofactor"
	"github.com/ctpanel/ctpanel/domain/webhooks"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/ops"
	"github.com/ctpanel/ctpanel/ubc"
	hooks "github.com/ctpanel/ctpanel/webhooks"
)

// Set is every domain service.
type Set struct {
	Containers *containers.Service
	Customers  *customers.Service
	Plans      *plans.Service
	Templates  *templates.Service
	Tokens     *tokens.Service
	Webhooks   *webhooks.Service
	Alerts     *alerts.Service
	Networks   *networks.Service
	Mailing    *mailing.Service
	TwoFactor  *twofactor.Service
}

// Deps is what the services are built on.
type Deps struct {
	Store *db.Store
	Drv   lxcdriver.Driver
	Queue *ops.Queue
	Log   *slog.Logger
	// Host bounds limits: nothing above what the host has.
	Host ubc.Host
	// TemplateCacheDir holds the tar.gz OS templates.
	TemplateCacheDir string
	// ImageMirror is the Debian archive images are built from.
	ImageMirror string
	// SnapshotDir holds the containers' snapshots (a restic repository).
	SnapshotDir string
	// Terminals ends a disabled account's terminal sessions (the console
	// manager); nil in tests without terminals.
	Terminals customers.Terminals
	// WebhookGuard keeps webhooks off internal networks.
	WebhookGuard hooks.Guard
	// Mail is the mail outbox; nil: mail is off.
	Mail *mail.Outbox
}

// New builds the services on d.
func New(d Deps) *Set {
	return &Set{
		Containers: &containers.Service{Store: d.Store, Drv: d.Drv, Queue: d.Queue, Log: d.Log, Host: d.Host, SnapshotDir: d.SnapshotDir,
			Terminals: containerTerminals(d.Terminals)},
		Customers: &customers.Service{Store: d.Store, Log: d.Log, Terminals: d.Terminals, Mail: d.Mail},
		Plans:     &plans.Service{Store: d.Store, Queue: d.Queue, Log: d.Log, Host: d.Host},
		Templates: &templates.Service{Store: d.Store, Log: d.Log, CacheDir: d.TemplateCacheDir, Mirror: d.ImageMirror},
		Tokens:    &tokens.Service{Store: d.Store, Log: d.Log},
		Webhooks:  &webhooks.Service{Store: d.Store, Log: d.Log, Guard: d.WebhookGuard},
		Alerts:    &alerts.Service{Store: d.Store, Log: d.Log},
		Networks:  &networks.Service{Store: d.Store, Log: d.Log},
		Mailing:   &mailing.Service{Store: d.Store, Log: d.Log, Mail: d.Mail},
		TwoFactor: &twofactor.Service{Store: d.Store, Log: d.Log},
	}
}

// containerTerminals is the console manager as the containers service
// uses it (nil when there is none).
func containerTerminals(t customers.Terminals) containers.Terminals {
	if ct, ok := t.(containers.Terminals); ok {
		return ct
	}
	return nil
}
