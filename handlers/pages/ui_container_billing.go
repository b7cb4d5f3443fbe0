package pages

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/ubc"
)

// ResetRootPassword is POST /containers/{ref}/root-password: the API's
// root password reset. Without a password one is made and shown once.
func (u *UI) ResetRootPassword(w http.ResponseWriter, r *http.Request) {
	var pw *string
	if v := r.PostFormValue("root_password"); v != "" {
		pw = &v
	}
	op, generated, err := u.Containers.ResetPassword(r.Context(), principal(r), ref(r), pw, nil)
	if err != nil {
		u.actionRefused(w, r, err)
		return
	}
	if generated != "" {
		// Shown in the page the answer is, never put in a URL.
		q := r.URL.Query()
		q.Set("op", op.ID)
		r.URL.RawQuery = q.Encode()
		u.showContainer(w, r, http.StatusOK, view{"GeneratedPassword": generated})
		return
	}
	containerOpRedirect(w, r, op, "")
}

// planChange is a row of the change-plan preview: a resource whose limit
// moves from the container's value to the plan's.
type planChange struct {
	Resource, From, To string
}

// ChangePlanPage is GET /containers/{ref}/change-plan?plan=NAME (staff):
// what the move would change, to confirm.
func (u *UI) ChangePlanPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principal(r)
	c, err := u.Containers.Get(ctx, p, ref(r))
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	name := strings.TrimSpace(r.URL.Query().Get("plan"))
	pv, err := u.Plans.Get(ctx, p, name)
	if err != nil {
		u.showContainer(w, r, http.StatusUnprocessableEntity, view{"Message": "Choose a plan to move to.",
			"Errors": FieldErrors{"plan": "no plan " + `"` + name + `"`}})
		return
	}
	cur, err := ubc.Decode(c.Limits)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	from, to := map[string]string{}, map[string]string{}
	for _, f := range specFields(cur) {
		from[f.Name] = f.Value
	}
	var changes []planChange
	var same []string
	for _, f := range specFields(pv.Limits) {
		to[f.Name] = f.Value
	}
	for _, f := range specFields(ubc.Spec{}) {
		a, b := from[f.Name], to[f.Name]
		if a == b {
			if a != "" {
				same = append(same, f.Name)
			}
			continue
		}
		if a == "" {
			a = "not set"
		}
		if b == "" {
			b = "not set"
		}
		changes = append(changes, planChange{Resource: f.Name, From: a, To: b})
	}
	if a, b := diskText(cur), diskText(pv.Limits); a != b {
		changes = append(changes, planChange{Resource: "diskspace", From: a, To: b})
	}
	u.render(w, r, http.StatusOK, "container_plan", view{"C": u.Containers.Describe(ctx, c), "Plan": pv.Name, "Changes": changes, "Same": same})
}

// ChangePlan is POST /containers/{ref}/change-plan (staff): the API's
// change of plan, its limits applied live.
func (u *UI) ChangePlan(w http.ResponseWriter, r *http.Request) {
	op, err := u.Containers.ChangePlan(r.Context(), principal(r), ref(r), strings.TrimSpace(r.PostFormValue("plan")))
	if err != nil {
		u.actionRefused(w, r, err)
		return
	}
	containerOpRedirect(w, r, op, "")
}

// diskText is a spec's disk size in words.
func diskText(s ubc.Spec) string {
	if b, ok := s.DiskBytes(); ok {
		return ubc.FormatBytes(b)
	}
	return "not set"
}

// ChangeOwner is POST /containers/{ref}/change-owner (staff): the
// container goes to another customer, as the API's change-owner.
func (u *UI) ChangeOwner(w http.ResponseWriter, r *http.Request) {
	ch, err := u.Containers.ChangeOwner(r.Context(), principal(r), ref(r), strings.TrimSpace(r.PostFormValue("owner")))
	if err != nil {
		u.actionRefused(w, r, err)
		return
	}
	http.Redirect(w, r, "/containers/"+strconv.Itoa(ch.Container.CTID)+"?done=owner", http.StatusSeeOther)
}
