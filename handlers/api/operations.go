package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/ops"
)

// OperationView is an operation as the API shows it.
type OperationView struct {
	ID     string `json:"id"`
	CTID   int    `json:"ctid"`
	Action string `json:"action"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Note is what the operation wants its reader to know besides its
	// outcome (an image of a distribution the panel cannot set up).
	Note        string     `json:"note,omitempty"`
	RequestedBy string     `json:"requested_by"`
	CreatedAt   time.Time  `json:"created_at"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
}

func opView(o db.Operation) OperationView {
	return OperationView{ID: o.ID, CTID: o.CTID, Action: o.Action, Status: o.Status, Error: o.Error,
		Note: o.Note, RequestedBy: o.RequestedBy, CreatedAt: o.CreatedAt, StartedAt: o.StartedAt, FinishedAt: o.FinishedAt}
}

// accepted answers 202 with the queued operation and where to follow it.
func accepted(w http.ResponseWriter, op db.Operation) {
	w.Header().Set("Location", "/api/v1/operations/"+op.ID)
	writeJSON(w, http.StatusAccepted, opView(op))
}

// GetOperation is GET /api/v1/operations/{id}.
func (a *API) GetOperation(w http.ResponseWriter, r *http.Request) {
	op, err := a.Containers.Operation(r.Context(), principal(r), chi.URLParam(r, "id"))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, opView(op))
}

// MaxWait bounds /wait's timeout.
const MaxWait = 300

// WaitOperation is GET /api/v1/operations/{id}/wait?timeout=30: it answers
// when the operation finishes or the timeout passes, whichever is first.
func (a *API) WaitOperation(w http.ResponseWriter, r *http.Request) {
	timeout := 30
	if s := r.URL.Query().Get("timeout"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > MaxWait {
			a.smartError(w, r, invalidParam("timeout", "must be a whole number of seconds from 0 to 300"))
			return
		}
		timeout = n
	}
	op, err := a.Containers.Operation(r.Context(), principal(r), chi.URLParam(r, "id"))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	op, err = ops.Wait(r.Context(), a.Store, a.Hub, op.ID, time.Duration(timeout)*time.Second)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	op.Error = policy.ErrorFor(principal(r), op.Error)
	writeJSON(w, http.StatusOK, opView(op))
}

// ListContainerOperations is GET /api/v1/containers/{ref}/operations.
func (a *API) ListContainerOperations(w http.ResponseWriter, r *http.Request) {
	list, err := a.Containers.Operations(r.Context(), principal(r), chi.URLParam(r, "ref"), 100)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	out := make([]OperationView, 0, len(list))
	for _, o := range list {
		out = append(out, opView(o))
	}
	writeJSON(w, http.StatusOK, map[string]any{"operations": out})
}
