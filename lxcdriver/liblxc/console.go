package liblxc

/*
#cgo pkg-config: lxc
#cgo LDFLAGS: -llxc
#include <stdlib.h>
#include <lxc/lxccontainer.h>

// ctpanel_console_getfd is liblxc's console_getfd on a container object of
// its own. go-lxc's ConsoleFd keeps only the pty and drops the other
// descriptor liblxc returns, the command socket that holds the tty: the
// tty then stays busy until the panel exits and nobody can attach again.
static int ctpanel_console_getfd(const char *name, const char *lxcpath, int ttynum, int *ptxfd) {
	struct lxc_container *c = lxc_container_new(name, lxcpath);
	if (!c)
		return -1;
	int n = ttynum;
	int fd = c->console_getfd(c, &n, ptxfd);
	lxc_container_put(c);
	return fd;
}
*/
import "C"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/subprocess"
)

var _ lxcdriver.ConsoleDriver = (*Driver)(nil)

// runningInit opens name and checks it can take a terminal: running, not
// frozen (a process attached to a frozen container hangs). It returns the
// init pid.
func (d *Driver) runningInit(op, name string) (int, error) {
	c, err := d.container(op, name)
	if err != nil {
		return 0, err
	}
	defer c.Release()
	switch d.state(c) {
	case lxcdriver.StateRunning:
	case lxcdriver.StateFrozen, lxcdriver.StateFreezing:
		return 0, fmt.Errorf("liblxc: %s %s: %w", op, name, lxcdriver.ErrFrozen)
	default:
		return 0, fmt.Errorf("liblxc: %s %s: %w", op, name, lxcdriver.ErrNotRunning)
	}
	pid := c.InitPid()
	if pid <= 0 {
		return 0, fmt.Errorf("liblxc: %s %s: %w", op, name, lxcdriver.ErrNotRunning)
	}
	return pid, nil
}

// Console implements lxcdriver.ConsoleDriver the way lxc-console does: the
// container's monitor hands out a pty that it copies to and from the tty.
// What the monitor does not pass on is the window size, so Resize sets it
// on the container's tty device too.
func (d *Driver) Console(ctx context.Context, name string, tty int) (lxcdriver.Terminal, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("liblxc: console %s: %w", name, err)
	}
	if tty < 0 {
		return nil, fmt.Errorf("liblxc: console %s: tty %d: want 0 (console) or a tty number", name, tty)
	}
	pid, err := d.runningInit("console", name)
	if err != nil {
		return nil, err
	}
	cname, cpath := C.CString(name), C.CString(d.lxcpath)
	defer C.free(unsafe.Pointer(cname))
	defer C.free(unsafe.Pointer(cpath))
	var ptx C.int
	// Under ForkLock so that no command started meanwhile inherits the
	// descriptors before they are close-on-exec: a child holding the
	// command socket would keep the tty busy.
	syscall.ForkLock.RLock()
	holdFd := int(C.ctpanel_console_getfd(cname, cpath, C.int(tty), &ptx))
	if holdFd >= 0 {
		unix.CloseOnExec(holdFd)
		unix.CloseOnExec(int(ptx))
	}
	syscall.ForkLock.RUnlock()
	if holdFd < 0 {
		// liblxc says no more than that; a stop racing us is the other
		// reason.
		if _, err := d.runningInit("console", name); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("liblxc: console %s tty %d: %w", name, tty, lxcdriver.ErrConsoleBusy)
	}
	ptxFd := int(ptx)
	// The monitor's pty echoes nothing and keeps lines as they are, except
	// that it turns the \r\n the container's tty already made into \r\r\n.
	if t, err := unix.IoctlGetTermios(ptxFd, unix.TCGETS); err == nil {
		t.Oflag &^= unix.ONLCR
		_ = unix.IoctlSetTermios(ptxFd, unix.TCSETS, t)
	}
	if err := unix.SetNonblock(ptxFd, true); err != nil {
		unix.Close(ptxFd)
		unix.Close(holdFd)
		return nil, fmt.Errorf("liblxc: console %s: %w", name, err)
	}
	if err := unix.SetNonblock(holdFd, true); err != nil {
		unix.Close(ptxFd)
		unix.Close(holdFd)
		return nil, fmt.Errorf("liblxc: console %s: %w", name, err)
	}
	device := "dev/console"
	if tty > 0 {
		device = "dev/tty" + strconv.Itoa(tty)
	}
	t := newPtyTerminal(os.NewFile(uintptr(ptxFd), "console-ptx"))
	hold := os.NewFile(uintptr(holdFd), "console-command-socket")
	t.resizeInner = func(ws *unix.Winsize) error { return resizeContainerTTY(pid, device, ws) }
	t.closeExtra = func() { _ = hold.Close() }
	// The monitor keeps the command socket open as long as it serves the
	// tty: end of file on it means the container stopped (or our Close).
	go func() {
		buf := make([]byte, 64)
		for {
			if _, err := hold.Read(buf); err != nil {
				t.end(nil)
				return
			}
		}
	}()
	return t, nil
}

