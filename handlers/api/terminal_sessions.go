package api

import (
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/ctpanel/ctpanel/console"
	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain/policy"
)

// TerminalSessionView is a live console or shell session as the API lists
// it.
type TerminalSessionView struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"`
	Owner        string    `json:"owner"`
	Yours        bool      `json:"yours"`
	StartedAt    time.Time `json:"started_at"`
	LastActiveAt time.Time `json:"last_active_at"`
	Viewers      int       `json:"viewers"`
}

// mayManageSession: the console is the container's, so whoever sees the
// container sees it; a shell is its owner's, and staff see every one.
func mayManageSession(p db.Principal, s *console.Session) bool {
	return s.Kind == console.KindConsole || s.Owner == console.OwnerKey(p) || policy.RequireOperator(p) == nil
}

// ListTerminalSessions is GET /api/v1/containers/{ref}/sessions: the live
// console and shell sessions of the container (a customer's token: the
// console and their own shells), oldest first.
func (a *API) ListTerminalSessions(w http.ResponseWriter, r *http.Request) {
	c, err := a.lookup(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	p := principal(r)
	out := []TerminalSessionView{}
	for _, s := range a.Console.Sessions(c.CTID) {
		if !mayManageSession(p, s) {
			continue
		}
		v := TerminalSessionView{ID: s.ID, Kind: string(s.Kind), Owner: s.OwnerName,
			Yours: s.Owner == console.OwnerKey(p), StartedAt: s.Started.UTC(), LastActiveAt: s.LastActive().UTC(), Viewers: s.Viewers()}
		if !v.Yours && !p.IsStaff() {
			// A customer sees a console opened by someone else, which on
			// their own container is the hosting staff; names stay inside.
			v.Owner = "hosting staff"
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.Before(out[j].StartedAt) })
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

// EndTerminalSession is DELETE /api/v1/containers/{ref}/sessions/{id}: ends
// a session as if its idle timeout had struck (a shell is hung up, the
// console let go); its viewers are told who ended it.
func (a *API) EndTerminalSession(w http.ResponseWriter, r *http.Request) {
	c, err := a.lookup(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	p := principal(r)
	id := urlParam(r, "id")
	s, err := a.Console.Get(id)
	if err != nil || s.CTID != c.CTID || !mayManageSession(p, s) {
		a.smartError(w, r, notFound("terminal session %s does not exist or has ended", strconv.Quote(id)))
		return
	}
	s.Stop(console.EndClosed, "the session was ended by "+p.Actor())
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
	}
	w.WriteHeader(http.StatusNoContent)
}
