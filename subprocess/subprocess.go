// Package subprocess runs the programs ctpanel calls (liblxc's tools, tar,
// e2fsprogs, initdb) the one way: each in a process group of its own that
// a cancelled context kills whole, so a template script, rsync or
// decompressor a tool forked dies with it and nothing goes on writing into
// a half-made container while it is discarded; and not waited on past a
// second for a daemonized grandchild that kept the output pipe.
//
// Children die with the panel: Start gives them a parent-death signal
// (SIGKILL). Linux ties that signal to the thread that forked, and a Go
// thread can end under a running child (one a goroutine left locked, as
// a failed network-namespace switch does), so Start forks from a
// goroutine locked to its thread and keeps it locked, blocked on the
// child's pidfd, until the child has exited: that thread cannot end
// before the child does. A crashed panel's tar, mkfs or lxc-attach thus
// cannot go on writing into a container its next start re-creates.
package subprocess

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// WaitDelay is how long Wait waits for the output pipes after the process
// has exited or been killed (a daemonized grandchild may hold them).
const WaitDelay = time.Second

// Command is exec.CommandContext for name in a process group of its own:
// cancelling ctx SIGKILLs the whole group. The caller wires its standard
// streams and runs it.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return KillGroup(cmd.Process.Pid) }
	cmd.WaitDelay = WaitDelay
	return cmd
}

// KillGroup SIGKILLs the process group led by pid.
func KillGroup(pid int) error {
	if pid <= 0 {
		return errors.New("subprocess: no process group to kill")
	}
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil // gone already
	}
	return err
}

// Start starts cmd (from Command, or any exec.Cmd) with SIGKILL as its
// parent-death signal, forked from an OS thread held until the child
// exits (see the package comment). The caller waits for cmd as usual.
func Start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		// Opened before the caller can reap the child, so it is the
		// child's. Polling a pidfd waits for the exit without reaping.
		pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
		started <- nil
		if err != nil {
			// No pidfd (kernel before 5.3): wait without reaping.
			var info unix.Siginfo
			for unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
			}
			return
		}
		defer unix.Close(pidfd)
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != unix.EINTR {
				return
			}
		}
	}()
	return <-started
}

// Run runs cmd (from Command) and returns its combined output, trimmed.
// On failure the error names the program and carries its last words, or
// says the context ended it.
func Run(ctx context.Context, cmd *exec.Cmd) (string, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := Start(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	msg := strings.TrimSpace(out.String())
	if err == nil {
		return msg, nil
	}
	name := cmd.Path
	if len(cmd.Args) > 0 {
		name = cmd.Args[0]
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return msg, fmt.Errorf("%s: %w", name, ctxErr)
	}
	return msg, &Error{Name: name, Err: err, Output: msg}
}

// Output is Run of Command(ctx, name, args...).
func Output(ctx context.Context, name string, args ...string) (string, error) {
	return Run(ctx, Command(ctx, name, args...))
}

// Error is a program that failed: its exit status and what it said.
type Error struct {
	Name   string
	Err    error // an *exec.ExitError for a non-zero exit
	Output string
}

func (e *Error) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("%s: %v", e.Name, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Name, e.Err, e.Output)
}

func (e *Error) Unwrap() error { return e.Err }
