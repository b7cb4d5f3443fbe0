package pages

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/domain/networks"
)

// NetworksPage is GET /networks (staff): the IP pools with their use, a
// form for a new pool, the addresses reserved for customers and a form
// to reserve one.
func (u *UI) NetworksPage(w http.ResponseWriter, r *http.Request) {
	u.networksPage(w, r, http.StatusOK, view{"PoolForm": map[string]string{"mode": "routed"}})
}

func (u *UI) networksPage(w http.ResponseWriter, r *http.Request, status int, v view) {
	ctx, p := r.Context(), principal(r)
	pools, err := u.Networks.List(ctx, p)
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	held, err := u.Containers.HeldAddresses(ctx, p)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	var reserved []containers.HeldAddress
	for _, h := range held {
		if h.Reserved {
			reserved = append(reserved, h)
		}
	}
	for _, k := range []string{"PoolErrors", "ResErrors"} {
		if _, ok := v[k]; !ok {
			v[k] = FieldErrors{}
		}
	}
	v["Pools"], v["Reserved"] = pools, reserved
	v["Done"], v["DoneName"] = r.URL.Query().Get("done"), r.URL.Query().Get("name")
	u.render(w, r, status, "networks", v)
}

// CreatePool is POST /networks/pools: the API's pool create. Blank
// fields take their defaults; every refused field is shown at once.
func (u *UI) CreatePool(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{}
	for _, k := range []string{"name", "cidr", "mode", "bridge", "gateway", "nameservers", "share_prefix"} {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	opt := func(k string) *string {
		if form[k] == "" {
			return nil
		}
		v := form[k]
		return &v
	}
	in := networks.PoolInput{Name: &[]string{form["name"]}[0], CIDR: &[]string{form["cidr"]}[0], Mode: opt("mode"),
		Bridge: opt("bridge"), Gateway: opt("gateway")}
	ns := splitNameservers(form["nameservers"])
	if len(ns) > 0 {
		in.Nameservers = &ns
	}
	if form["share_prefix"] != "" {
		n, err := strconv.Atoi(form["share_prefix"])
		if err != nil {
			n = -1 // refused by the domain, naming the field
		}
		in.SharePrefix = &n
	}
	def := r.PostFormValue("default") != ""
	in.Default = &def
	form["default"] = strconv.FormatBool(def)
	pv, err := u.Networks.Create(r.Context(), principal(r), in)
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.networksPage(w, r, status, view{"PoolForm": form, "PoolErrors": poolFields(fields, ns), "PoolError": msg})
		return
	}
	http.Redirect(w, r, "/networks?done=created&name="+url.QueryEscape(pv.Name), http.StatusSeeOther)
}

// PoolPage is GET /networks/pools/{id} (staff): edit a pool's name, mode,
// bridge, gateway, nameservers and default flag. Its range and share
// size are fixed (a new range is a new pool).
func (u *UI) PoolPage(w http.ResponseWriter, r *http.Request) {
	pv, ok := u.pool(w, r)
	if !ok {
		return
	}
	form := map[string]string{"name": pv.Name, "mode": pv.Mode, "bridge": pv.Bridge, "gateway": deref(pv.Gateway),
		"nameservers": strings.Join(pv.Nameservers, " "), "default": strconv.FormatBool(pv.Default)}
	u.render(w, r, http.StatusOK, "ip_pool", view{"P": pv, "Form": form})
}

