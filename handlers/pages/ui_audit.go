package pages

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/db"
)

// AuditPage is GET /audit?q=&ctid=&before= (staff): the audit log, newest
// first, 100 at a time.
func (u *UI) AuditPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := db.AuditFilter{Search: strings.TrimSpace(q.Get("q")), Limit: 100}
	errs := FieldErrors{}
	if s := strings.TrimSpace(q.Get("ctid")); s != "" {
		if id, err := strconv.Atoi(s); err == nil {
			f.CTID = &id
		} else {
			errs.Add("ctid", "must be a CTID such as 101")
		}
	}
	if s := q.Get("before"); s != "" {
		f.Before, _ = strconv.ParseInt(s, 10, 64)
	}
	var list []db.AuditRecord
	if len(errs) == 0 {
		var err error
		if list, err = u.Store.ListAudit(r.Context(), f); err != nil {
			u.serverError(w, r, err)
			return
		}
	}
	next := ""
	if len(list) == f.Limit {
		nq := r.URL.Query()
		nq.Set("before", strconv.FormatInt(list[len(list)-1].ID, 10))
		next = "/audit?" + nq.Encode()
	}
	u.render(w, r, http.StatusOK, "audit", view{"Entries": list, "Q": f.Search, "CTID": q.Get("ctid"), "Errors": errs, "Next": next})
}
