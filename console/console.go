// Package console keeps terminal sessions with containers on the server, so
// that they outlive the browser: a page refresh or a dropped connection
// attaches again to the same session and gets the recent output replayed,
// while what runs in the container goes on.
//
// A session is a Terminal from the driver plus a ring buffer of its
// output and the viewers attached to it. The console of a container is one
// session shared by everyone who opens it (liblxc lets one client hold a
// tty); every shell is a session of its own, reattached by its id. Viewers
// may be read-only. A session ends when its process exits (or its
// container stops), after IdleTimeout without input, or when the manager
// closes. The websocket side lives in handlers; this package knows nothing
// of HTTP.
package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// Kind says what a session is attached to.
type Kind string

// Kinds of sessions.
const (
	KindConsole Kind = "console" // the container's console, shared
	KindShell   Kind = "shell"   // a fresh root login shell
)

// Defaults of Config.
const (
	DefaultIdleTimeout  = 30 * time.Minute
	DefaultBufferSize   = 64 << 10
	DefaultMaxShells    = 8
	DefaultMaxViewers   = 16
	DefaultMaxSessions  = 512
	DefaultMaxPerOwner  = 16
	DefaultStateEvery   = 2 * time.Second
	DefaultViewerStall  = 10 * time.Second
	viewerQueue         = 64
	inputQueue          = 256
	readChunk           = 32 << 10
	closeTimeout        = 5 * time.Second
	defaultCols         = 80
	defaultRows         = 24
	maxCols, maxRows    = 1000, 1000
	sessionIDRandomSize = 16
)

// Config tunes a Manager; zero fields take the defaults.
type Config struct {
	// IdleTimeout ends a session nobody has typed into (or attached to)
	// for that long (CTPANEL_CONSOLE_IDLE_TIMEOUT).
	IdleTimeout time.Duration
	// BufferSize is how much recent output is replayed on attach.
	BufferSize int
	// MaxShells bounds the shell sessions of one container.
	MaxShells int
	// MaxViewers bounds the viewers of one session.
	MaxViewers int
	// MaxSessions bounds all sessions.
	MaxSessions int
	// MaxPerOwner bounds the shell sessions one user (or token) has open
	// across the farm, so that no one customer can spend MaxSessions.
	MaxPerOwner int
	// StateEvery is how often a session checks whether its container
	// was frozen, thawed or stopped.
	StateEvery time.Duration
	// ViewerStall is how long a viewer may take no output before it is
	// dropped (it may attach again); until then it holds the others up,
	// which is what lets a single viewer slow a flood down instead of
	// losing it.
	ViewerStall time.Duration
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.BufferSize, DefaultBufferSize)
	def(&c.MaxShells, DefaultMaxShells)
	def(&c.MaxViewers, DefaultMaxViewers)
	def(&c.MaxSessions, DefaultMaxSessions)
	def(&c.MaxPerOwner, DefaultMaxPerOwner)
	defDur(&c.StateEvery, DefaultStateEvery)
	defDur(&c.ViewerStall, DefaultViewerStall)
	return c
}

// Driver is what the manager needs of lxcdriver.
type Driver interface {
	lxcdriver.ConsoleDriver
	State(ctx context.Context, name string) (lxcdriver.State, error)
}

// Errors of the manager.
var (
	ErrNoSession = errors.New("console: no such session")
	ErrEnded     = errors.New("console: the session has ended")
	ErrTooMany   = errors.New("console: too many sessions or viewers")
	ErrReadOnly  = errors.New("console: this viewer is read-only")
	// ErrInputStalled: the terminal takes no input (a frozen container's
	// console fills up); what was typed is dropped, not queued forever.
	ErrInputStalled = errors.New("console: the container is not reading input")
	ErrClosed       = errors.New("console: shutting down")
)

// Manager holds every live session.
type Manager struct {
	cfg     Config
	drv     Driver
	log     *slog.Logger
	tickets *tickets

	mu       sync.Mutex
	sessions map[string]*Session
	consoles map[int]*Session // the shared console session of each CTID
	opening  map[int]chan struct{}
	closed   bool
	wg       sync.WaitGroup // session goroutines and tracked connections
}

