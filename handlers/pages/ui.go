package pages

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/services"
	"github.com/ctpanel/ctpanel/handlers/auth"
	"github.com/ctpanel/ctpanel/monitor"
)

// Package pages is the web panel: server-rendered pages (web/templates)
// and their assets (web/static), for staff and customers. A form is
// decoded here and handed to the domain layer (domain/...) as the
// signed-in user, so it validates, authorizes, audits and queues exactly
// as the REST API (handlers/api) does; the two front ends never call each
// other. One file per page or action.
//
// UI serves the pages.
type UI struct {
	*services.Set
	// Store is for what the pages only read (lists, history, audit).
	Store    *db.Store
	Mon      *monitor.Monitor
	Log      *slog.Logger
	Sessions *auth.Sessions
	// Origins builds links to the panel (password links).
	Origins *auth.Origins
	pages   map[string]*template.Template
	static  fs.FS
	// assets maps a static file to its content hash, for cache-busting
	// URLs (/static/app.js?v=...).
	assets map[string]string
	logins *loginLimiter
	cop    *http.CrossOriginProtection
}

// uiPages are the templates under web/templates/ each page is rendered
// from, with layout.html and partials.html.
var uiPages = []string{"login", "login_code", "set_password", "error", "dashboard", "container", "container_new", "container_clone",
	"container_destroy", "container_reinstall", "plans", "plan", "templates", "customers", "users",
	"tokens", "token_created", "password_link", "audit", "alerts", "account", "networks", "ip_pool", "backups", "container_plan", "bulk", "mail"}

// navOf is the menu entry each page belongs to.
var navOf = map[string]string{"dashboard": "farm", "bulk": "farm", "container": "farm", "container_plan": "farm", "container_clone": "farm", "container_destroy": "farm",
	"container_reinstall": "farm", "container_new": "new", "plans": "plans", "plan": "plans", "templates": "templates",
	"networks": "networks", "ip_pool": "networks", "backups": "backups", "customers": "customers", "users": "users", "tokens": "tokens", "token_created": "tokens", "password_link": "customers", "audit": "audit",
	"alerts": "alerts", "mail": "mail"}

// NewUI parses the templates in files (web.FS: templates/ and static/;
// the router serves static/ itself under /static/).
func NewUI(base UI, files fs.FS) (*UI, error) {
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, fmt.Errorf("ui: static: %w", err)
	}
	u := &base
	u.pages, u.static, u.assets = map[string]*template.Template{}, static, map[string]string{}
	u.logins, u.cop = newLoginLimiter(), http.NewCrossOriginProtection()
	u.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.renderError(w, r, http.StatusForbidden, "Cross-site request refused",
			"This form was sent from another site, so it was not carried out. Open the panel yourself and try again.")
	}))
	_ = fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := fs.ReadFile(static, p)
		if err == nil {
			sum := sha256.Sum256(b)
			u.assets[p] = hex.EncodeToString(sum[:6])
		}
		return nil
	})
	for _, name := range uiPages {
		t, err := template.New(name).Option("missingkey=zero").Funcs(u.funcs()).ParseFS(files,
			"templates/layout.html", "templates/partials.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: template %s: %w", name, err)
		}
		u.pages[name] = t
	}
	return u, nil
}

// MustNewUI is NewUI for the router: the templates are embedded, so a
// parse error is a build mistake the tests catch.
func MustNewUI(base UI, files fs.FS) *UI {
	u, err := NewUI(base, files)
	if err != nil {
		panic(err)
	}
	return u
}

// Secure sets the headers every page gets and refuses cross-origin
// form posts (Go's http.CrossOriginProtection: Sec-Fetch-Site, or Origin
// against Host).
func (u *UI) Secure(next http.Handler) http.Handler {
	protected := u.cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.SetPageHeaders(w.Header())
		if field := auth.ControlCharIn(r); field != "" {
			u.renderError(w, r, http.StatusBadRequest, "Bad address",
				"The address has a control character in its "+field+". Follow a link of the panel's instead.")
			return
		}
		protected.ServeHTTP(w, r)
	})
}

