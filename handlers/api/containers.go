package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/db"
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

// ListContainers is vzlist: GET /api/v1/containers.
func (a *API) ListContainers(w http.ResponseWriter, r *http.Request) {
	rows, err := a.Containers.List(r.Context(), principal(r))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	out := make([]ContainerView, 0, len(rows))
	for _, c := range rows {
		out = append(out, a.Containers.Describe(r.Context(), c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"containers": out})
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
