package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// Why a session ended.
const (
	EndExited   = "exited"   // the shell exited
	EndStopped  = "stopped"  // the container stopped (or its console went away)
	EndIdle     = "idle"     // nobody typed for IdleTimeout
	EndShutdown = "shutdown" // the panel is stopping
	EndClosed   = "closed"   // closed on purpose (Stop)
)

// End is how a session ended.
type End struct {
	Reason  string // one of the End* constants
	Message string // for people: "shell exited with status 3"
	// ExitCode is the shell's exit status when Reason is EndExited.
	ExitCode int
}

// States a session reports to its viewers.
const (
	StateRunning = "running"
	StateFrozen  = "frozen"
)

// Event is what a viewer receives: output, or a change of state.
type Event struct {
	Data  []byte // terminal output; shared, do not modify
	State string // StateRunning or StateFrozen when it changed
}

// Session is one terminal with its recent output and viewers.
type Session struct {
	ID    string
	Kind  Kind
	CTID  int
	Owner string
	// OwnerName is who opened it, for people to read.
	OwnerName string
	Started   time.Time

	m     *Manager
	term  lxcdriver.Terminal
	input chan []byte
	done  chan struct{}

	mu         sync.Mutex
	ring       *ring
	viewers    map[*Viewer]struct{}
	frozen     bool
	lastActive time.Time
	cols, rows int
	ended      bool
	stopping   *End // why Stop closed the terminal
	end        End
}

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Ended says whether the session has ended.
func (s *Session) Ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// End reports how the session ended; valid once Done is closed.
func (s *Session) End() End {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.end
}

// LastActive is when someone last typed into the session or attached to
// it (what the idle timeout counts from).
func (s *Session) LastActive() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastActive
}

// Viewers counts the viewers attached now.
func (s *Session) Viewers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.viewers)
}

// Stop ends the session: the terminal is closed (a shell hung up) and the
// viewers are told reason.
func (s *Session) Stop(reason, message string) {
	s.mu.Lock()
	if s.ended || s.stopping != nil {
		s.mu.Unlock()
		return
	}
	s.stopping = &End{Reason: reason, Message: message}
	s.mu.Unlock()
	_ = s.term.Close()
}

func (s *Session) touch() {
	s.mu.Lock()
	s.lastActive = time.Now()
	s.mu.Unlock()
}

// readLoop copies the terminal's output into the ring and to every
// viewer until the terminal ends, then ends the session.
func (s *Session) readLoop() {
	defer s.m.wg.Done()
	stall := time.NewTimer(time.Hour)
	stall.Stop()
	buf := make([]byte, readChunk)
	for {
		n, err := s.term.Read(buf)
		if n > 0 {
			// A copy of what came, not the whole buffer: viewers and the
			// ring hold on to it.
			s.broadcast(Event{Data: bytes.Clone(buf[:n])}, stall)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.m.log.Debug("console read", "session", s.ID, "err", err)
			}
			break
		}
	}
	s.finish()
}

// broadcast records output and hands ev to every viewer. A viewer whose
// queue is full holds the output back for up to ViewerStall (so one slow
// reader paces a flood instead of losing it), then is dropped.
func (s *Session) broadcast(ev Event, stall *time.Timer) {
	s.mu.Lock()
	if ev.Data != nil {
		s.ring.Write(ev.Data)
	}
	viewers := make([]*Viewer, 0, len(s.viewers))
	for v := range s.viewers {
		viewers = append(viewers, v)
	}
	s.mu.Unlock()
	for _, v := range viewers {
		select {
		case v.out <- ev:
			continue
		case <-v.gone:
			continue
		default:
		}
		stall.Reset(s.m.cfg.ViewerStall)
		select {
		case v.out <- ev:
		case <-v.gone:
		case <-stall.C:
			s.m.log.Info("console viewer too slow, dropped", "session", s.ID, "ctid", s.CTID)
			v.drop("you fell behind the output; attach again to catch up")
		}
		if !stall.Stop() {
			select {
			case <-stall.C:
			default:
			}
		}
	}
}

