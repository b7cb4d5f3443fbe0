// Package pgcluster runs ctpanel's private PostgreSQL cluster: the embedded
// default used when no database URL is configured. It uses the host's own
// PostgreSQL binaries, runs them as the postgres user, listens only on a unix
// socket inside the data dir, and stops the server when ctpanel stops.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/subprocess"
)

// Cluster is a running private PostgreSQL server.
type Cluster struct {
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *slog.Logger
}

// BinDir finds the directory of the host's initdb and postgres: Debian's
// /usr/lib/postgresql/N/bin (newest N), else whatever PATH has.
func BinDir() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(matches, func(i, j int) bool {
		return pgMajor(matches[i]) > pgMajor(matches[j])
	})
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	p, err := exec.LookPath("postgres")
	if err != nil {
		return "", errors.New("pgcluster: no postgres binaries (install Debian's postgresql package)")
	}
	return filepath.Dir(p), nil
}

func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// Start initialises (first time) and starts a cluster under dir, and
// returns once it accepts connections. dir's parents must be traversable by
// the postgres user.
func Start(ctx context.Context, dir string, log *slog.Logger) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	data, run := filepath.Join(dir, "data"), filepath.Join(dir, "run")
	for _, d := range []string{dir, run} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return nil, fmt.Errorf("pgcluster: chown %s: %w", d, err)
		}
	}
	cred := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		log.Info("initialising private postgresql cluster", "dir", data)
		cmd := subprocess.Command(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
			"--auth=trust", "-E", "UTF8", "--locale=C")
		cmd.SysProcAttr.Credential = cred.Credential
		cmd.Dir = dir
		if _, err := subprocess.Run(ctx, cmd); err != nil {
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
	}
	c := &Cluster{dir: dir, exited: make(chan struct{}), log: log}
	if c.attach(ctx, data) {
		log.Info("using the private postgresql cluster already running", "dir", data)
		return c, nil
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "postgresql.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: log file: %w", err)
	}
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", run,
		"-c", "listen_addresses=", "-c", "unix_socket_permissions=0700",
		"-c", "max_connections=200", "-c", "fsync=on")
	c.cmd.Dir = dir
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	// Pdeathsig belongs to the thread that forked, so the forking goroutine
	// keeps its thread for as long as postgres runs: if ctpanel dies, the
	// kernel asks postgres for a fast shutdown.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred.Credential, Pdeathsig: syscall.SIGINT, Setpgid: true}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := c.cmd.Start(); err != nil {
			started <- err
			runtime.UnlockOSThread()
			return
		}
		started <- nil
		_ = c.cmd.Wait()
		logFile.Close()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		logFile.Close()
		return nil, fmt.Errorf("pgcluster: start postgres: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, c.urlFor("postgres"))
		if err == nil {
			conn.Close(ctx)
			break
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("pgcluster: postgres exited at start-up; see %s", filepath.Join(dir, "postgresql.log"))
		case <-ctx.Done():
			c.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, fmt.Errorf("pgcluster: postgres not ready after 60s: %w", err)
		}
	}
	log.Info("private postgresql cluster running", "socket_dir", run, "pid", c.cmd.Process.Pid)
	return c, nil
}

// running reports the pid of a live postmaster for data, if any.
func running(data string) int {
	raw, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0]))
	if err != nil || pid <= 0 {
		return 0
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || !strings.Contains(filepath.Base(exe), "postgres") {
		return 0
	}
	return pid
}

// attach waits for a postmaster already running on data (another ctpanel
// command's, or one shutting down after its ctpanel was killed): it returns
// true when that server accepts connections and can be shared, false once
// it is gone and a new one may start.
func (c *Cluster) attach(ctx context.Context, data string) bool {
	for i := 0; i < 600; i++ {
		if running(data) == 0 {
			return false
		}
		if conn, err := pgx.Connect(ctx, c.urlFor("postgres")); err == nil {
			conn.Close(ctx)
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func (c *Cluster) urlFor(dbname string) string {
	return "postgres://postgres@/" + dbname + "?host=" + url.QueryEscape(filepath.Join(c.dir, "run"))
}

// URL creates database dbname if needed and returns a URL for it.
func (c *Cluster) URL(ctx context.Context, dbname string) (string, error) {
	conn, err := pgx.Connect(ctx, c.urlFor("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgcluster: connect: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, dbname).Scan(&exists); err != nil {
		return "", fmt.Errorf("pgcluster: check database: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{dbname}.Sanitize()); err != nil {
			return "", fmt.Errorf("pgcluster: create database %s: %w", dbname, err)
		}
	}
	return c.urlFor(dbname), nil
}

// Stop asks postgres for a fast shutdown and waits for it.
func (c *Cluster) Stop() {
	if c == nil || c.cmd == nil || c.cmd.Process == nil {
		return // not started here (attached) or not at all
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	c.log.Info("private postgresql cluster stopped")
}