// LoadSession signs the request in when its cookie names a live session.
func (u *UI) LoadSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := u.Sessions.Load(r)
		if err != nil {
			u.serverError(w, r, err)
			return
		}
		if s == nil {
			if auth.HasSessionCookie(r) { // ended or unknown: forget it
				u.Sessions.SetCookie(w, r, "", -1)
			}
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, auth.WithSession(r, s))
	})
}

// RequireLogin sends whoever is not signed in to the sign-in page, and
// refuses a form post without the session's CSRF token.
func (u *UI) RequireLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := auth.SessionOf(r)
		if s == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			u.renderError(w, r, http.StatusUnauthorized, "Signed out", "Your session has ended. Sign in again and repeat what you were doing.")
			return
		}
		if !auth.SafeMethod(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if !auth.ValidCSRF(s, r.PostFormValue(auth.CSRFField)) {
				u.renderError(w, r, http.StatusForbidden, "Form expired",
					"This form did not carry a valid security token, so nothing was changed. Reload the page and try again.")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// RequireStaff limits a page to staff (admin, staff).
func (u *UI) RequireStaff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !principal(r).IsStaff() {
			u.renderError(w, r, http.StatusForbidden, "Staff only", "This page is for the hosting staff. Your containers are on the home page.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RequireAdmin limits a page to admins.
func (u *UI) RequireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if principal(r).Role != db.RoleAdmin {
			u.renderError(w, r, http.StatusForbidden, "Admins only", "Only an admin can manage staff users and API tokens.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// NotFound is the 404 page for paths outside the API.
func (u *UI) NotFound(w http.ResponseWriter, r *http.Request) {
	u.renderError(w, r, http.StatusNotFound, "Not found", "There is nothing here. It may have been removed, or it is not yours.")
}

// maxForm bounds a form post.
const maxForm = 1 << 20

// view is what every page template gets: .Me, .CSRF, .Nav and the page's
// own keys.
type view map[string]any

// me is the signed-in user as the layout shows them.
type me struct {
	ID       int64
	Username string
	Role     string
	Staff    bool
	Admin    bool
}

func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	t, ok := u.pages[name]
	if !ok {
		u.serverError(w, r, fmt.Errorf("ui: no page %q", name))
		return
	}
	if v == nil {
		v = view{}
	}
	if s := auth.SessionOf(r); s != nil {
		v["Me"] = me{ID: s.UserID, Username: s.Username, Role: s.Role,
			Staff: principal(r).IsStaff(), Admin: s.Role == db.RoleAdmin}
		v["CSRF"] = s.CSRFToken
		if principal(r).IsStaff() {
			if n, err := u.openAlerts(r); err == nil {
				v["OpenAlerts"] = n
			}
			// The task log at the foot of every staff page but the
			// dashboard, which shows a longer one.
			if name != "dashboard" {
				if tasks, err := u.recentTasks(r.Context(), 5); err == nil {
					v["TaskLog"] = tasks
				}
			}
		}
	}
	if _, ok := v["Errors"]; !ok || v["Errors"] == nil {
		v["Errors"] = FieldErrors{}
	}
	if _, ok := v["Nav"]; !ok {
		v["Nav"] = navOf[name]
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		u.serverError(w, r, fmt.Errorf("ui: render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func (u *UI) openAlerts(r *http.Request) (int, error) { return u.Alerts.OpenCount(r.Context()) }

func (u *UI) renderError(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	u.render(w, r, status, "error", view{"Title": title, "Message": message, "Status": status})
}

func (u *UI) serverError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		return
	}
	if db.IsUnavailable(err) {
		u.Log.Warn("page: database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `<!doctype html><title>Unavailable</title><h1>The panel cannot reach its database</h1><p>Try again in a few seconds. <a href="/">Back to the panel</a></p>`)
		return
	}
	u.Log.Error("page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, `<!doctype html><title>Error</title><h1>Something went wrong</h1><p>The server log has the details. <a href="/">Back to the panel</a></p>`)
}

// pageError shows an error from the store or an API call as a page:
// a 404 for what does not exist (or is not the caller's), the API's own
// message for other 4xx, a logged 500 otherwise.
func (u *UI) pageError(w http.ResponseWriter, r *http.Request, err error) {
	ae := domain.AsError(err)
	switch {
	case ae != nil && ae.Status == http.StatusNotFound:
		u.NotFound(w, r)
	case ae != nil && ae.Status < 500:
		u.renderError(w, r, ae.Status, http.StatusText(ae.Status), ae.Message)
	default:
		u.serverError(w, r, err)
	}
}

// formError splits a domain refusal for a form: field messages to show
// next to their fields, and the message for the top of the form. Anything
// that is not a 4xx is returned as other, for a 500.
func formError(err error) (fields FieldErrors, message string, status int, other error) {
	ae := domain.AsError(err)
	if ae == nil || ae.Status >= 500 {
		return nil, "", 0, err
	}
	fields = FieldErrors{}
	for k, v := range ae.Fields {
		fields[k] = v
	}
	message = ae.Message
	if len(fields) > 0 {
		message = "Nothing was changed: correct the fields marked below."
	}
	return fields, message, ae.Status, nil
}

// withFormErrors adds what the page itself found wrong in a form (text
// where a number goes) to the domain's refusal err of the rest, so that
// both are shown at once; the page's reason wins for a field both name.
// A refusal that names no field (a conflict of state) is kept as it is
// when the page found nothing.
func withFormErrors(err error, page FieldErrors) error {
	if len(page) == 0 {
		return err
	}
	all := FieldErrors{}
	for k, v := range page {
		all[k] = v
	}
	if ae := domain.AsError(err); ae != nil && ae.Status < 500 {
		for k, v := range ae.Fields {
			all.Add(k, v)
		}
	} else if err != nil {
		return err
	}
	return all.Err()
}

// formRefusal is formError for a form to show again: it answers itself a
// fault (500) and what does not exist or is not the caller's (404), and
// then says !ok.
func (u *UI) formRefusal(w http.ResponseWriter, r *http.Request, err error) (fields FieldErrors, message string, status int, ok bool) {
	fields, message, status, other := formError(err)
	switch {
	case other != nil:
		u.serverError(w, r, other)
		return nil, "", 0, false
	case status == http.StatusNotFound:
		u.NotFound(w, r)
		return nil, "", 0, false
	}
	return fields, message, status, true
}

// opRedirect sends the browser to page with the operation to follow.
func opRedirect(w http.ResponseWriter, r *http.Request, page string, op db.Operation) {
	redirectWithOp(w, r, page, op.ID)
}

// containerOpRedirect sends the browser to the page of the operation's
// container, plus suffix ("?done=...#section"), to follow the operation.
func containerOpRedirect(w http.ResponseWriter, r *http.Request, op db.Operation, suffix string) {
	redirectWithOp(w, r, "/containers/"+strconv.Itoa(op.CTID)+suffix, op.ID)
}

// redirectWithOp is a 303 to page with ?op=id (before any #fragment).
func redirectWithOp(w http.ResponseWriter, r *http.Request, page, id string) {
	if id != "" {
		path, frag, _ := strings.Cut(page, "#")
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		page = path + sep + "op=" + url.QueryEscape(id)
		if frag != "" {
			page += "#" + frag
		}
	}
	http.Redirect(w, r, page, http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	// Browsers drop tabs and newlines from URLs ("/\t/evil" is "//evil")
	// and read a backslash as a slash: no control character, and no second
	// slash or backslash at the start.
	if next == "" || !strings.HasPrefix(next, "/") || strings.IndexFunc(next, unicode.IsControl) >= 0 ||
		strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (u *UI) assetURL(name string) string {
	name = path.Clean(strings.TrimPrefix(name, "/"))
	if v, ok := u.assets[name]; ok {
		return "/static/" + name + "?v=" + v
	}
	return "/static/" + name
}

// hasAsset tells a page whether an optional asset (the npm vendor files)
// was built in.
func (u *UI) hasAsset(name string) bool {
	_, ok := u.assets[path.Clean(name)]
	return ok
}

// ref is the {ref} of a page's route: a CTID or a name.
func ref(r *http.Request) string { return chi.URLParam(r, "ref") }

// principal is who the signed-in request is from.
func principal(r *http.Request) db.Principal { return auth.Principal(r) }

// FieldErrors are a form's messages by field.
type FieldErrors = domain.FieldErrors