// UpdatePool is POST /networks/pools/{id}: the API's pool PATCH with every
// editable field as the form has it (a blank gateway or nameservers
// clears them). Refused, the form comes back with each field's reason.
func (u *UI) UpdatePool(w http.ResponseWriter, r *http.Request) {
	pv, ok := u.pool(w, r)
	if !ok {
		return
	}
	form := map[string]string{}
	for _, k := range []string{"name", "mode", "bridge", "gateway", "nameservers"} {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	def := r.PostFormValue("default") != ""
	form["default"] = strconv.FormatBool(def)
	name, mode, bridge, gateway := form["name"], form["mode"], form["bridge"], form["gateway"]
	ns := splitNameservers(form["nameservers"])
	in := networks.PoolInput{Name: &name, Mode: &mode, Bridge: &bridge, Gateway: &gateway, Nameservers: &ns, Default: &def}
	updated, err := u.Networks.Update(r.Context(), principal(r), pv.ID, in)
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.render(w, r, status, "ip_pool", view{"P": pv, "Form": form, "Errors": poolFields(fields, ns), "Message": msg})
		return
	}
	http.Redirect(w, r, "/networks?done=updated&name="+url.QueryEscape(updated.Name), http.StatusSeeOther)
}

// pool is the pool of the route's {id}; a malformed or unknown id is the
// 404 page.
func (u *UI) pool(w http.ResponseWriter, r *http.Request) (networks.PoolView, bool) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		u.NotFound(w, r)
		return networks.PoolView{}, false
	}
	pv, err := u.Networks.Get(r.Context(), principal(r), id)
	if err != nil {
		u.pageError(w, r, err)
		return networks.PoolView{}, false
	}
	return pv, true
}

// splitNameservers reads the form's nameservers, separated by spaces or
// commas; never nil, so an empty field clears them on update.
func splitNameservers(s string) []string {
	return append([]string{}, strings.FieldsFunc(s, func(c rune) bool { return c == ',' || c == ' ' })...)
}

// poolFields puts the domain's "nameservers[i]" reasons on the form's
// one nameservers input, naming each value refused.
func poolFields(f FieldErrors, nameservers []string) FieldErrors {
	out := FieldErrors{}
	var bad []string
	for i, ns := range nameservers {
		key := fmt.Sprintf("nameservers[%d]", i)
		if reason, ok := f[key]; ok {
			bad = append(bad, fmt.Sprintf("%q %s", ns, reason))
		}
	}
	for k, v := range f {
		if !strings.HasPrefix(k, "nameservers[") {
			out[k] = v
		}
	}
	if len(bad) > 0 {
		if msg, ok := out["nameservers"]; ok {
			bad = append(bad, msg)
		}
		out["nameservers"] = strings.Join(bad, "; ")
	}
	return out
}

// DeletePool is POST /networks/pools/{id}/delete: refused while any of
// its addresses is in use.
func (u *UI) DeletePool(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		u.NotFound(w, r)
		return
	}
	if err := u.Networks.Delete(r.Context(), principal(r), id); err != nil {
		_, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.networksPage(w, r, status, view{"PoolForm": map[string]string{"mode": "routed"}, "Message": msg})
		return
	}
	http.Redirect(w, r, "/networks?done=deleted", http.StatusSeeOther)
}

// Reserve is POST /networks/reservations: an address set aside for a
// customer.
func (u *UI) Reserve(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{}
	for _, k := range []string{"customer", "address", "pool"} {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	h, err := u.Containers.Reserve(r.Context(), principal(r), containers.ReserveInput{Customer: form["customer"], Address: form["address"], Pool: form["pool"]})
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.networksPage(w, r, status, view{"PoolForm": map[string]string{"mode": "routed"}, "ResForm": form, "ResErrors": fields, "ResError": msg})
		return
	}
	http.Redirect(w, r, "/networks?done=reserved&name="+url.QueryEscape(h.Address), http.StatusSeeOther)
}

// Unreserve is POST /networks/reservations/remove (form field address).
func (u *UI) Unreserve(w http.ResponseWriter, r *http.Request) {
	if err := u.Containers.Unreserve(r.Context(), principal(r), r.PostFormValue("address")); err != nil {
		_, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.networksPage(w, r, status, view{"PoolForm": map[string]string{"mode": "routed"}, "Message": msg})
		return
	}
	http.Redirect(w, r, "/networks?done=unreserved", http.StatusSeeOther)
}