// finish ends the session once its terminal has ended.
func (s *Session) finish() {
	err := s.term.Wait()
	end := End{Reason: EndExited, Message: string(s.Kind) + " exited"}
	var ee *lxcdriver.ExitError
	switch {
	case errors.As(err, &ee):
		end.ExitCode = ee.Code
		end.Message = fmt.Sprintf("shell exited with status %d", ee.Code)
	case s.Kind == KindShell:
		end.Message = "shell exited with status 0"
	default:
		end = End{Reason: EndStopped, Message: fmt.Sprintf("the console of container %d went away: the container stopped or restarted", s.CTID)}
	}
	// A shell killed by a signal may have gone with its container, whose
	// state lags a moment behind: look for a while before calling it an
	// exit.
	s.mu.Lock()
	stopped := s.stopping != nil
	s.mu.Unlock()
	if s.Kind == KindShell && !stopped && (end.ExitCode >= 128 && s.containerGoneWithin(3*time.Second) || s.containerGoneWithin(0)) {
		end = End{Reason: EndStopped, ExitCode: end.ExitCode, Message: fmt.Sprintf("container %d stopped; the shell ended with it", s.CTID)}
	}
	s.mu.Lock()
	if s.stopping != nil {
		end = *s.stopping
	}
	s.ended, s.end = true, end
	viewers := s.viewers
	s.viewers = map[*Viewer]struct{}{}
	s.mu.Unlock()
	close(s.done)
	for v := range viewers {
		v.drop("")
	}
	_ = s.term.Close()
	s.m.forget(s)
	s.m.log.Info("console session ended", "session", s.ID, "kind", s.Kind, "ctid", s.CTID,
		"reason", end.Reason, "duration", time.Since(s.Started).Round(time.Millisecond))
}

// containerGoneWithin says whether the container is stopped (or on its
// way down, or gone), looking again until wait has passed.
func (s *Session) containerGoneWithin(wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := s.m.drv.State(ctx, strconv.Itoa(s.CTID))
		cancel()
		switch {
		case errors.Is(err, lxcdriver.ErrNotFound):
			return true
		case err == nil && (st == lxcdriver.StateStopped || st == lxcdriver.StateStopping || st == lxcdriver.StateAborting):
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inputLoop types what viewers send into the terminal, in order.
func (s *Session) inputLoop() {
	defer s.m.wg.Done()
	for {
		select {
		case p := <-s.input:
			if _, err := s.term.Write(p); err != nil {
				// The read side sees the end too and finishes.
				return
			}
		case <-s.done:
			return
		}
	}
}

// watchLoop follows the container's state (frozen, thawed, stopped) and
// ends the session after IdleTimeout without activity.
func (s *Session) watchLoop() {
	defer s.m.wg.Done()
	every := min(s.m.cfg.StateEvery, max(s.m.cfg.IdleTimeout/4, 10*time.Millisecond))
	tick := time.NewTicker(every)
	defer tick.Stop()
	lastState := time.Time{}
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
		}
		s.mu.Lock()
		idle := time.Since(s.lastActive)
		s.mu.Unlock()
		if idle >= s.m.cfg.IdleTimeout {
			s.Stop(EndIdle, fmt.Sprintf("the session ended after %s without input", s.m.cfg.IdleTimeout))
			continue
		}
		if time.Since(lastState) < s.m.cfg.StateEvery {
			continue
		}
		lastState = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := s.m.drv.State(ctx, strconv.Itoa(s.CTID))
		cancel()
		switch {
		case errors.Is(err, lxcdriver.ErrNotFound) || (err == nil && st == lxcdriver.StateStopped):
			s.Stop(EndStopped, fmt.Sprintf("container %d stopped", s.CTID))
		case err != nil:
		case st == lxcdriver.StateFrozen || st == lxcdriver.StateFreezing:
			s.setFrozen(true)
		default:
			s.setFrozen(false)
		}
	}
}

