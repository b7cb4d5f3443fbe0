package liblxc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	lxc "github.com/lxc/go-lxc"
	"golang.org/x/sys/unix"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/subprocess"
)

// execEnv is the environment every command starts from; the host's (the
// panel's) environment must not leak into containers.
var execEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"USER=root",
	"TERM=xterm",
}

// Exec implements lxcdriver.Driver. It returns once the command has exited
// and its stdout and stderr are closed, so a background child that keeps
// them open holds Exec until it exits or ctx ends. When ctx ends first the
// command is killed, with whatever of its children are still in its
// process group, and ctx's error returned.
func (d *Driver) Exec(ctx context.Context, name string, cmd []string, opts lxcdriver.ExecOptions) (lxcdriver.ExecResult, error) {
	if err := ctx.Err(); err != nil {
		return lxcdriver.ExecResult{}, fmt.Errorf("liblxc: exec %s: %w", name, err)
	}
	if len(cmd) == 0 {
		return lxcdriver.ExecResult{}, fmt.Errorf("liblxc: exec %s: empty command", name)
	}
	c, err := d.container("exec", name)
	if err != nil {
		return lxcdriver.ExecResult{}, err
	}
	defer c.Release()
	if err := d.attachable(c); err != nil {
		return lxcdriver.ExecResult{}, fmt.Errorf("liblxc: exec %s: %w", name, err)
	}
	res, err := d.runAttached(ctx, c, cmd, opts)
	if err != nil {
		return res, fmt.Errorf("liblxc: exec %s %q: %w", name, cmd[0], err)
	}
	return res, nil
}

// attachable is nil for a running container, else ErrFrozen or
// ErrNotRunning.
func (d *Driver) attachable(c *lxc.Container) error {
	switch d.state(c) {
	case lxcdriver.StateRunning:
		return nil
	case lxcdriver.StateFrozen, lxcdriver.StateFreezing:
		// An attached process would join the frozen cgroup and hang.
		return lxcdriver.ErrFrozen
	default:
		return lxcdriver.ErrNotRunning
	}
}

// cdAndExec runs its second and later arguments in the directory its
// first names; lxc-attach has no option for the working directory.
const cdAndExec = `cd "$1" && shift && exec "$@"`

// attachArgs are lxc-attach's arguments for cmd: the environment cleared
// but for liblxc's container=lxc, execEnv and opts.Env (later values of
// a name win), and opts.Cwd through /bin/sh when it is not the root.
func (d *Driver) attachArgs(name string, cmd []string, opts lxcdriver.ExecOptions) []string {
	args := []string{"-P", d.lxcpath, "-n", name, "--clear-env"}
	for _, kv := range append(append([]string(nil), execEnv...), opts.Env...) {
		args = append(args, "--set-var", kv)
	}
	args = append(args, "--")
	if opts.Cwd != "" && opts.Cwd != "/" {
		args = append(args, "/bin/sh", "-c", cdAndExec, "sh", opts.Cwd)
	}
	return append(args, cmd...)
}

