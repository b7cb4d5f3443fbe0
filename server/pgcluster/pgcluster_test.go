package pgcluster

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestRestartedWhenKilled (hardening point 2): the private cluster's
// postgres killed with SIGKILL is started again by the supervisor and
// takes connections; Stop then ends it for good.
func TestRestartedWhenKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PostgreSQL; skipped with -short")
	}
	if _, err := BinDir(); err != nil || os.Geteuid() != 0 {
		t.Fatalf("needs root and Debian's postgresql (make test installs it): %v", err)
	}
	if _, err := user.Lookup("postgres"); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "ctpanel-pgcluster-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	c, err := Start(t.Context(), filepath.Join(dir, "pg"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			c.Stop()
		}
	})
	first := c.Pid()
	if first == 0 {
		t.Fatal("no postgres pid")
	}
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.Restarts() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("postgres not started again 30 s after it was killed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	second := c.Pid()
	if second == 0 || second == first {
		t.Fatalf("pid after the restart %d (before %d)", second, first)
	}
	conn, err := pgx.Connect(context.Background(), c.urlFor("postgres"))
	if err != nil {
		t.Fatalf("connect after the restart: %v", err)
	}
	conn.Close(context.Background())
	c.Stop()
	stopped = true
	if syscall.Kill(second, 0) == nil {
		time.Sleep(100 * time.Millisecond)
		if syscall.Kill(second, 0) == nil {
			t.Fatalf("postgres %d still running after Stop", second)
		}
	}
	if running(filepath.Join(dir, "pg", "data")) != 0 {
		t.Fatal("a postmaster still holds the data dir after Stop")
	}
}