// NewManager returns a Manager opening terminals through drv.
func NewManager(cfg Config, drv Driver, log *slog.Logger) *Manager {
	return &Manager{cfg: cfg.withDefaults(), drv: drv, log: log, tickets: newTickets(),
		sessions: make(map[string]*Session), consoles: make(map[int]*Session), opening: make(map[int]chan struct{})}
}

// Config returns the settings in force.
func (m *Manager) Config() Config { return m.cfg }

// MintTicket stores a one-time ticket (see Ticket) and returns its secret
// and the ticket with its expiry.
func (m *Manager) MintTicket(t Ticket) (string, Ticket, error) { return m.tickets.Mint(t) }

// RedeemTicket uses up a ticket; ErrBadTicket when it opens nothing.
func (m *Manager) RedeemTicket(secret string) (Ticket, error) { return m.tickets.Redeem(secret) }

// Track counts a connection the manager must wait for when it closes
// (so that it can write its audit entry); call the returned func when it
// is done. ok is false once the manager is closing.
func (m *Manager) Track() (done func(), ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return func() {}, false
	}
	m.wg.Add(1)
	return m.wg.Done, true
}

// OpenOptions says which session to open.
type OpenOptions struct {
	Kind Kind
	CTID int
	// Owner is who opens it (an identity key); a shell is reattached by
	// its owner only, or watched read-only by staff.
	Owner string
	// OwnerName is how the owner is shown (a username or a token's name).
	OwnerName  string
	Cols, Rows int
	// Env goes to a new shell (KEY=VALUE).
	Env []string
}

// Open returns the container's console session, attaching to the console
// if nobody has, or starts a new shell session. The driver's errors come
// back as they are (lxcdriver.ErrNotRunning, ErrFrozen, ...).
func (m *Manager) Open(ctx context.Context, o OpenOptions) (*Session, error) {
	switch o.Kind {
	case KindConsole:
		return m.openConsole(ctx, o)
	case KindShell:
		return m.openShell(ctx, o)
	}
	return nil, fmt.Errorf("console: unknown kind %q", o.Kind)
}

func (m *Manager) openConsole(ctx context.Context, o OpenOptions) (*Session, error) {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		if s := m.consoles[o.CTID]; s != nil && !s.Ended() {
			m.mu.Unlock()
			return s, nil
		}
		// One attach at a time per container: the others wait for it
		// and share what it opened.
		if wait, ok := m.opening[o.CTID]; ok {
			m.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if len(m.sessions) >= m.cfg.MaxSessions {
			m.mu.Unlock()
			return nil, fmt.Errorf("%w: %d sessions are open", ErrTooMany, len(m.sessions))
		}
		wait := make(chan struct{})
		m.opening[o.CTID] = wait
		m.mu.Unlock()

		term, err := m.drv.Console(ctx, strconv.Itoa(o.CTID), 0)
		if err == nil && (o.Cols > 0 || o.Rows > 0) {
			_ = term.Resize(sizeOr(o.Cols, defaultCols), sizeOr(o.Rows, defaultRows))
		}
		m.mu.Lock()
		delete(m.opening, o.CTID)
		close(wait)
		if err != nil {
			m.mu.Unlock()
			return nil, err
		}
		s := m.startLocked(o, term)
		m.consoles[o.CTID] = s
		m.mu.Unlock()
		return s, nil
	}
}

func (m *Manager) openShell(ctx context.Context, o OpenOptions) (*Session, error) {
	m.mu.Lock()
	n, mine := 0, 0
	for _, s := range m.sessions {
		if s.Kind == KindShell && s.CTID == o.CTID {
			n++
		}
		if s.Kind == KindShell && o.Owner != "" && s.Owner == o.Owner && !s.Ended() {
			mine++
		}
	}
	switch {
	case m.closed:
		m.mu.Unlock()
		return nil, ErrClosed
	case n >= m.cfg.MaxShells:
		m.mu.Unlock()
		return nil, fmt.Errorf("%w: container %d has %d shell sessions; close one first", ErrTooMany, o.CTID, n)
	case mine >= m.cfg.MaxPerOwner:
		m.mu.Unlock()
		return nil, fmt.Errorf("%w: you have %d shell sessions open; close one first", ErrTooMany, mine)
	case len(m.sessions) >= m.cfg.MaxSessions:
		m.mu.Unlock()
		return nil, fmt.Errorf("%w: %d sessions are open", ErrTooMany, len(m.sessions))
	}
	m.mu.Unlock()
	term, err := m.drv.Shell(ctx, strconv.Itoa(o.CTID), sizeOr(o.Cols, defaultCols), sizeOr(o.Rows, defaultRows), o.Env)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		_ = term.Close()
		return nil, ErrClosed
	}
	return m.startLocked(o, term), nil
}

