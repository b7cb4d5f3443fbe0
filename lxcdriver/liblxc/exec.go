package liblxc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/ctpanel/ctpanel/lxcdriver"
	lxc "github.com/lxc/go-lxc"
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
// command is killed (its own children are not) and ctx's error returned.
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
	switch d.state(c) {
	case lxcdriver.StateRunning:
	case lxcdriver.StateFrozen, lxcdriver.StateFreezing:
		// An attached process would join the frozen cgroup and hang.
		return lxcdriver.ExecResult{}, fmt.Errorf("liblxc: exec %s: %w", name, lxcdriver.ErrFrozen)
	default:
		return lxcdriver.ExecResult{}, fmt.Errorf("liblxc: exec %s: %w", name, lxcdriver.ErrNotRunning)
	}
	res, err := runAttached(ctx, c, cmd, opts)
	if err != nil {
		return res, fmt.Errorf("liblxc: exec %s %q: %w", name, cmd[0], err)
	}
	return res, nil
}

func runAttached(ctx context.Context, c *lxc.Container, cmd []string, opts lxcdriver.ExecOptions) (lxcdriver.ExecResult, error) {
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

	var stdin, stdinW *os.File
	if opts.Stdin == nil {
		stdin, err = os.Open(os.DevNull)
		if err != nil {
			return lxcdriver.ExecResult{}, err
		}
		closers = append(closers, stdin)
	} else {
		stdin, stdinW, err = os.Pipe()
		if err != nil {
			return lxcdriver.ExecResult{}, err
		}
		closers = append(closers, stdin, stdinW)
	}

	cwd := opts.Cwd
	if cwd == "" {
		cwd = "/"
	}
	env := append(append([]string(nil), execEnv...), opts.Env...)
	pid, err := c.RunCommandNoWait(cmd, lxc.AttachOptions{
		Namespaces: -1,
		Arch:       -1,
		UID:        -1,
		GID:        -1,
		Cwd:        cwd,
		ClearEnv:   true,
		Env:        env,
		StdinFd:    stdin.Fd(),
		StdoutFd:   outW.Fd(),
		StderrFd:   errW.Fd(),
	})
	// The attached process has its copies now; ours must go or the
	// readers below never see EOF.
	_ = outW.Close()
	_ = errW.Close()
	_ = stdin.Close()
	if err != nil {
		return lxcdriver.ExecResult{}, fmt.Errorf("attach: %w", err)
	}

	// liblxc forks the attached process with CLONE_PARENT, so it is our
	// child and ours to reap.
	proc, err := os.FindProcess(pid)
	if err != nil {
		return lxcdriver.ExecResult{}, fmt.Errorf("find attached pid %d: %w", pid, err)
	}
	waited := make(chan *os.ProcessState, 1)
	waitErr := make(chan error, 1)
	go func() {
		ps, err := proc.Wait()
		if err != nil {
			waitErr <- err
			return
		}
		waited <- ps
	}()

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

	var ps *os.ProcessState
	select {
	case ps = <-waited:
	case err := <-waitErr:
		abandon()
		return lxcdriver.ExecResult{}, fmt.Errorf("wait for attached pid %d: %w", pid, err)
	case <-ctx.Done():
		_ = proc.Kill()
		select {
		case <-waited:
		case <-waitErr:
		}
		abandon()
		return lxcdriver.ExecResult{}, ctx.Err()
	}
	select {
	case <-readDone:
	case <-ctx.Done():
		abandon()
		return lxcdriver.ExecResult{}, fmt.Errorf("read output: %w", ctx.Err())
	}
	return lxcdriver.ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: exitCode(ps)}, nil
}

// exitCode reports a death by signal the way a shell does, 128+signal.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
