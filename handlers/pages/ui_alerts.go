package pages

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
)

// AlertsPage is GET /alerts[?all=1] (staff): one row per alert (a
// container's resource whose failcnt grew, with how often and when first
// and last), open ones first, to acknowledge one by one, by a selection,
// or all of a container's.
func (u *UI) AlertsPage(w http.ResponseWriter, r *http.Request) {
	u.alertsPage(w, r, http.StatusOK, view{"Done": r.URL.Query().Get("done"), "N": r.URL.Query().Get("n")})
}

func (u *UI) alertsPage(w http.ResponseWriter, r *http.Request, status int, v view) {
	all := r.URL.Query().Get("all") != "" || r.PostFormValue("all") != ""
	list, err := u.Alerts.List(r.Context(), principal(r), !all, 500)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	open := 0
	for _, a := range list {
		if a.AcknowledgedAt == nil {
			open++
		}
	}
	v["Alerts"], v["All"], v["Open"] = list, all, open
	u.render(w, r, status, "alerts", v)
}

// AckAlert is POST /alerts/{id}/ack: the API's acknowledge.
func (u *UI) AckAlert(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := u.Alerts.Ack(r.Context(), principal(r), id); err != nil {
		_, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.alertsPage(w, r, status, view{"Message": msg})
		return
	}
	back := "/alerts?done=ack"
	if r.PostFormValue("all") != "" {
		back += "&all=1"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// AckAlerts is POST /alerts/acknowledge: the API's bulk acknowledge, from
// the checked rows (id, repeated), one container's (ctid) or every open
// alert (every=1). A refusal (nothing checked) shows the page again with
// its message.
func (u *UI) AckAlerts(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		u.alertsPage(w, r, http.StatusBadRequest, view{"Message": "Nothing was acknowledged: the form could not be read. Reload the page and try again."})
		return
	}
	ids, err := u.Alerts.AckForm(r.Context(), principal(r), r.PostForm["id"], r.PostFormValue("ctid"), r.PostFormValue("every"))
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		if m, has := fields["ids"]; has && len(fields) == 1 {
			msg = "Nothing was acknowledged: " + m + "."
			if r.PostForm["id"] == nil && r.PostFormValue("ctid") == "" {
				msg = "Nothing was acknowledged: select at least one alert."
			}
		}
		u.alertsPage(w, r, status, view{"Errors": fields, "Message": msg})
		return
	}
	back := "/alerts?done=ack&n=" + strconv.Itoa(len(ids))
	if r.PostFormValue("all") != "" {
		back += "&all=1"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
