package pages

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/db"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/domain/plans"
)

// planRow is a plan as the plans page lists it.
type planRow struct {
	plans.View
	Fields []limitField
}

// PlansPage is GET /plans (staff): every plan with its limits, and a form
// for a new one.
func (u *UI) PlansPage(w http.ResponseWriter, r *http.Request) {
	u.plansPage(w, r, http.StatusOK, view{"New": planFormFields(func(string) string { return "" })})
}

func (u *UI) plansPage(w http.ResponseWriter, r *http.Request, status int, v view) {
	list, err := u.Plans.List(r.Context(), principal(r))
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	rows := make([]planRow, 0, len(list))
	for _, pv := range list {
		rows = append(rows, planRow{View: pv, Fields: append(specFields(pv.Limits), netFields(pv.Network)...)})
	}
	v["Plans"] = rows
	v["Done"] = r.URL.Query().Get("done")
	v["Changed"] = r.URL.Query().Get("changed")
	v["Kept"] = r.URL.Query().Get("kept")
	u.render(w, r, status, "plans", v)
}

// prefixed moves "limits.numproc" field errors onto the form's "numproc".
func prefixed(f FieldErrors) FieldErrors {
	out := FieldErrors{}
	for k, v := range f {
		out[strings.TrimPrefix(k, "limits.")] = v
	}
	return out
}

// CreatePlan is POST /plans: the API's plan create.
func (u *UI) CreatePlan(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	desc := r.PostFormValue("description")
	_, err := u.Plans.Create(r.Context(), principal(r), name, &desc, limitsJSON(r.PostFormValue), planNetworkForm(r.PostFormValue), nil)
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.plansPage(w, r, status, view{"New": planFormFields(r.PostFormValue), "NewName": name, "NewDescription": desc,
			"Errors": prefixed(fields), "Message": msg})
		return
	}
	http.Redirect(w, r, "/plans?done=created", http.StatusSeeOther)
}

// PlanPage is GET /plans/{name} (staff): edit a plan's description and
// limits; changed limits are applied to every container on it.
func (u *UI) PlanPage(w http.ResponseWriter, r *http.Request) {
	pv, err := u.Plans.Get(r.Context(), principal(r), chi.URLParam(r, "name"))
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	overrides, err := u.Plans.Overrides(r.Context(), principal(r), pv.Name)
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "plan", view{"P": pv, "Fields": append(specFields(pv.Limits), netFields(pv.Network)...), "Description": pv.Description,
		"Overrides": overrides, "AlertFields": alertFields(pv.Alerts.Thresholds)})
}

// UpdatePlan is POST /plans/{name}: the API's plan PATCH.
func (u *UI) UpdatePlan(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	pv, err := u.Plans.Get(r.Context(), principal(r), name)
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	desc := r.PostFormValue("description")
	reset := r.PostFormValue("reset_overrides") != ""
	_, ch, err := u.Plans.UpdateWithAlerts(r.Context(), principal(r), name, &desc, limitsJSON(r.PostFormValue), planNetworkForm(r.PostFormValue), nil,
		alertsJSON(r.PostFormValue), reset)
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		overrides, _ := u.Plans.Overrides(r.Context(), principal(r), name)
		u.render(w, r, status, "plan", view{"P": pv, "Fields": planFormFields(r.PostFormValue), "Description": desc,
			"Errors": prefixed(fields), "Message": msg, "Overrides": overrides, "Reset": reset, "AlertFields": alertFormFields(r.PostFormValue)})
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/plans?done=updated&changed=%d&kept=%d", ch.Changed, ch.KeptOverrides), http.StatusSeeOther)
}

// DeletePlan is POST /plans/{name}/delete: refused while containers use it.
func (u *UI) DeletePlan(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	if err := u.Plans.Delete(r.Context(), principal(r), name); err != nil {
		_, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.plansPage(w, r, status, view{"New": planFormFields(func(string) string { return "" }), "Message": msg})
		return
	}
	http.Redirect(w, r, "/plans?done=deleted", http.StatusSeeOther)
}

// planNetworkForm reads a plan form's network fields (empty: no limit);
// nil when the form has none of them. A value that is not a number is
// passed on as -1, which the domain refuses naming the field.
func planNetworkForm(get func(string) string) *db.PlanNetwork {
	var n db.PlanNetwork
	any := false
	for key, dst := range map[string]**int{"network.ip_addresses": &n.IPAddresses,
		"network.rate_in_mbit": &n.RateInMbit, "network.rate_out_mbit": &n.RateOutMbit} {
		v := strings.TrimSpace(get(key))
		if v == "" {
			continue
		}
		any = true
		i, err := strconv.Atoi(v)
		if err != nil {
			i = -1
		}
		*dst = &i
	}
	if !any && get("network.present") == "" {
		return nil
	}
	return &n
}

// planNetFields are a plan's network inputs, after its limits.
var planNetFields = []limitField{
	{Name: "network.ip_addresses", Label: "addresses per container", Hint: "2 (empty: no limit)"},
	{Name: "network.rate_in_mbit", Label: "rate in, Mbit/s", Hint: "100 (empty: unlimited)"},
	{Name: "network.rate_out_mbit", Label: "rate out, Mbit/s", Hint: "100 (empty: unlimited)"},
}

// netFields lays a plan's network out as inputs.
func netFields(n db.PlanNetwork) []limitField {
	out := append([]limitField(nil), planNetFields...)
	for i, v := range []*int{n.IPAddresses, n.RateInMbit, n.RateOutMbit} {
		if v != nil {
			out[i].Value = strconv.Itoa(*v)
		}
	}
	return out
}

// planFormFields are a plan form's limit and network inputs as posted.
func planFormFields(get func(string) string) []limitField {
	out := formFields(get)
	for _, f := range planNetFields {
		f.Value = strings.TrimSpace(get(f.Name))
		out = append(out, f)
	}
	return out
}
