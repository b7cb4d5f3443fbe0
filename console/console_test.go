package console

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

func TestRing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		writes []string
		want   string
	}{
		{"empty", 8, nil, ""},
		{"fits", 8, []string{"abc", "de"}, "abcde"},
		{"exactly full", 4, []string{"ab", "cd"}, "abcd"},
		{"wraps, no newline", 4, []string{"abc", "def"}, "cdef"},
		{"bigger than the ring", 4, []string{"abcdefgh"}, "efgh"},
		{"wrapped starts after a newline", 8, []string{"12345", "6\n789"}, "789"},
		{"wrapped skips a cut UTF-8 character", 4, []string{"xé", "abc"}, "abc"},
		{"cut UTF-8 at the start is dropped", 4, []string{"aaaé", "bcd"}, "bcd"},
		{"whole UTF-8 at the start is kept", 5, []string{"aaaaé", "bcd"}, "ébcd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRing(tc.size)
			for _, w := range tc.writes {
				r.Write([]byte(w))
			}
			if got := string(r.Bytes()); got != tc.want {
				t.Errorf("Bytes() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTickets(t *testing.T) {
	ts := newTickets()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ts.now = func() time.Time { return now }
	uid := int64(7)
	p := db.Principal{TokenID: 3, Role: db.RoleCustomer, UserID: &uid}

	secret, tk, err := ts.Mint(Ticket{Principal: p, CTID: 101, Kind: KindShell, Session: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if !tk.Expires.Equal(now.Add(TicketTTL)) {
		t.Errorf("expires %v, want %v", tk.Expires, now.Add(TicketTTL))
	}
	if _, err := ts.Redeem("ctt_wrong"); !errors.Is(err, ErrBadTicket) {
		t.Errorf("wrong ticket: %v", err)
	}
	got, err := ts.Redeem(secret)
	if err != nil || got.CTID != 101 || got.Kind != KindShell || got.Session != "s1" || *got.Principal.UserID != 7 {
		t.Fatalf("redeem: %+v, %v", got, err)
	}
	if _, err := ts.Redeem(secret); !errors.Is(err, ErrBadTicket) {
		t.Errorf("reused ticket: %v", err)
	}

	old, _, _ := ts.Mint(Ticket{CTID: 101, Kind: KindConsole})
	now = now.Add(TicketTTL)
	if _, err := ts.Redeem(old); !errors.Is(err, ErrBadTicket) {
		t.Errorf("expired ticket: %v", err)
	}
	a, _, _ := ts.Mint(Ticket{CTID: 101, Kind: KindConsole})
	b, _, _ := ts.Mint(Ticket{CTID: 101, Kind: KindConsole})
	if a == b || !strings.HasPrefix(a, "ctt_") || len(a) < 40 {
		t.Errorf("tickets %q and %q are not distinct random secrets", a, b)
	}
}

// testManager is a Manager on the Fake with one running container, 101.
func testManager(t *testing.T, cfg Config) (*Manager, *lxcdriver.Fake) {
	t.Helper()
	f := lxcdriver.NewFake()
	ctx := context.Background()
	if err := f.Create(ctx, "101", lxcdriver.CreateOptions{Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(ctx, "101"); err != nil {
		t.Fatal(err)
	}
	if cfg.StateEvery == 0 {
		cfg.StateEvery = 20 * time.Millisecond
	}
	m := NewManager(cfg, f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(m.Close)
	return m, f
}

// collector gathers a viewer's events.
type collector struct {
	mu     sync.Mutex
	data   bytes.Buffer
	states []string
	done   chan struct{}
}

func collect(v *Viewer) *collector {
	c := &collector{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			select {
			case ev := <-v.Events():
				c.add(ev)
			case <-v.Gone():
				for {
					select {
					case ev := <-v.Events():
						c.add(ev)
					default:
						return
					}
				}
			}
		}
	}()
	return c
}

func (c *collector) add(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data.Write(ev.Data)
	if ev.State != "" {
		c.states = append(c.states, ev.State)
	}
}

func (c *collector) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data.String()
}

func (c *collector) hasState(s string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range c.states {
		if x == s {
			return true
		}
	}
	return false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestShellSessionReattachReplays(t *testing.T) {
	m, _ := testManager(t, Config{})
	s, err := m.Open(context.Background(), OpenOptions{Kind: KindShell, CTID: 101, Owner: "user:1", Cols: 100, Rows: 30})
	if err != nil {
		t.Fatal(err)
	}
	v, att, err := s.Attach(false)
	if err != nil {
		t.Fatal(err)
	}
	c := collect(v)
	// The prompt comes in the replay or live, never both.
	eventually(t, "the prompt", func() bool { return string(att.Replay)+c.text() == "# " })
	if err := v.Input([]byte("stty size\r")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "stty output", func() bool { return strings.Contains(c.text(), "30 100\r\n") })
	v.Detach()
	<-c.done

	// Output while nobody watches lands in the replay.
	if got, err := m.Get(s.ID); err != nil || got != s {
		t.Fatalf("get %s: %v, %v", s.ID, got, err)
	}
	v2, att2, err := s.Attach(false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(att2.Replay), "stty size\r\n30 100\r\n# ") {
		t.Errorf("replay after reattach %q lacks the earlier output", att2.Replay)
	}
	c2 := collect(v2)
	if err := v2.Input([]byte("echo again\r")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "echo after reattach", func() bool { return strings.Contains(c2.text(), "again\r\n") })
	if strings.Contains(c2.text(), "30 100") {
		t.Errorf("live output repeats the replay: %q", c2.text())
	}
	if err := v2.Input([]byte("exit 4\r")); err != nil {
		t.Fatal(err)
	}
	<-s.Done()
	<-c2.done
	if end := s.End(); end.Reason != EndExited || end.ExitCode != 4 || end.Message != "shell exited with status 4" {
		t.Errorf("end %+v", end)
	}
	if _, err := m.Get(s.ID); !errors.Is(err, ErrNoSession) {
		t.Errorf("ended session still found: %v", err)
	}
	if _, _, err := s.Attach(false); !errors.Is(err, ErrEnded) {
		t.Errorf("attach to an ended session: %v", err)
	}
}

func TestConsoleSharedWithReadOnlyViewer(t *testing.T) {
	m, _ := testManager(t, Config{})
	ctx := context.Background()
	s1, err := m.Open(ctx, OpenOptions{Kind: KindConsole, CTID: 101, Owner: "user:1"})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := m.Open(ctx, OpenOptions{Kind: KindConsole, CTID: 101, Owner: "token:9"})
	if err != nil || s2 != s1 {
		t.Fatalf("second open of the console: %v, same session %v", err, s2 == s1)
	}
	rw, _, _ := s1.Attach(false)
	ro, _, _ := s1.Attach(true)
	crw, cro := collect(rw), collect(ro)
	if err := ro.Input([]byte("echo nope\r")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only input: %v", err)
	}
	if err := ro.Resize(10, 10); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only resize: %v", err)
	}
	if err := rw.Input([]byte("echo shared\r")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*collector{crw, cro} {
		eventually(t, "both viewers see the output", func() bool { return strings.Contains(c.text(), "shared\r\n") })
	}
	if strings.Contains(cro.text(), "nope") {
		t.Errorf("read-only viewer's input reached the console: %q", cro.text())
	}
	if err := rw.Resize(0, 5); err == nil {
		t.Error("resize to 0 columns accepted")
	}
}

func TestSessionEndsWhenContainerStops(t *testing.T) {
	m, f := testManager(t, Config{})
	ctx := context.Background()
	con, err := m.Open(ctx, OpenOptions{Kind: KindConsole, CTID: 101})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := m.Open(ctx, OpenOptions{Kind: KindShell, CTID: 101})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Stop(ctx, "101"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Session{con, sh} {
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("%s session did not end with its container", s.Kind)
		}
		if end := s.End(); end.Reason != EndStopped || !strings.Contains(end.Message, "101") {
			t.Errorf("%s end %+v, want stopped", s.Kind, end)
		}
	}
	if _, err := m.Open(ctx, OpenOptions{Kind: KindConsole, CTID: 101}); !errors.Is(err, lxcdriver.ErrNotRunning) {
		t.Errorf("open on a stopped container: %v", err)
	}
}

func TestFrozenContainer(t *testing.T) {
	m, f := testManager(t, Config{})
	ctx := context.Background()
	s, err := m.Open(ctx, OpenOptions{Kind: KindShell, CTID: 101})
	if err != nil {
		t.Fatal(err)
	}
	v, _, _ := s.Attach(false)
	c := collect(v)
	if err := f.Freeze(ctx, "101"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "frozen state", func() bool { return c.hasState(StateFrozen) })
	if err := v.Input([]byte("echo after-thaw\r")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if strings.Contains(c.text(), "after-thaw") {
		t.Fatal("a frozen container answered")
	}
	if _, err := m.Open(ctx, OpenOptions{Kind: KindShell, CTID: 101}); !errors.Is(err, lxcdriver.ErrFrozen) {
		t.Errorf("new shell in a frozen container: %v", err)
	}
	if err := f.Unfreeze(ctx, "101"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "running state", func() bool { return c.hasState(StateRunning) })
	eventually(t, "held input runs after the thaw", func() bool { return strings.Contains(c.text(), "after-thaw\r\n") })
}

func TestIdleTimeout(t *testing.T) {
	m, _ := testManager(t, Config{IdleTimeout: time.Second})
	s, err := m.Open(context.Background(), OpenOptions{Kind: KindShell, CTID: 101})
	if err != nil {
		t.Fatal(err)
	}
	v, _, _ := s.Attach(false)
	// Typing keeps it alive past the timeout...
	for range 8 {
		time.Sleep(200 * time.Millisecond)
		if err := v.Input([]byte("x")); err != nil {
			t.Fatalf("session ended while in use: %v", err)
		}
	}
	// ...and it ends once nobody types, viewer or not.
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("idle session did not end")
	}
	if end := s.End(); end.Reason != EndIdle {
		t.Errorf("end %+v, want idle", end)
	}
	select {
	case <-v.Gone():
	default:
		t.Error("viewer of an ended session is not gone")
	}
}

func TestLimitsAndClose(t *testing.T) {
	m, _ := testManager(t, Config{MaxShells: 2, MaxViewers: 1})
	ctx := context.Background()
	var shells []*Session
	for range 2 {
		s, err := m.Open(ctx, OpenOptions{Kind: KindShell, CTID: 101})
		if err != nil {
			t.Fatal(err)
		}
		shells = append(shells, s)
	}
	if _, err := m.Open(ctx, OpenOptions{Kind: KindShell, CTID: 101}); !errors.Is(err, ErrTooMany) {
		t.Errorf("third shell: %v", err)
	}
	if _, _, err := shells[0].Attach(false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := shells[0].Attach(true); !errors.Is(err, ErrTooMany) {
		t.Errorf("second viewer over the limit: %v", err)
	}
	m.Close()
	for _, s := range shells {
		select {
		case <-s.Done():
		default:
			t.Fatal("Close left a session running")
		}
		if s.End().Reason != EndShutdown {
			t.Errorf("end %+v, want shutdown", s.End())
		}
	}
	if _, err := m.Open(ctx, OpenOptions{Kind: KindConsole, CTID: 101}); !errors.Is(err, ErrClosed) {
		t.Errorf("open after close: %v", err)
	}
	if _, ok := m.Track(); ok {
		t.Error("Track after Close succeeded")
	}
}

func TestSlowViewerIsDropped(t *testing.T) {
	m, _ := testManager(t, Config{ViewerStall: 100 * time.Millisecond})
	s, err := m.Open(context.Background(), OpenOptions{Kind: KindShell, CTID: 101})
	if err != nil {
		t.Fatal(err)
	}
	slow, _, _ := s.Attach(true) // never reads
	fast, _, _ := s.Attach(false)
	c := collect(fast)
	// Enough separate outputs to fill the slow viewer's queue.
	for i := range viewerQueue + 10 {
		if err := fast.Input([]byte("echo line-" + strings.Repeat("x", i%7) + "\r")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-slow.Gone():
	case <-time.After(5 * time.Second):
		t.Fatal("a viewer that reads nothing was not dropped")
	}
	if slow.DropReason() == "" {
		t.Error("dropped viewer has no reason")
	}
	if err := fast.Input([]byte("echo still-fine\r")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the other viewer goes on", func() bool { return strings.Contains(c.text(), "still-fine\r\n") })
	if s.Ended() {
		t.Error("dropping a viewer ended the session")
	}
}

func TestOwnerKey(t *testing.T) {
	uid := int64(5)
	if got := OwnerKey(db.Principal{TokenID: 2, UserID: &uid}); got != "user:5" {
		t.Errorf("user token: %q", got)
	}
	if got := OwnerKey(db.Principal{TokenID: 2}); got != "token:2" {
		t.Errorf("staff token: %q", got)
	}
}

// TestEndUserEndsTheirSessionsAndTickets: disabling a customer ends their
// shells and the sessions on their containers, and spends their tickets;
// others' are untouched.
func TestEndUserEndsTheirSessionsAndTickets(t *testing.T) {
	m, f := testManager(t, Config{})
	ctx := context.Background()
	if err := f.Create(ctx, "102", lxcdriver.CreateOptions{Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(ctx, "102"); err != nil {
		t.Fatal(err)
	}
	mine, err := m.Open(ctx, OpenOptions{Kind: KindShell, CTID: 101, Owner: "user:7"})
	if err != nil {
		t.Fatal(err)
	}
	staffOnMine, err := m.Open(ctx, OpenOptions{Kind: KindConsole, CTID: 101, Owner: "user:1"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := m.Open(ctx, OpenOptions{Kind: KindShell, CTID: 102, Owner: "user:8"})
	if err != nil {
		t.Fatal(err)
	}
	seven, eight := int64(7), int64(8)
	secret, _, err := m.MintTicket(Ticket{Principal: db.Principal{UserID: &seven}, CTID: 101, Kind: KindShell})
	if err != nil {
		t.Fatal(err)
	}
	kept, _, err := m.MintTicket(Ticket{Principal: db.Principal{UserID: &eight}, CTID: 102, Kind: KindShell})
	if err != nil {
		t.Fatal(err)
	}
	m.EndUser(7, []int{101})
	for _, s := range []*Session{mine, staffOnMine} {
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("session %s on 101 still open", s.Kind)
		}
		if end := s.End(); end.Reason != EndClosed {
			t.Errorf("%s ended %+v, want closed", s.Kind, end)
		}
	}
	if other.Ended() {
		t.Error("another customer's shell ended")
	}
	if _, err := m.RedeemTicket(secret); !errors.Is(err, ErrBadTicket) {
		t.Errorf("the disabled user's ticket: %v, want spent", err)
	}
	if _, err := m.RedeemTicket(kept); err != nil {
		t.Errorf("another user's ticket: %v", err)
	}
}

// TestOneOwnerCannotSpendEveryonesTerminals: tickets and shells are capped
// per user (or token) as well as farm-wide.
func TestOneOwnerCannotSpendEveryonesTerminals(t *testing.T) {
	m, f := testManager(t, Config{MaxPerOwner: 2})
	ctx := context.Background()
	if err := f.Create(ctx, "102", lxcdriver.CreateOptions{Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(ctx, "102"); err != nil {
		t.Fatal(err)
	}
	for _, ct := range []int{101, 102} {
		if _, err := m.Open(ctx, OpenOptions{Kind: KindShell, CTID: ct, Owner: "user:1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Open(ctx, OpenOptions{Kind: KindShell, CTID: 102, Owner: "user:1"}); !errors.Is(err, ErrTooMany) {
		t.Fatalf("a third shell for one owner: %v, want ErrTooMany", err)
	}
	if _, err := m.Open(ctx, OpenOptions{Kind: KindShell, CTID: 102, Owner: "user:2"}); err != nil {
		t.Fatalf("another owner's shell: %v", err)
	}
	one, two := int64(1), int64(2)
	for i := range maxTicketsPerOwner {
		if _, _, err := m.MintTicket(Ticket{Principal: db.Principal{UserID: &one}, CTID: 101, Kind: KindConsole}); err != nil {
			t.Fatalf("ticket %d: %v", i, err)
		}
	}
	if _, _, err := m.MintTicket(Ticket{Principal: db.Principal{UserID: &one}, CTID: 101, Kind: KindConsole}); !errors.Is(err, ErrTooMany) {
		t.Fatalf("one ticket too many for one user: %v, want ErrTooMany", err)
	}
	if _, _, err := m.MintTicket(Ticket{Principal: db.Principal{UserID: &two}, CTID: 102, Kind: KindConsole}); err != nil {
		t.Fatalf("another user's ticket: %v", err)
	}
}
