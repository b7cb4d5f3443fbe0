package lxcdriver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

var _ ConsoleDriver = (*Fake)(nil)

// fakeWatchEvery is how often a fake terminal looks at its container's
// state, to hold input while it is frozen and end when it stops.
const fakeWatchEvery = 10 * time.Millisecond

// Console implements ConsoleDriver with a fake shell on the console (see
// Shell); like liblxc, one Terminal holds a tty at a time.
func (f *Fake) Console(ctx context.Context, name string, tty int) (Terminal, error) {
	if err := f.canAttach(ctx, "console", name); err != nil {
		return nil, err
	}
	if tty < 0 {
		return nil, fmt.Errorf("fake: console %s: tty %d: want 0 (console) or a tty number", name, tty)
	}
	key := name + "/" + strconv.Itoa(tty)
	f.mu.Lock()
	if f.consoles == nil {
		f.consoles = make(map[string]bool)
	}
	if f.consoles[key] {
		f.mu.Unlock()
		return nil, fmt.Errorf("fake: console %s tty %d: %w", name, tty, ErrConsoleBusy)
	}
	f.consoles[key] = true
	f.mu.Unlock()
	device := "/dev/console"
	if tty > 0 {
		device = "/dev/tty" + strconv.Itoa(tty)
	}
	t := newFakeTerminal(f, name, device, 80, 24, "")
	t.release = func() {
		f.mu.Lock()
		delete(f.consoles, key)
		f.mu.Unlock()
	}
	return t, nil
}

// Shell implements ConsoleDriver with a fake shell that echoes what is
// typed and, at Enter, runs a few commands:
//
//	echo ARGS...   prints ARGS
//	stty size      prints rows and columns
//	tty            prints the terminal's device
//	seq N          prints 1 to N (N at most 1000000), one a line
//	hostname       prints lxc.uts.name
//	exit [N]       ends the terminal with status N
//
// Anything else prints "sh: CMD: not found". ^C drops the line, ^D on an
// empty line exits. Input typed while the container is frozen waits for
// the thaw; a stop ends the terminal as if the shell were killed.
func (f *Fake) Shell(ctx context.Context, name string, cols, rows int, env []string) (Terminal, error) {
	if err := f.canAttach(ctx, "shell", name); err != nil {
		return nil, err
	}
	return newFakeTerminal(f, name, "/dev/pts/0", cols, rows, "# "), nil
}

func (f *Fake) canAttach(ctx context.Context, op, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: %s %s: %w", op, name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get(op, name)
	if err != nil {
		return err
	}
	switch ct.state {
	case StateFrozen:
		return fmt.Errorf("fake: %s %s: %w", op, name, ErrFrozen)
	case StateStopped:
		return fmt.Errorf("fake: %s %s: %w", op, name, ErrNotRunning)
	}
	return nil
}

// fakeTerminal is the Terminal of the Fake.
type fakeTerminal struct {
	f       *Fake
	name    string
	device  string
	prompt  string
	release func()

	mu         sync.Mutex
	cols, rows int
	out        bytes.Buffer // written by the shell, not read yet
	in         []byte       // typed, not yet looked at (held while frozen)
	line       []byte
	ended      bool
	err        error
	ready      chan struct{} // a token when out has data or the terminal ended
	done       chan struct{}
	stopWatch  chan struct{}
	closeOnce  sync.Once
}

func newFakeTerminal(f *Fake, name, device string, cols, rows int, prompt string) *fakeTerminal {
	if cols <= 0 {
		cols = 80
	}
	if rows <= 0 {
		rows = 24
	}
	t := &fakeTerminal{f: f, name: name, device: device, prompt: prompt, cols: cols, rows: rows,
		ready: make(chan struct{}, 1), done: make(chan struct{}), stopWatch: make(chan struct{})}
	t.out.WriteString(prompt)
	t.wake()
	go t.watch()
	return t
}

func (t *fakeTerminal) wake() {
	select {
	case t.ready <- struct{}{}:
	default:
	}
}

// watch ends the terminal when the container stops and runs input held
// while it was frozen once it thaws.
func (t *fakeTerminal) watch() {
	tick := time.NewTicker(fakeWatchEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.stopWatch:
			return
		case <-tick.C:
		}
		st, err := t.f.State(context.Background(), t.name)
		switch {
		case err != nil || st == StateStopped:
			code := 0
			if t.device != "/dev/console" {
				code = 137 // the shell was killed with its container
			}
			t.finish(code)
			return
		case st != StateFrozen:
			t.mu.Lock()
			t.process()
			t.mu.Unlock()
		}
	}
}

