package drivertest

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ExerciseConsole runs the conformance suite of lxcdriver.ConsoleDriver:
// shells and the console of busybox containers, their window sizes, their
// ends, and the errors of stopped, frozen and missing containers.
func ExerciseConsole(t *testing.T, newDriver func(t *testing.T) lxcdriver.Driver) {
	s := &suite{newDriver: newDriver}
	t.Run("Shell", s.shell)
	t.Run("ShellEndsWithContainer", s.shellEndsWithContainer)
	t.Run("Console", s.console)
	t.Run("TerminalErrors", s.terminalErrors)
}

// termOutput collects what a Terminal writes, for waitFor.
type termOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
	eof chan struct{}
}

func readTerminal(term lxcdriver.Terminal) *termOutput {
	o := &termOutput{eof: make(chan struct{})}
	go func() {
		defer close(o.eof)
		b := make([]byte, 4096)
		for {
			n, err := term.Read(b)
			o.mu.Lock()
			o.buf.Write(b[:n])
			o.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return o
}

func (o *termOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until the output holds want after the first from bytes,
// and returns the offset just past it.
func (o *termOutput) waitFor(t *testing.T, from int, want string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s := o.String()
		if i := strings.Index(s[min(from, len(s)):], want); i >= 0 {
			return min(from, len(s)) + i + len(want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("terminal output has no %q after byte %d:\n%q", want, from, o.String())
	return 0
}

func (o *termOutput) waitEOF(t *testing.T) {
	t.Helper()
	select {
	case <-o.eof:
	case <-time.After(20 * time.Second):
		t.Fatalf("terminal did not end; output:\n%q", o.String())
	}
}

func typeIn(t *testing.T, term lxcdriver.Terminal, s string) {
	t.Helper()
	if _, err := term.Write([]byte(s)); err != nil {
		t.Fatalf("type %q: %v", s, err)
	}
}

func (s *suite) shell(t *testing.T) {
	d := s.newDriver(t)
	name := createStarted(t, d)
	term, err := d.Shell(testCtx(t), name, 100, 30, []string{"CTPANEL_TEST=shell-env"})
	if err != nil {
		t.Fatalf("shell: %v", err)
	}
	defer term.Close()
	out := readTerminal(term)

	typeIn(t, term, "stty size\r")
	at := out.waitFor(t, 0, "30 100")
	if err := term.Resize(120, 40); err != nil {
		t.Fatalf("resize: %v", err)
	}
	typeIn(t, term, "stty size\r")
	at = out.waitFor(t, at, "40 120")
	typeIn(t, term, "echo conformance-ok\r")
	// The echo of what was typed, then the output on a line of its own.
	at = out.waitFor(t, at, "\r\nconformance-ok\r\n")
	if strings.Contains(out.String(), "\r\r\n") {
		t.Errorf("line ends are translated twice:\n%q", out.String())
	}
	typeIn(t, term, "exit 3\r")
	out.waitEOF(t)
	var ee *lxcdriver.ExitError
	if err := term.Wait(); !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("wait after exit 3: %v, want exit status 3", err)
	}
	select {
	case <-term.Done():
	default:
		t.Fatal("Done is not closed after the shell exited")
	}
	if _, err := term.Write([]byte("x")); err == nil {
		t.Error("write after the end succeeded")
	}
	if err := term.Close(); err != nil {
		t.Errorf("close after the end: %v", err)
	}
	_ = at

	// Several shells at once, and Close hangs one up.
	a, err := d.Shell(testCtx(t), name, 80, 24, nil)
	if err != nil {
		t.Fatalf("first of two shells: %v", err)
	}
	defer a.Close()
	b, err := d.Shell(testCtx(t), name, 80, 24, nil)
	if err != nil {
		t.Fatalf("second of two shells: %v", err)
	}
	oa, ob := readTerminal(a), readTerminal(b)
	typeIn(t, a, "echo from-a\r")
	typeIn(t, b, "echo from-b\r")
	oa.waitFor(t, 0, "\nfrom-a")
	ob.waitFor(t, 0, "\nfrom-b")
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	ob.waitEOF(t)
	typeIn(t, a, "echo a-still-here\r")
	oa.waitFor(t, 0, "\na-still-here")
}

func (s *suite) shellEndsWithContainer(t *testing.T) {
	d := s.newDriver(t)
	name := createStarted(t, d)
	term, err := d.Shell(testCtx(t), name, 80, 24, nil)
	if err != nil {
		t.Fatalf("shell: %v", err)
	}
	defer term.Close()
	out := readTerminal(term)
	typeIn(t, term, "echo up\r")
	out.waitFor(t, 0, "\nup")
	if err := d.Stop(testCtx(t), name); err != nil {
		t.Fatalf("stop: %v", err)
	}
	out.waitEOF(t)
	select {
	case <-term.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done is not closed after the container stopped")
	}
}

func (s *suite) console(t *testing.T) {
	d := s.newDriver(t)
	name := createStarted(t, d)
	term, err := d.Console(testCtx(t), name, 0)
	if err != nil {
		t.Fatalf("console: %v", err)
	}
	out := readTerminal(term)
	// busybox init asks for Enter before it starts the console's shell.
	typeIn(t, term, "\r")
	typeIn(t, term, "echo console-ok\r")
	at := out.waitFor(t, 0, "\nconsole-ok")
	if err := term.Resize(90, 33); err != nil {
		t.Fatalf("resize: %v", err)
	}
	typeIn(t, term, "stty size\r")
	out.waitFor(t, at, "33 90")

	// One client holds a tty at a time...
	if _, err := d.Console(testCtx(t), name, 0); !errors.Is(err, lxcdriver.ErrConsoleBusy) {
		t.Fatalf("second console: %v, want ErrConsoleBusy", err)
	}
	// ...and lets go of it on Close, without ending what runs there.
	typeIn(t, term, "MARK=kept-across-attach\r")
	out.waitFor(t, at, "MARK=kept-across-attach")
	if err := term.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	out.waitEOF(t)
	if err := term.Wait(); err != nil {
		t.Errorf("wait after close: %v", err)
	}
	again, err := d.Console(testCtx(t), name, 0)
	if err != nil {
		t.Fatalf("console after close: %v", err)
	}
	defer again.Close()
	o2 := readTerminal(again)
	typeIn(t, again, "echo again-${MARK:-lost}\r")
	// The fake's shell does not expand variables; busybox does.
	o2.waitFor(t, 0, "\nagain-")

	if err := d.Stop(testCtx(t), name); err != nil {
		t.Fatalf("stop: %v", err)
	}
	o2.waitEOF(t)
}

func (s *suite) terminalErrors(t *testing.T) {
	d := s.newDriver(t)
	ctx := testCtx(t)
	if _, err := d.Shell(ctx, "99999", 80, 24, nil); !errors.Is(err, lxcdriver.ErrNotFound) {
		t.Errorf("shell in a missing container: %v, want ErrNotFound", err)
	}
	if _, err := d.Console(ctx, "99999", 0); !errors.Is(err, lxcdriver.ErrNotFound) {
		t.Errorf("console of a missing container: %v, want ErrNotFound", err)
	}
	name := create(t, d)
	if _, err := d.Shell(ctx, name, 80, 24, nil); !errors.Is(err, lxcdriver.ErrNotRunning) {
		t.Errorf("shell in a stopped container: %v, want ErrNotRunning", err)
	}
	if _, err := d.Console(ctx, name, 0); !errors.Is(err, lxcdriver.ErrNotRunning) {
		t.Errorf("console of a stopped container: %v, want ErrNotRunning", err)
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := d.Freeze(ctx, name); err != nil {
		t.Fatalf("freeze: %v", err)
	}
	start := time.Now()
	if _, err := d.Shell(ctx, name, 80, 24, nil); !errors.Is(err, lxcdriver.ErrFrozen) {
		t.Errorf("shell in a frozen container: %v, want ErrFrozen", err)
	}
	if _, err := d.Console(ctx, name, 0); !errors.Is(err, lxcdriver.ErrFrozen) {
		t.Errorf("console of a frozen container: %v, want ErrFrozen", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("refusing a frozen container took %s", time.Since(start))
	}
	if err := d.Unfreeze(ctx, name); err != nil {
		t.Fatalf("unfreeze: %v", err)
	}
}
