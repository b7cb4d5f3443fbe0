// Package dbtest gives tests a fresh, migrated database on a real
// PostgreSQL. The server is CTPANEL_TEST_DATABASE_URL when set; otherwise a
// private cluster (the same embedded default `ctpanel serve` uses) is started
// once per test binary from the host's PostgreSQL binaries. Packages using it
// call dbtest.Main from TestMain so that cluster is stopped and removed.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/server/pgcluster"
)

var (
	once     sync.Once
	adminURL string
	startErr error
	cluster  *pgcluster.Cluster
	tmpDir   string
)

// Main runs a package's tests and stops the private cluster afterwards.
func Main(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		cluster.Stop()
	}
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

func server() (string, error) {
	once.Do(func() {
		if u := os.Getenv("CTPANEL_TEST_DATABASE_URL"); u != "" {
			adminURL = u
			return
		}
		tmpDir, startErr = os.MkdirTemp("", "ctpanel-testpg-")
		if startErr != nil {
			return
		}
		// postgres runs as its own user and must reach its directory.
		if startErr = os.Chmod(tmpDir, 0o755); startErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		cluster, startErr = pgcluster.Start(ctx, tmpDir, log)
		if startErr != nil {
			return
		}
		adminURL, startErr = cluster.URL(ctx, "postgres")
	})
	return adminURL, startErr
}

// URL creates a new migrated database for t, dropped when t ends. A missing
// PostgreSQL fails the test: integration tests never skip.
func URL(t testing.TB) string {
	t.Helper()
	admin, err := server()
	if err != nil {
		t.Fatalf("dbtest: no PostgreSQL for tests (set CTPANEL_TEST_DATABASE_URL or install Debian's postgresql; `make test` does): %v", err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("dbtest: connect %s: %v", admin, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "ctpanel_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("dbtest: create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("dbtest: parse %s: %v", admin, err)
	}
	u.Path = "/" + name
	dbURL := u.String()
	pool, err := db.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	defer pool.Close()
	if err := db.MigrateUp(ctx, pool); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return dbURL
}

// Pool is URL plus an open pool closed when t ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := db.Connect(context.Background(), URL(t))
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Must fails t on err; a small helper for fixtures.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Sprint(err))
	}
}