// runAttached runs cmd in the container through lxc-attach, not go-lxc's
// attach: liblxc forks the attached process from its caller and sets it
// up (namespaces, credentials, environment) before the exec, which can
// hang in this process (see tools.go).
func (d *Driver) runAttached(ctx context.Context, c *lxc.Container, cmd []string, opts lxcdriver.ExecOptions) (lxcdriver.ExecResult, error) {
	var closers []*os.File
	closeAll := func() {
		for _, f := range closers {
			_ = f.Close()
		}
		closers = nil
	}
	defer closeAll()

	outR, outW, err := os.Pipe()
	if err != nil {
		return lxcdriver.ExecResult{}, err
	}
	closers = append(closers, outR, outW)
	errR, errW, err := os.Pipe()
	if err != nil {
		return lxcdriver.ExecResult{}, err
	}
	closers = append(closers, errR, errW)

	// Pipes without a terminal: lxc-attach hands them to the attached
	// process as they are (no pty of its own), so the command's exit and
	// output are lxc-attach's.
	// Not cancelled by ctx: stopAttached ends it in its own order.
	attach := subprocess.Command(context.Background(), "lxc-attach", d.attachArgs(c.Name(), cmd, opts)...)
	attach.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	// liblxc starts the attached process in its caller's working
	// directory when the container has it, "/" included.
	attach.Dir = "/"
	// Its own process group (subprocess.Command), which the attached
	// process stays in: a cancelled ctx kills both (killing lxc-attach
	// alone would leave the command running in the container).
	attach.Stdout, attach.Stderr = outW, errW
	var stdinW *os.File
	if opts.Stdin != nil {
		stdin, w, err := os.Pipe()
		if err != nil {
			return lxcdriver.ExecResult{}, err
		}
		closers = append(closers, stdin, w)
		attach.Stdin, stdinW = stdin, w
	} // else /dev/null
	err = subprocess.Start(attach)
	// lxc-attach has its copies now; ours must go or the readers below
	// never see EOF.
	_ = outW.Close()
	_ = errW.Close()
	if f, ok := attach.Stdin.(*os.File); ok {
		_ = f.Close()
	}
	if err != nil {
		return lxcdriver.ExecResult{}, fmt.Errorf("start lxc-attach: %w", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- attach.Wait() }()

	var stdout, stderr bytes.Buffer
	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); _, _ = io.Copy(&stdout, outR) }()
	go func() { defer readers.Done(); _, _ = io.Copy(&stderr, errR) }()
	if stdinW != nil {
		go func() {
			// Fails with EPIPE when the command does not read it all;
			// that is the command's business.
			_, _ = stdinW.Write(opts.Stdin)
			_ = stdinW.Close()
		}()
	}
	readDone := make(chan struct{})
	go func() { readers.Wait(); close(readDone) }()

	// abandon unblocks the readers (closing a pipe wakes a pending Read)
	// and waits for them, so the buffers are ours again.
	abandon := func() {
		_ = outR.Close()
		_ = errR.Close()
		<-readDone
	}

	var waitErr error
	select {
	case waitErr = <-waited:
	case <-ctx.Done():
		stopAttached(attach.Process.Pid, waited)
		abandon()
		return lxcdriver.ExecResult{}, ctx.Err()
	}
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		abandon()
		return lxcdriver.ExecResult{}, fmt.Errorf("wait for lxc-attach: %w", waitErr)
	}
	select {
	case <-readDone:
	case <-ctx.Done():
		abandon()
		return lxcdriver.ExecResult{}, fmt.Errorf("read output: %w", ctx.Err())
	}
	res := lxcdriver.ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: exitCode(attach.ProcessState)}
	if res.ExitCode == 1 && len(res.Stdout) == 0 && attachFailed(c.Name(), res.Stderr) {
		// lxc-attach's own failure, not the command's: most likely the
		// container stopped or froze since the check in Exec.
		if err := d.attachable(c); err != nil {
			return lxcdriver.ExecResult{}, err
		}
		return lxcdriver.ExecResult{}, fmt.Errorf("lxc-attach: %s", strings.TrimSpace(string(res.Stderr)))
	}
	return res, nil
}

// stopAttached kills the command lxc-attach runs and waits for lxc-attach
// (pid) to exit, which it does once the command has: it reaps it, so that
// nothing is left of it in the container, not even a zombie, as there
// would be were lxc-attach killed first. Children of lxc-attach are
// killed until it is gone (it may not have forked yet), then whatever is
// left in its process group; if it is not gone within a few seconds, the
// whole group is killed.
func stopAttached(pid int, waited <-chan error) {
	defer subprocess.KillGroup(pid)
	giveUp := time.After(3 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		killChildren(pid)
		select {
		case <-waited:
			return
		case <-tick.C:
		case <-giveUp:
			_ = subprocess.KillGroup(pid)
			<-waited
			return
		}
	}
}

// killChildren SIGKILLs the children of pid, through pidfds so that a
// child that has been reaped meanwhile and its pid reused is spared.
func killChildren(pid int) {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(b)) {
			child, err := strconv.Atoi(field)
			if err != nil {
				continue
			}
			fd, err := unix.PidfdOpen(child, 0)
			if err != nil {
				continue
			}
			if parentOf(child) == pid {
				_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			}
			_ = unix.Close(fd)
		}
	}
}

// parentOf is the parent pid of pid (field 4 of /proc/<pid>/stat), 0 if
// unknown.
func parentOf(pid int) int {
	f, err := statField(pid, 4)
	if err != nil {
		return 0
	}
	ppid, _ := strconv.Atoi(f)
	return ppid
}

// attachFailed says stderr is only lxc-attach's own error lines
// ("lxc-attach: NAME: attach.c: ...").
func attachFailed(name string, stderr []byte) bool {
	prefix := "lxc-attach: " + name + ": "
	lines := strings.Split(strings.TrimSpace(string(stderr)), "\n")
	for _, l := range lines {
		if !strings.HasPrefix(l, prefix) {
			return false
		}
	}
	return len(lines) > 0 && lines[0] != ""
}

// exitCode reports a death by signal the way a shell does, 128+signal.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