// resizeContainerTTY sets the window size on the container's own tty
// device, found through its init's root like a chroot would find it, and
// only if it is a pty.
func resizeContainerTTY(pid int, device string, ws *unix.Winsize) error {
	root, err := unix.Open(fmt.Sprintf("/proc/%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	fd, err := openat2(root, device, &unix.OpenHow{
		Flags: unix.O_RDWR | unix.O_NOCTTY | unix.O_NONBLOCK | unix.O_CLOEXEC, Resolve: inRoot})
	if err != nil {
		return fmt.Errorf("open %s: %w", device, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	// Unix98 pty slaves have majors 136 to 143; anything else the
	// container put there is not ours to ioctl.
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) < 136 || unix.Major(st.Rdev) > 143 {
		return fmt.Errorf("%s is not a pty", device)
	}
	return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws)
}

// shellEnv is the environment of a shell before the caller's additions;
// the panel's own environment must not leak into containers.
var shellEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"USER=root",
	"LOGNAME=root",
	"TERM=xterm-256color",
}

// shellReady is what the login script prints once it waits for the go
// ahead (see awaitAttachTerminal); the panel takes it out of the output.
const shellReady = "\x1b]ctpanel;shell-ready\x07"

// loginShell runs root's login shell from the container's /etc/passwd, in
// plain sh so that it works in any container. It first waits, without
// echo, for a line from the panel: until lxc-attach has set up the
// terminal nothing the shell writes would come out right.
const loginShell = `stty -echo 2>/dev/null; printf '\033]ctpanel;shell-ready\007'; IFS= read -r _; stty echo 2>/dev/null
s=; while IFS=: read -r u _ _ _ _ _ sh; do if [ "$u" = root ]; then s=$sh; break; fi; done </etc/passwd 2>/dev/null
[ -n "$s" ] && [ -x "$s" ] || s=/bin/sh
cd "$HOME" 2>/dev/null || cd /
exec "$s" -l`

