package handlers

import (
	"net/http"

	"github.com/ctpanel/ctpanel/db"
)

// TemplatesPage is GET /templates (staff): the OS templates and how to
// add one.
func (u *UI) TemplatesPage(w http.ResponseWriter, r *http.Request) {
	list, err := u.api.Store.ListTemplates(r.Context())
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	if list == nil {
		list = []db.Template{}
	}
	u.render(w, r, http.StatusOK, "templates", view{"Templates": list})
}
