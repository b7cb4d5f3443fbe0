package api

import (
	"net/http"
	"strconv"

	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/domain/networks"
)

// poolRequest is an IP pool's JSON as POST and PATCH take it.
type poolRequest struct {
	Name        *string   `json:"name"`
	CIDR        *string   `json:"cidr"`
	Mode        *string   `json:"mode"`
	Bridge      *string   `json:"bridge"`
	Gateway     *string   `json:"gateway"`
	Nameservers *[]string `json:"nameservers"`
	SharePrefix *int      `json:"share_prefix"`
	Default     *bool     `json:"default"`
}

func (p poolRequest) input() networks.PoolInput {
	return networks.PoolInput{Name: p.Name, CIDR: p.CIDR, Mode: p.Mode, Bridge: p.Bridge, Gateway: p.Gateway,
		Nameservers: p.Nameservers, SharePrefix: p.SharePrefix, Default: p.Default}
}

// poolID is the {id} of a pool's path.
func poolID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(urlParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, domain.NotFound("no IP pool %q", urlParam(r, "id"))
	}
	return id, nil
}

// ListPools is GET /api/v1/ip-pools.
func (a *API) ListPools(w http.ResponseWriter, r *http.Request) {
	list, err := a.Networks.List(r.Context(), principal(r))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// GetPool is GET /api/v1/ip-pools/{id}.
func (a *API) GetPool(w http.ResponseWriter, r *http.Request) {
	id, err := poolID(r)
	if err == nil {
		var v networks.PoolView
		if v, err = a.Networks.Get(r.Context(), principal(r), id); err == nil {
			writeJSON(w, http.StatusOK, v)
			return
		}
	}
	a.smartError(w, r, err)
}

// CreatePool is POST /api/v1/ip-pools.
func (a *API) CreatePool(w http.ResponseWriter, r *http.Request) {
	var req poolRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	v, err := a.Networks.Create(r.Context(), principal(r), req.input())
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/ip-pools/"+strconv.FormatInt(v.ID, 10))
	writeJSON(w, http.StatusCreated, v)
}

// PatchPool is PATCH /api/v1/ip-pools/{id}.
func (a *API) PatchPool(w http.ResponseWriter, r *http.Request) {
	id, err := poolID(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	var req poolRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	v, err := a.Networks.Update(r.Context(), principal(r), id, req.input())
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// DeletePool is DELETE /api/v1/ip-pools/{id}.
func (a *API) DeletePool(w http.ResponseWriter, r *http.Request) {
	id, err := poolID(r)
	if err == nil {
		err = a.Networks.Delete(r.Context(), principal(r), id)
	}
	a.noContent(w, r, err)
}

// ContainerAddresses is GET /api/v1/containers/{ref}/ip-addresses.
func (a *API) ContainerAddresses(w http.ResponseWriter, r *http.Request) {
	list, err := a.Containers.Addresses(r.Context(), principal(r), ref(r))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// AddAddress is POST /api/v1/containers/{ref}/ip-addresses: 202 with the
// address given and the operation that puts it on the container.
func (a *API) AddAddress(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Address string `json:"address"`
		Pool    string `json:"pool"`
		Family  int    `json:"family"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	v, op, err := a.Containers.AddAddress(r.Context(), principal(r), ref(r),
		containers.AddressRequest{Address: req.Address, Pool: req.Pool, Family: req.Family})
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/operations/"+op.ID)
	writeJSON(w, http.StatusAccepted, map[string]any{"address": v, "operation": opView(op)})
}

// RemoveAddress is DELETE /api/v1/containers/{ref}/ip-addresses/{address}
// (a routed prefix as its first address, or with its length URL-escaped).
func (a *API) RemoveAddress(w http.ResponseWriter, r *http.Request) {
	op, err := a.Containers.RemoveAddress(r.Context(), principal(r), ref(r), urlParam(r, "address"))
	a.answerOp(w, r, op, err)
}

// ListHeldAddresses is GET /api/v1/ip-addresses: the addresses given and
// reserved (a customer's own only).
func (a *API) ListHeldAddresses(w http.ResponseWriter, r *http.Request) {
	list, err := a.Containers.HeldAddresses(r.Context(), principal(r))
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ip_addresses": list})
}

// ReserveAddress is POST /api/v1/ip-addresses {"address": "auto" |
// address, "pool": name, "customer": username} (staff): 201 with the
// reservation.
func (a *API) ReserveAddress(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Address  string `json:"address"`
		Pool     string `json:"pool"`
		Customer string `json:"customer"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	v, err := a.Containers.Reserve(r.Context(), principal(r), containers.ReserveInput{Address: req.Address, Pool: req.Pool, Customer: req.Customer})
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

// UnreserveAddress is DELETE /api/v1/ip-addresses/{address} (staff).
func (a *API) UnreserveAddress(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.Containers.Unreserve(r.Context(), principal(r), urlParam(r, "address")))
}

// ContainerTraffic is GET /api/v1/containers/{ref}/traffic?from=&to=
// (default the last month): bytes and packets in and out per hour.
func (a *API) ContainerTraffic(w http.ResponseWriter, r *http.Request) {
	from, to, err := usagePeriod(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	hours, err := a.Containers.Traffic(r.Context(), principal(r), ref(r), from, to)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": from, "to": to, "hours": hours})
}