func (t *fakeTerminal) frozen() bool {
	st, err := t.f.State(context.Background(), t.name)
	return err == nil && st == StateFrozen
}

// finish ends the terminal with an exit code (0 for a clean end).
func (t *fakeTerminal) finish(code int) {
	t.mu.Lock()
	t.endLocked(code)
	t.mu.Unlock()
}

func (t *fakeTerminal) endLocked(code int) {
	if t.ended {
		return
	}
	t.ended = true
	if code != 0 {
		t.err = &ExitError{Code: code}
	}
	close(t.done)
	t.wake()
	if t.release != nil {
		t.release()
	}
}

func (t *fakeTerminal) Read(p []byte) (int, error) {
	for {
		t.mu.Lock()
		if t.out.Len() > 0 {
			n, _ := t.out.Read(p)
			more := t.out.Len() > 0
			t.mu.Unlock()
			if more {
				t.wake()
			}
			return n, nil
		}
		if t.ended {
			t.mu.Unlock()
			return 0, io.EOF
		}
		t.mu.Unlock()
		<-t.ready
	}
}

func (t *fakeTerminal) Write(p []byte) (int, error) {
	frozen := t.frozen()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return 0, io.ErrClosedPipe
	}
	t.in = append(t.in, p...)
	if !frozen {
		t.process()
	}
	return len(p), nil
}

// process runs the held input; t.mu is held.
func (t *fakeTerminal) process() {
	in := t.in
	t.in = nil
	before := t.out.Len()
	for _, b := range in {
		if t.ended {
			break
		}
		switch b {
		case '\r', '\n':
			t.out.WriteString("\r\n")
			cmd := string(t.line)
			t.line = t.line[:0]
			t.run(cmd)
		case 0x7f, 0x08:
			if len(t.line) > 0 {
				t.line = t.line[:len(t.line)-1]
				t.out.WriteString("\b \b")
			}
		case 0x03:
			t.line = t.line[:0]
			t.out.WriteString("^C\r\n" + t.prompt)
		case 0x04:
			if len(t.line) == 0 {
				t.endLocked(0)
			}
		default:
			t.line = append(t.line, b)
			t.out.WriteByte(b)
		}
	}
	if t.out.Len() != before {
		t.wake()
	}
}

// run runs one command line; t.mu is held.
func (t *fakeTerminal) run(line string) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		t.out.WriteString(t.prompt)
		return
	}
	args := fields[1:]
	switch fields[0] {
	case "echo":
		t.out.WriteString(strings.Join(args, " ") + "\r\n")
	case "stty":
		if len(args) == 1 && args[0] == "size" {
			fmt.Fprintf(&t.out, "%d %d\r\n", t.rows, t.cols)
		}
	case "tty":
		t.out.WriteString(t.device + "\r\n")
	case "seq":
		n := 0
		if len(args) == 1 {
			n, _ = strconv.Atoi(args[0])
		}
		for i := 1; i <= min(n, 1000000); i++ {
			t.out.WriteString(strconv.Itoa(i) + "\r\n")
		}
	case "hostname":
		t.f.mu.Lock()
		if ct, ok := t.f.cts[t.name]; ok {
			t.out.WriteString(ct.config["lxc.uts.name"] + "\r\n")
		}
		t.f.mu.Unlock()
	case "exit":
		code := 0
		if len(args) > 0 {
			code, _ = strconv.Atoi(args[0])
		}
		t.endLocked(code & 0xff)
		return
	default:
		t.out.WriteString("sh: " + fields[0] + ": not found\r\n")
	}
	t.out.WriteString(t.prompt)
}

func (t *fakeTerminal) Resize(cols, rows int) error {
	if cols <= 0 || rows <= 0 {
		return fmt.Errorf("fake: resize to %dx%d", cols, rows)
	}
	t.mu.Lock()
	t.cols, t.rows = cols, rows
	t.mu.Unlock()
	return nil
}

func (t *fakeTerminal) Done() <-chan struct{} { return t.done }

func (t *fakeTerminal) Wait() error {
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Close detaches; a shell is hung up (status 129, as SIGHUP kills).
func (t *fakeTerminal) Close() error {
	t.closeOnce.Do(func() {
		close(t.stopWatch)
		code := 0
		if t.device != "/dev/console" {
			code = 129
		}
		t.finish(code)
	})
	return nil
}
