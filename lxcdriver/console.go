package lxcdriver

import (
	"context"
	"errors"
	"io"
	"strconv"
)

// ErrConsoleBusy is returned by Console when the tty is already attached,
// by someone else (an lxc-console on the host) or by an earlier Console
// whose Terminal is not closed yet. liblxc lets one client hold a tty.
var ErrConsoleBusy = errors.New("console is attached elsewhere")

// Terminal is a live terminal in a container: Read gives what the
// container writes to it, Write types into it. Read returns io.EOF once the
// process has exited or the container's side of the terminal is gone (the
// container stopped); Close detaches, and for a shell ends its process.
type Terminal interface {
	io.ReadWriteCloser
	// Resize sets the window size; the container's foreground process
	// gets SIGWINCH.
	Resize(cols, rows int) error
	// Done is closed when the terminal has ended: the process exited, the
	// console went away, or Close was called.
	Done() <-chan struct{}
	// Wait blocks until Done and reports how it ended: nil for a clean
	// end (exit status 0, a detached console), an *ExitError for a
	// process that exited non-zero or was killed.
	Wait() error
}

// ExitError is how a shell's non-zero end is reported by Terminal.Wait.
type ExitError struct {
	// Code is the exit status, or 128+signal for a process killed by a
	// signal, as a shell reports it.
	Code int
}

func (e *ExitError) Error() string {
	return "exited with status " + strconv.Itoa(e.Code)
}

// ConsoleDriver opens terminals in running containers: the console (what
// lxc-console attaches to) and fresh login shells (vzctl enter,
// lxc-attach). A stopped container gives ErrNotRunning, a frozen one
// ErrFrozen, an unknown one ErrNotFound. ctx bounds the opening only; the
// Terminal lives until it ends or is closed.
type ConsoleDriver interface {
	// Console attaches to tty number tty of the container: 0 is the
	// console (/dev/console), 1 and up the lxc.tty.max ttys. Only one
	// Terminal may hold a tty at a time (ErrConsoleBusy). Closing it
	// detaches; what runs on the tty goes on.
	Console(ctx context.Context, name string, tty int) (Terminal, error)
	// Shell starts a root login shell (root's shell from the
	// container's /etc/passwd, /bin/sh if that is missing) on a new pty
	// of cols × rows. env holds KEY=VALUE pairs added to a minimal
	// environment (PATH, HOME, USER, LOGNAME, TERM=xterm-256color).
	// Closing the Terminal hangs the shell up.
	Shell(ctx context.Context, name string, cols, rows int, env []string) (Terminal, error)
}