// Shell implements lxcdriver.ConsoleDriver with lxc-attach under a pty of
// ours, as a person would run it in a terminal: lxc-attach allocates the
// container's own pty, makes it the shell's controlling terminal (job
// control, ^C) and passes our window size on at SIGWINCH. liblxc's attach
// through go-lxc would fork the panel itself, and leave the shell without
// a controlling terminal.
func (d *Driver) Shell(ctx context.Context, name string, cols, rows int, env []string) (lxcdriver.Terminal, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("liblxc: shell %s: %w", name, err)
	}
	attach, err := exec.LookPath("lxc-attach")
	if err != nil {
		return nil, fmt.Errorf("liblxc: shell %s: lxc-attach (Debian package lxc) is needed: %w", name, err)
	}
	if _, err := d.runningInit("shell", name); err != nil {
		return nil, err
	}
	ptx, pty, err := openPty()
	if err != nil {
		return nil, fmt.Errorf("liblxc: shell %s: %w", name, err)
	}
	defer pty.Close()
	if err := setWinsize(ptx, winsize(cols, rows)); err != nil {
		ptx.Close()
		return nil, fmt.Errorf("liblxc: shell %s: set window size: %w", name, err)
	}
	// Raw: lxc-attach's pty in the container does the line discipline;
	// ours must pass bytes as they are (no second \n to \r\n).
	if err := makeRaw(int(pty.Fd())); err != nil {
		ptx.Close()
		return nil, fmt.Errorf("liblxc: shell %s: %w", name, err)
	}
	args := []string{"-P", d.lxcpath, "-n", name, "--clear-env"}
	for _, kv := range append(append([]string(nil), shellEnv...), env...) {
		args = append(args, "--set-var", kv)
	}
	args = append(args, "--", "/bin/sh", "-c", loginShell)
	cmd := exec.Command(attach, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pty, pty, pty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := subprocess.Start(cmd); err != nil {
		ptx.Close()
		return nil, fmt.Errorf("liblxc: shell %s: start lxc-attach: %w", name, err)
	}
	t := newPtyTerminal(ptx)
	t.proc = cmd.Process
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = &lxcdriver.ExitError{Code: exitCode(ee.ProcessState)}
		}
		// What the shell wrote last may still be in the pty; readers get
		// a moment to drain it before Read reports the end.
		_ = ptx.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
		t.end(err)
	}()
	if err := awaitAttachTerminal(ctx, ptx, exited); err != nil {
		_ = t.Close()
		return nil, fmt.Errorf("liblxc: shell %s: %w", name, err)
	}
	return t, nil
}

// awaitAttachTerminal waits until lxc-attach has set up our pty (its
// stdin) and the login script waits for the go-ahead, then gives it.
// lxc-attach switches our pty to raw input with TCSAFLUSH, which drops
// whatever was typed before, and turns on OPOST|ONLCR, which would make
// the \r\n of the container's pty \r\r\n. We set OPOST off before the
// start, so its coming on says lxc-attach is done; ONLCR goes again then
// (TCSETS on the ptx applies to the pty). Only after that may the shell
// write: the script prints shellReady and waits for a line, which we send.
func awaitAttachTerminal(ctx context.Context, ptx *os.File, exited <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	// The marker, with whatever lxc-attach said before it (kept for an
	// error message).
	var seen []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(seen, []byte(shellReady)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the shell did not start within 15s: %q", seen)
		}
		_ = ptx.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := ptx.Read(buf)
		seen = append(seen, buf[:n]...)
		if len(seen) > 64<<10 {
			seen = seen[len(seen)-64<<10:]
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("lxc-attach failed: %w: %s", err, bytes.TrimSpace(seen))
		}
	}
	_ = ptx.SetReadDeadline(time.Time{})
	rc, err := ptx.SyscallConn()
	if err != nil {
		return err
	}
	for delay := 100 * time.Microsecond; ; delay = min(2*delay, 10*time.Millisecond) {
		var ready bool
		var ioErr error
		if err := rc.Control(func(fd uintptr) {
			t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
			if err != nil {
				ioErr = err
				return
			}
			if t.Oflag&unix.OPOST == 0 {
				return
			}
			ready = true
			t.Oflag &^= unix.ONLCR
			ioErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
		}); err != nil {
			return err
		}
		if ioErr != nil {
			return fmt.Errorf("pty termios: %w", ioErr)
		}
		if ready {
			break
		}
		select {
		case <-exited:
			return errors.New("lxc-attach exited before it set up the terminal")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			return errors.New("lxc-attach did not set up the terminal within 15s")
		}
	}
	if _, err := ptx.Write([]byte("\r")); err != nil {
		return fmt.Errorf("start the shell: %w", err)
	}
	return nil
}

