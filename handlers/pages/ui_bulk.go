package pages

import (
	"net/http"
	"strconv"
)

// Bulk is POST /containers/bulk: the list's bulk start, stop, restart or
// shutdown of the ticked containers. The first post asks once, naming
// every container (and the suspended ones a start passes over); the
// second, with confirm=yes, queues one operation per container and says
// what became of each.
func (u *UI) Bulk(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		u.renderError(w, r, http.StatusBadRequest, "Bad form", err.Error())
		return
	}
	action, refs := r.PostForm.Get("action"), r.PostForm["ctid"]
	p := principal(r)
	// A refusal (bad action, no or unknown containers) is shown in the
	// list it came from, every field at once.
	refused := func(err error) {
		if fields, msg, status, ok := u.formRefusal(w, r, err); ok {
			u.dashboard(w, r, status, view{"ListErrors": fields, "Message": msg})
		}
	}
	v := view{"Action": action, "Back": r.PostForm.Get("back")}
	if v["Back"] == "" || v["Back"].(string)[0] != '/' {
		v["Back"] = "/"
	}
	if r.PostForm.Get("confirm") != "yes" {
		list, err := u.Containers.CheckBulk(r.Context(), p, action, refs)
		if err != nil {
			refused(err)
			return
		}
		var skipped []int
		for _, c := range list {
			if c.SuspendedAt != nil && (action == "start" || action == "restart") {
				skipped = append(skipped, c.CTID)
			}
		}
		v["Containers"], v["Skipped"] = list, skipped
		u.render(w, r, http.StatusOK, "bulk", v)
		return
	}
	res, err := u.Containers.Bulk(r.Context(), p, action, refs)
	if err != nil {
		refused(err)
		return
	}
	queued := 0
	for _, x := range res {
		if x.Operation != nil {
			queued++
		}
	}
	v["Results"], v["Queued"], v["Refused"] = res, queued, len(res)-queued
	v["Count"] = strconv.Itoa(len(res))
	u.render(w, r, http.StatusOK, "bulk", v)
}
