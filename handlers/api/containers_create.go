package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain/containers"
)

// stringList accepts a JSON string or a list of strings, as vzctl takes one
// or several --nameserver.
type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		if one == "" {
			*s = []string{}
		} else {
			*s = []string{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return &json.UnmarshalTypeError{Value: "value", Type: reflect.TypeOf([]string(nil))}
	}
	*s = many
	return nil
}

// CreateContainer is POST /api/v1/containers (vzctl create).
func (a *API) CreateContainer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		CTID         *int       `json:"ctid"`
		Name         *string    `json:"name"`
		Hostname     string     `json:"hostname"`
		Template     string     `json:"template"`
		Start        bool       `json:"start"`
		Nameservers  stringList `json:"nameserver"`
		OnBoot       bool       `json:"onboot"`
		Description  string     `json:"description"`
		Owner        string     `json:"owner"`
		Plan         string     `json:"plan"`
		DiskSpace    *string    `json:"diskspace"`
		RootPassword *string    `json:"root_password"`
		SSHKeys      []string   `json:"ssh_keys"`
		IPAddresses  []string   `json:"ip_addresses"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	op, err := a.Containers.Create(r.Context(), principal(r), containers.CreateInput{
		CTID: req.CTID, Name: req.Name, Hostname: req.Hostname, Template: req.Template, Start: req.Start,
		Nameservers: req.Nameservers, OnBoot: req.OnBoot, Description: req.Description, Owner: req.Owner,
		Plan: req.Plan, DiskSpace: req.DiskSpace, RootPassword: req.RootPassword, SSHKeys: req.SSHKeys,
		IPAddresses: req.IPAddresses})
	a.acceptedNew(w, r, op, err)
}

// CloneContainer is POST /api/v1/containers/{ref}/clone (lxc-copy [-s]).
func (a *API) CloneContainer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		CTID     *int    `json:"ctid"`
		Name     *string `json:"name"`
		Hostname string  `json:"hostname"`
		Snapshot bool    `json:"snapshot"`
		Start    bool    `json:"start"`
	}
	if err := decodeJSON(w, r, &req, true); err != nil {
		a.smartError(w, r, err)
		return
	}
	op, err := a.Containers.Clone(r.Context(), principal(r), ref(r), containers.CloneInput{
		CTID: req.CTID, Name: req.Name, Hostname: req.Hostname, Snapshot: req.Snapshot, Start: req.Start})
	a.acceptedNew(w, r, op, err)
}

// acceptedNew answers a create or clone: 202 with the operation, and
// Content-Location naming the new container.
func (a *API) acceptedNew(w http.ResponseWriter, r *http.Request, op db.Operation, err error) {
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	w.Header().Set("Content-Location", "/api/v1/containers/"+strconv.Itoa(op.CTID))
	accepted(w, op)
}