func (s *Session) setFrozen(frozen bool) {
	s.mu.Lock()
	changed := s.frozen != frozen
	s.frozen = frozen
	s.mu.Unlock()
	if !changed {
		return
	}
	state := StateRunning
	if frozen {
		state = StateFrozen
	}
	stall := time.NewTimer(time.Hour)
	stall.Stop()
	s.broadcast(Event{State: state}, stall)
}

// Attached is what a new viewer is told.
type Attached struct {
	// Replay is the recent output, to show before what comes live.
	Replay []byte
	// Frozen says the container is frozen now.
	Frozen bool
}

// Attach adds a viewer. The replay and the live output that follows it
// neither overlap nor leave a gap.
func (s *Session) Attach(readOnly bool) (*Viewer, Attached, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.stopping != nil {
		return nil, Attached{}, ErrEnded
	}
	if len(s.viewers) >= s.m.cfg.MaxViewers {
		return nil, Attached{}, fmt.Errorf("%w: session has %d viewers", ErrTooMany, len(s.viewers))
	}
	v := &Viewer{s: s, ReadOnly: readOnly, out: make(chan Event, viewerQueue), gone: make(chan struct{})}
	s.viewers[v] = struct{}{}
	s.lastActive = time.Now()
	return v, Attached{Replay: s.ring.Bytes(), Frozen: s.frozen}, nil
}

// Viewer is one attachment to a session, such as a browser tab.
type Viewer struct {
	s        *Session
	ReadOnly bool
	out      chan Event
	gone     chan struct{}

	once       sync.Once
	dropReason string
}

// Session is the session the viewer is attached to.
func (v *Viewer) Session() *Session { return v.s }

// Events delivers output and state changes.
func (v *Viewer) Events() <-chan Event { return v.out }

// Gone is closed when the viewer is detached: by Detach, because it fell
// behind (DropReason), or because the session ended (see Session.End).
// Events already queued may still be read.
func (v *Viewer) Gone() <-chan struct{} { return v.gone }

// DropReason says why the session let go of the viewer while it goes
// on; empty when it was detached or the session ended.
func (v *Viewer) DropReason() string {
	select {
	case <-v.gone:
		return v.dropReason
	default:
		return ""
	}
}

func (v *Viewer) drop(reason string) {
	v.once.Do(func() {
		v.dropReason = reason
		close(v.gone)
	})
	if reason != "" {
		v.s.mu.Lock()
		delete(v.s.viewers, v)
		v.s.mu.Unlock()
	}
}

// Detach lets go of the session, which goes on running.
func (v *Viewer) Detach() {
	v.s.mu.Lock()
	_, attached := v.s.viewers[v]
	delete(v.s.viewers, v)
	if attached {
		v.s.lastActive = time.Now()
	}
	v.s.mu.Unlock()
	v.once.Do(func() { close(v.gone) })
}

// Input types p into the terminal. It does not wait for the terminal:
// when the terminal has not taken the last inputQueue writes, p is
// dropped and ErrInputStalled returned.
func (v *Viewer) Input(p []byte) error {
	if v.ReadOnly {
		return ErrReadOnly
	}
	if v.s.Ended() {
		return ErrEnded
	}
	v.s.touch()
	select {
	case v.s.input <- bytes.Clone(p):
		return nil
	default:
		return ErrInputStalled
	}
}

// Resize sets the terminal's window size; the last writer's wins.
func (v *Viewer) Resize(cols, rows int) error {
	if v.ReadOnly {
		return ErrReadOnly
	}
	if !ValidSize(cols, rows) {
		return fmt.Errorf("console: window size %dx%d: want 1 to %d columns and 1 to %d rows", cols, rows, maxCols, maxRows)
	}
	v.s.mu.Lock()
	same := v.s.cols == cols && v.s.rows == rows
	v.s.cols, v.s.rows = cols, rows
	v.s.lastActive = time.Now()
	v.s.mu.Unlock()
	if same {
		return nil
	}
	return v.s.term.Resize(cols, rows)
}