// openPty opens a new pty pair on the host's devpts: the ptx side
// non-blocking for Go's poller, the pty side for a child's stdio.
func openPty() (ptx, pty *os.File, err error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(m)
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	// TIOCGPTPEER opens the peer without a path lookup.
	s, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(m), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		unix.Close(m)
		return nil, nil, fmt.Errorf("open pty peer: %w", errno)
	}
	return os.NewFile(uintptr(m), "ptx"), os.NewFile(s, "pty"), nil
}

// makeRaw is cfmakeraw.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("get termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("set raw mode: %w", err)
	}
	return nil
}

// Window sizes are clamped to what a person could ask for; the callers
// validate, this keeps the ioctl sane anyway.
func winsize(cols, rows int) *unix.Winsize {
	clamp := func(n, def int) uint16 {
		if n <= 0 {
			return uint16(def)
		}
		return uint16(min(n, 4096))
	}
	return &unix.Winsize{Col: clamp(cols, 80), Row: clamp(rows, 24)}
}

// setWinsize is TIOCSWINSZ on f without f.Fd, which would take f out of
// non-blocking mode (and Close could then no longer wake a Read).
func setWinsize(f *os.File, ws *unix.Winsize) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) { ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) }); err != nil {
		return err
	}
	return ioErr
}

// ptyTerminal is a lxcdriver.Terminal on the ptx side of a pty.
type ptyTerminal struct {
	ptx *os.File
	// proc is the shell's lxc-attach; nil for a console.
	proc *os.Process
	// resizeInner also sizes a tty beyond ours (the console's).
	resizeInner func(*unix.Winsize) error
	closeExtra  func()

	done      chan struct{}
	endOnce   sync.Once
	err       error
	closeOnce sync.Once
}

func newPtyTerminal(ptx *os.File) *ptyTerminal {
	return &ptyTerminal{ptx: ptx, done: make(chan struct{})}
}

// end records how the terminal ended, once.
func (t *ptyTerminal) end(err error) {
	t.endOnce.Do(func() {
		t.err = err
		close(t.done)
	})
}

func (t *ptyTerminal) Read(p []byte) (int, error) {
	n, err := t.ptx.Read(p)
	if err != nil {
		// EIO: nobody holds the other side any more. A deadline or a
		// close: the terminal has ended.
		if errors.Is(err, unix.EIO) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
			return n, io.EOF
		}
	}
	return n, err
}

func (t *ptyTerminal) Write(p []byte) (int, error) {
	select {
	case <-t.done:
		// A pty takes writes with nobody on the other side.
		return 0, io.ErrClosedPipe
	default:
	}
	n, err := t.ptx.Write(p)
	if err != nil && (errors.Is(err, unix.EIO) || errors.Is(err, os.ErrClosed)) {
		return n, io.ErrClosedPipe
	}
	return n, err
}

func (t *ptyTerminal) Resize(cols, rows int) error {
	ws := winsize(cols, rows)
	if err := setWinsize(t.ptx, ws); err != nil {
		return fmt.Errorf("liblxc: resize: %w", err)
	}
	if t.resizeInner != nil {
		if err := t.resizeInner(ws); err != nil {
			return fmt.Errorf("liblxc: resize: %w", err)
		}
	}
	return nil
}

func (t *ptyTerminal) Done() <-chan struct{} { return t.done }

func (t *ptyTerminal) Wait() error {
	<-t.done
	return t.err
}

// Close hangs up: closing the ptx sends SIGHUP to lxc-attach, which hangs
// up the shell in turn. A shell's lxc-attach that does not go in two
// seconds is killed; Close returns once it is reaped.
func (t *ptyTerminal) Close() error {
	t.closeOnce.Do(func() {
		_ = t.ptx.Close()
		if t.closeExtra != nil {
			t.closeExtra()
		}
		if t.proc == nil {
			t.end(nil)
			return
		}
		select {
		case <-t.done:
		case <-time.After(2 * time.Second):
			_ = t.proc.Kill()
			<-t.done
		}
	})
	return nil
}
