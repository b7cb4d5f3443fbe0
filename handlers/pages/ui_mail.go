package pages

import (
	"net/http"
	"net/url"
	"strings"
)

// MailPage is GET /mail (staff): whether mail is on and through which
// server, the latest messages of the outbox with their state, and a form
// that sends a test mail.
func (u *UI) MailPage(w http.ResponseWriter, r *http.Request) {
	u.mailPage(w, r, http.StatusOK, view{})
}

func (u *UI) mailPage(w http.ResponseWriter, r *http.Request, status int, v view) {
	list, err := u.Mailing.Recent(r.Context(), principal(r), 50)
	if err != nil {
		u.pageError(w, r, err)
		return
	}
	v["Mails"] = list
	v["Outbox"] = u.Mailing.Mail
	v["Done"] = r.URL.Query().Get("done")
	v["SentTo"] = r.URL.Query().Get("to")
	if _, ok := v["To"]; !ok {
		if id := principal(r).UserID; id != nil {
			if acc, err := u.Store.GetAccount(r.Context(), *id); err == nil {
				v["To"] = acc.Email
			}
		}
	}
	u.render(w, r, status, "mail", v)
}

// SendTestMail is POST /mail/test {to} (staff): a test mail queued.
func (u *UI) SendTestMail(w http.ResponseWriter, r *http.Request) {
	to := strings.TrimSpace(r.PostFormValue("to"))
	if err := u.Mailing.SendTest(r.Context(), principal(r), to); err != nil {
		fields, msg, status, ok := u.formRefusal(w, r, err)
		if !ok {
			return
		}
		u.mailPage(w, r, status, view{"To": to, "Errors": fields, "Message": msg})
		return
	}
	http.Redirect(w, r, "/mail?done=test&to="+url.QueryEscape(to), http.StatusSeeOther)
}
