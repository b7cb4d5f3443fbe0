// Package domaintest builds the domain services for tests: real
// PostgreSQL (db/dbtest), the fake driver, and the operations runner
// running operations at once in the test's process, so a test can follow
// an operation to its end in milliseconds.
package domaintest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/db/dbtest"
	"github.com/ctpanel/ctpanel/domain/services"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/ops"
	"github.com/ctpanel/ctpanel/ubc"
)

// Env is a test's domain: services over a fresh database and a fake
// driver.
type Env struct {
	*services.Set
	Store *db.Store
	Drv   *lxcdriver.Fake
	Hub   *ops.Hub
}

// New builds an Env for t; everything is released when t ends.
func New(t testing.TB) *Env {
	t.Helper()
	pool := dbtest.Pool(t)
	store := db.New(pool)
	drv := lxcdriver.NewFake()
	log := slog.New(slog.DiscardHandler)
	hub := ops.NewHub()
	runner := &ops.Runner{Store: store, Drv: drv, Hub: hub, Log: log, TemplateCacheDir: t.TempDir()}
	// Insert-only: operations on an idle container run at once through the
	// runner; those that would queue are recorded with their River job.
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	queue := &ops.Queue{Client: client, Runner: runner}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		runner.StopLane(ctx)
	})
	set := services.New(services.Deps{Store: store, Drv: drv, Queue: queue, Log: log,
		Host: ubc.Host{CPUs: 4, MemBytes: 8 << 30, SwapBytes: 1 << 30, PidMax: 4194304}, TemplateCacheDir: t.TempDir(), SnapshotDir: t.TempDir()})
	return &Env{Set: set, Store: store, Drv: drv, Hub: hub}
}

// Staff is an admin principal.
func Staff() db.Principal {
	return db.Principal{TokenName: "test", Role: db.RoleAdmin}
}

// Customer makes customer username and returns their principal.
func (e *Env) Customer(t testing.TB, username string) db.Principal {
	t.Helper()
	c, err := e.Store.CreateCustomer(context.Background(), db.Customer{Username: username}, "")
	if err != nil {
		t.Fatal(err)
	}
	id := c.ID
	return db.Principal{TokenName: "test", Role: db.RoleCustomer, UserID: &id, Username: username}
}

// Wait follows operation id to its end.
func (e *Env) Wait(t testing.TB, id string) db.Operation {
	t.Helper()
	op, err := ops.Wait(context.Background(), e.Store, e.Hub, id, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !op.Done() {
		t.Fatalf("operation %s (%s) still %s after 20 s", id, op.Action, op.Status)
	}
	return op
}