func sizeOr(n, def int) int {
	if n <= 0 {
		return def
	}
	return min(n, maxCols)
}

// ValidSize says whether cols × rows is a window size a client may ask for.
func ValidSize(cols, rows int) bool {
	return cols >= 1 && cols <= maxCols && rows >= 1 && rows <= maxRows
}

// startLocked makes a session of term and starts its goroutines; m.mu is
// held.
func (m *Manager) startLocked(o OpenOptions, term lxcdriver.Terminal) *Session {
	now := time.Now()
	s := &Session{
		ID: newID(), Kind: o.Kind, CTID: o.CTID, Owner: o.Owner, OwnerName: o.OwnerName, Started: now,
		m: m, term: term, ring: newRing(m.cfg.BufferSize), viewers: make(map[*Viewer]struct{}),
		lastActive: now, done: make(chan struct{}), input: make(chan []byte, inputQueue),
	}
	m.sessions[s.ID] = s
	m.wg.Add(3)
	go s.readLoop()
	go s.inputLoop()
	go s.watchLoop()
	m.log.Info("console session started", "session", s.ID, "kind", s.Kind, "ctid", s.CTID, "owner", s.Owner)
	return s
}

func newID() string {
	b := make([]byte, sessionIDRandomSize)
	_, _ = rand.Read(b) // crypto/rand does not fail on Linux
	return hex.EncodeToString(b)
}

// Get returns a live session by id (ErrNoSession if there is none).
func (m *Manager) Get(id string) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok || s.Ended() {
		return nil, ErrNoSession
	}
	return s, nil
}

// Sessions lists the live sessions of a container (all if ctid is 0).
func (m *Manager) Sessions(ctid int) []*Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Session
	for _, s := range m.sessions {
		if (ctid == 0 || s.CTID == ctid) && !s.Ended() {
			out = append(out, s)
		}
	}
	return out
}

// forget drops an ended session.
func (m *Manager) forget(s *Session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessions[s.ID] == s {
		delete(m.sessions, s.ID)
	}
	if m.consoles[s.CTID] == s {
		delete(m.consoles, s.CTID)
	}
}

// Close ends every session (viewers are told the server is going away)
// and waits a while for sessions and tracked connections to finish.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	all := make([]*Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		all = append(all, s)
	}
	m.mu.Unlock()
	// At once: hanging up a shell may take its lxc-attach a moment.
	for _, s := range all {
		go s.Stop(EndShutdown, "the panel is shutting down")
	}
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeTimeout):
		m.log.Warn("console sessions did not finish in time", "timeout", closeTimeout)
	}
}

// OwnerKey is the identity a session's Owner holds: the user for a user's
// tokens, else the token itself.
func OwnerKey(p db.Principal) string {
	if p.UserID != nil {
		return "user:" + strconv.FormatInt(*p.UserID, 10)
	}
	return "token:" + strconv.FormatInt(p.TokenID, 10)
}

// EndUser is for a user whose account was disabled: their outstanding
// tickets are spent and every session they opened, or on one of ctids
// (their containers), ends at once; viewers are told why.
func (m *Manager) EndUser(userID int64, ctids []int) {
	m.tickets.SpendUser(userID)
	owner := "user:" + strconv.FormatInt(userID, 10)
	theirs := map[int]bool{}
	for _, id := range ctids {
		theirs[id] = true
	}
	m.mu.Lock()
	var stop []*Session
	for _, s := range m.sessions {
		if s.Owner == owner || theirs[s.CTID] {
			stop = append(stop, s)
		}
	}
	m.mu.Unlock()
	for _, s := range stop {
		s.Stop(EndClosed, "the account was disabled")
	}
}

// EndContainer ends every session on container ctid at once and spends
// its outstanding tickets (the container changed hands: nobody keeps a
// way in opened before); viewers are told reason.
func (m *Manager) EndContainer(ctid int, reason string) {
	m.tickets.SpendContainer(ctid)
	for _, s := range m.Sessions(ctid) {
		s.Stop(EndClosed, reason)
	}
}
