package pages

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// DestroyPage is GET /containers/{ref}/destroy (staff): what will be lost
// and a confirmation that needs the CTID typed in.
func (u *UI) DestroyPage(w http.ResponseWriter, r *http.Request) {
	u.destroyForm(w, r, http.StatusOK, nil, "")
}

func (u *UI) destroyForm(w http.ResponseWriter, r *http.Request, status int, errs FieldErrors, msg string) {
	c, err := u.Containers.Get(r.Context(), principal(r), ref(r))
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	u.render(w, r, status, "container_destroy", view{"C": u.Containers.Describe(r.Context(), c), "Errors": errs, "Message": msg,
		"Force": r.PostFormValue("force") != ""})
}

// Destroy is POST /containers/{ref}/destroy: the API's destroy once the
// CTID typed matches; a running container needs force ticked.
func (u *UI) Destroy(w http.ResponseWriter, r *http.Request) {
	c, err := u.Containers.Get(r.Context(), principal(r), ref(r))
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	force := r.PostFormValue("force") != ""
	if strings.TrimSpace(r.PostFormValue("confirm")) != strconv.Itoa(c.CTID) {
		errs := FieldErrors{"confirm": "type " + strconv.Itoa(c.CTID) + " to confirm"}
		// Said now too, not after the CTID is typed right.
		if st := u.Containers.Describe(r.Context(), c).Status; !force && (st == string(lxcdriver.StateRunning) || st == string(lxcdriver.StateFrozen)) {
			errs.Add("force", "the container is "+st+": tick this to stop and destroy it")
		}
		u.destroyForm(w, r, http.StatusUnprocessableEntity, errs, "Nothing was destroyed.")
		return
	}
	op, err := u.Containers.Destroy(r.Context(), principal(r), strconv.Itoa(c.CTID), force)
	if err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		if status == http.StatusConflict && strings.Contains(msg, "force") {
			fields = FieldErrors{"force": "the container is running: tick this to stop and destroy it"}
			msg = "Nothing was destroyed: the container is running."
		}
		u.destroyForm(w, r, status, fields, msg)
		return
	}
	opRedirect(w, r, "/?done=destroy", op)
}
