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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/subprocess"
)

// Cluster is a running private PostgreSQL server. One it started is
// supervised: when postgres dies (killed, out of memory, a full disk at
// a checkpoint) it is started again, with a backoff from 1 s doubling to
// 30 s between failed tries, until Stop.
type Cluster struct {
	dir, bin, data string
	cred           *syscall.Credential
	log            *slog.Logger

	mu       sync.Mutex
	cmd      *exec.Cmd     // the current postgres
	exited   chan struct{} // closed when the current postgres has exited
	stopping bool
	stop     chan struct{} // closed by Stop
	done     chan struct{} // closed when the supervisor has ended
	restarts atomic.Int64
}

// Restarts is how many times the supervisor started postgres again.
func (c *Cluster) Restarts() int64 { return c.restarts.Load() }

// Pid is the current postgres's pid, 0 when none runs (or the cluster is
// another process's).
func (c *Cluster) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	select {
	case <-c.exited:
		return 0
	default:
		return c.cmd.Process.Pid
	}
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
	c := &Cluster{dir: dir, bin: bin, data: data, cred: cred.Credential, log: log,
		exited: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	if c.attach(ctx, data) {
		log.Info("using the private postgresql cluster already running", "dir", data)
		close(c.done) // not ours to supervise
		return c, nil
	}
	if err := c.launch(); err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx, 60*time.Second); err != nil {
		close(c.done) // no supervisor yet
		c.Stop()
		return nil, err
	}
	log.Info("private postgresql cluster running", "socket_dir", filepath.Join(dir, "run"), "pid", c.Pid())
	go c.supervise()
	return c, nil
}

// launch starts postgres. Pdeathsig belongs to the thread that forked, so
// the forking goroutine keeps its thread for as long as postgres runs: if
// ctpanel dies, the kernel asks postgres for a fast shutdown.
func (c *Cluster) launch() error {
	logFile, err := os.OpenFile(filepath.Join(c.dir, "postgresql.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pgcluster: log file: %w", err)
	}
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), "-D", c.data, "-k", filepath.Join(c.dir, "run"),
		"-c", "listen_addresses=", "-c", "unix_socket_permissions=0700",
		"-c", "max_connections=200", "-c", "fsync=on")
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGINT, Setpgid: true}
	exited := make(chan struct{})
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			runtime.UnlockOSThread()
			return
		}
		started <- nil
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	if err := <-started; err != nil {
		logFile.Close()
		return fmt.Errorf("pgcluster: start postgres: %w", err)
	}
	c.mu.Lock()
	c.cmd, c.exited = cmd, exited
	c.mu.Unlock()
	return nil
}

// waitReady waits until the current postgres accepts connections.
func (c *Cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	c.mu.Lock()
	exited := c.exited
	c.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for {
		conn, err := pgx.Connect(ctx, c.urlFor("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("pgcluster: postgres exited at start-up; see %s", filepath.Join(c.dir, "postgresql.log"))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgcluster: postgres not ready after %v: %w", timeout, err)
		}
	}
}

// supervise starts postgres again whenever it exits before Stop.
func (c *Cluster) supervise() {
	defer close(c.done)
	backoff := time.Second
	for {
		c.mu.Lock()
		exited, cmd := c.exited, c.cmd
		c.mu.Unlock()
		upSince := time.Now()
		select {
		case <-c.stop:
			return
		case <-exited:
		}
		if time.Since(upSince) > time.Minute {
			backoff = time.Second // it had been running fine
		}
		c.log.Error("private postgresql cluster exited; starting it again", "exit", cmd.ProcessState.String(),
			"in", backoff, "log", filepath.Join(c.dir, "postgresql.log"))
		select {
		case <-c.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
		// A postmaster left behind (its children finishing) must go
		// first; postgres itself refuses to start over a live one.
		if pid := running(c.data); pid != 0 {
			c.log.Warn("private postgresql cluster: a postmaster still holds the data dir; waiting", "pid", pid)
			continue
		}
		if err := c.launch(); err != nil {
			c.log.Error("private postgresql cluster: restart failed", "err", err)
			continue
		}
		if err := c.waitReady(context.Background(), 60*time.Second); err != nil {
			c.log.Error("private postgresql cluster: not ready after a restart", "err", err)
			continue
		}
		c.restarts.Add(1)
		c.log.Warn("private postgresql cluster running again", "pid", c.Pid(), "restarts", c.restarts.Load())
	}
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

// Stop ends the supervision, asks postgres for a fast shutdown and waits
// for it.
func (c *Cluster) Stop() {
	if c == nil {
		return
	}
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return
	}
	c.stopping = true
	close(c.stop)
	cmd, exited := c.cmd, c.exited
	c.mu.Unlock()
	<-c.done
	if cmd == nil || cmd.Process == nil {
		return // not started here (attached) or not at all
	}
	// The supervisor may have started another one meanwhile.
	c.mu.Lock()
	cmd, exited = c.cmd, c.exited
	c.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	c.log.Info("private postgresql cluster stopped")
}
