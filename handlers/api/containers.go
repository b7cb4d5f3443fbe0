package api

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/containers"
)

// ContainerView is a container as the API shows it.
type ContainerView = containers.View

// lookup resolves {ref}, a CTID or a name, to a container the caller may
// see (else a 404 that does not tell whether it exists).
func (a *API) lookup(r *http.Request) (db.Container, error) {
	return a.Containers.Get(r.Context(), principal(r), chi.URLParam(r, "ref"))
}

func ref(r *http.Request) string { return chi.URLParam(r, "ref") }

// ListContainers is vzlist: GET /api/v1/containers, one page of the
// containers the caller may see, searched, filtered and sorted in
// PostgreSQL (q, status, owner, plan, suspended, failing, sort, limit,
// offset), with each one's latest resource figures and the total.
func (a *API) ListContainers(w http.ResponseWriter, r *http.Request) {
	q, err := containers.ParseListQuery(r.URL.Query().Get, containers.APIDefaultLimit)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	page, err := a.Containers.Page(r.Context(), principal(r), q)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// BulkAction is POST /api/v1/containers/bulk: one action on many
// containers, each its own operation; 202 with what became of each.
func (a *API) BulkAction(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Action string `json:"action"`
		CTIDs  []int  `json:"ctids"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	refs := make([]string, len(req.CTIDs))
	for i, id := range req.CTIDs {
		refs[i] = strconv.Itoa(id)
	}
	res, err := a.Containers.Bulk(r.Context(), principal(r), req.Action, refs)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	type result struct {
		CTID      int           `json:"ctid"`
		Operation any           `json:"operation,omitempty"`
		Error     *domain.Error `json:"error,omitempty"`
	}
	out := make([]result, len(res))
	for i, x := range res {
		out[i] = result{CTID: x.CTID, Error: x.Error}
		if x.Operation != nil {
			out[i].Operation = opView(*x.Operation)
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"results": out})
}

// GetContainer is GET /api/v1/containers/{ref}.
func (a *API) GetContainer(w http.ResponseWriter, r *http.Request) {
	c, err := a.lookup(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.Containers.Describe(r.Context(), c))
}
