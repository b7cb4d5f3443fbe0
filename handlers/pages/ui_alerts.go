package pages

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// AlertsPage is GET /alerts[?all=1] (staff): failcnts that grew, open ones
// first to acknowledge.
func (u *UI) AlertsPage(w http.ResponseWriter, r *http.Request) {
	all := r.URL.Query().Get("all") != ""
	list, err := u.Store.ListAlerts(r.Context(), !all, nil, 500)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "alerts", view{"Alerts": list, "All": all, "Done": r.URL.Query().Get("done")})
}

// AckAlert is POST /alerts/{id}/ack: the API's acknowledge.
func (u *UI) AckAlert(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := u.Alerts.Ack(r.Context(), principal(r), id); err != nil {
		u.pageError(w, r, err)
		return
	}
	back := "/alerts?done=ack"
	if r.PostFormValue("all") != "" {
		back += "&all=1"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
