package mail

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/ctpanel/ctpanel/db"
)

// Kinds of message, recorded with each in the outbox.
const (
	KindPasswordLink = "password_link"
	KindWelcome      = "welcome"
	KindAlert        = "alert"
	KindTest         = "test"
)

// htmlPage renders a message's HTML alternative: the paragraphs of its text,
// with the one link made clickable.
var htmlPage = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><body style="font-family: sans-serif">
{{range .Paras}}<p>{{.}}</p>
{{end}}{{if .Link}}<p><a href="{{.Link}}">{{.LinkText}}</a></p>
{{end}}{{range .After}}<p>{{.}}</p>
{{end}}</body></html>
`))

func compose(kind, to, subject string, before []string, link, linkText string, after []string) db.OutgoingMail {
	var text strings.Builder
	for _, p := range before {
		text.WriteString(p + "\n\n")
	}
	if link != "" {
		text.WriteString(link + "\n\n")
	}
	for _, p := range after {
		text.WriteString(p + "\n\n")
	}
	var h strings.Builder
	_ = htmlPage.Execute(&h, map[string]any{"Paras": before, "Link": link, "LinkText": linkText, "After": after})
	return db.OutgoingMail{Kind: kind, To: to, Subject: subject, Body: strings.TrimRight(text.String(), "\n") + "\n", HTML: h.String()}
}

func greeting(name, username string) string {
	if name != "" {
		return "Hello " + name + ","
	}
	return "Hello " + username + ","
}

// PasswordLinkMail tells a customer the one-time link that sets their
// panel password.
func PasswordLinkMail(c db.Customer, link string, expires time.Time) db.OutgoingMail {
	return compose(KindPasswordLink, c.Email, "Set your control panel password",
		[]string{greeting(c.Name, c.Username),
			fmt.Sprintf("a link to set the password of your control panel account %q was made for you. Open it to choose your password:", c.Username)},
		link, "Set your password",
		[]string{fmt.Sprintf("The link works once, until %s.", expires.UTC().Format("2006-01-02 15:04 MST")),
			"If you did not expect this mail, you can ignore it: your password stays as it is."})
}

// WelcomeMail greets a new customer with their sign-in name and the link
// that sets their password.
func WelcomeMail(c db.Customer, link string, expires time.Time, loginURL string) db.OutgoingMail {
	return compose(KindWelcome, c.Email, "Your control panel account",
		[]string{greeting(c.Name, c.Username),
			"welcome! An account on the control panel of your virtual servers has been made for you.",
			"Your sign-in name is: " + c.Username,
			"Choose your password with this link:"},
		link, "Choose your password",
		[]string{fmt.Sprintf("The link works once, until %s. Then sign in at %s", expires.UTC().Format("2006-01-02 15:04 MST"), loginURL)})
}

// AlertMail tells staff a container's failcnt grew: it hit a limit.
func AlertMail(to string, a db.Alert, container, link string) db.OutgoingMail {
	subject := fmt.Sprintf("Alert: %s hit its %s limit", container, a.Resource)
	paras := []string{
		fmt.Sprintf("The failcnt of %s on %s grew from %d to %d at %s: the container was refused %s it asked for.",
			a.Resource, container, a.Old, a.New, a.At.UTC().Format("2006-01-02 15:04:05 MST"), a.Resource),
		fmt.Sprintf("Container: %s\nResource: %s\nFailcnt: %d (was %d)", container, a.Resource, a.New, a.Old),
	}
	linkText := ""
	if link != "" {
		linkText = "Open the container"
	}
	return compose(KindAlert, to, subject, paras, link, linkText,
		[]string{"Further growth of this counter is not mailed again for an hour; the alerts page lists every one."})
}

// TestMail is what staff send to check the settings.
func TestMail(to, by string) db.OutgoingMail {
	return compose(KindTest, to, "Test mail from the control panel",
		[]string{"This is a test mail " + by + " sent from the control panel.", "If you read it, the panel's SMTP settings work."},
		"", "", nil)
}
