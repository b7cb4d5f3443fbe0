package pages

import (
	"bytes"
	"html/template"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/console"
	"github.com/ctpanel/ctpanel/handlers/auth"
	"github.com/ctpanel/ctpanel/web"
)

var consolePage = sync.OnceValues(func() (*template.Template, error) {
	return template.ParseFS(web.FS, "templates/console.html")
})

// pageRef is what a {ref} of a page may look like: a CTID or a name. The
// page itself shows nothing of the container; the API decides the rest.
var pageRef = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// TerminalPage is GET /containers/{ref}/console and /containers/{ref}/shell:
// xterm.js on the terminal websocket. ?read_only=1 watches without typing,
// ?session= watches (or takes back) a given shell session.
func (u *UI) TerminalPage(kind console.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ref := chi.URLParam(r, "ref")
		if !pageRef.MatchString(ref) {
			u.NotFound(w, r)
			return
		}
		tpl, err := consolePage()
		if err != nil {
			u.serverError(w, r, err)
			return
		}
		title := "Console of " + ref
		if kind == console.KindShell {
			title = "Shell in " + ref
		}
		var buf bytes.Buffer
		if err := tpl.Execute(&buf, map[string]string{"Ref": ref, "Kind": string(kind), "Title": title}); err != nil {
			u.serverError(w, r, err)
			return
		}
		auth.SetPageHeaders(w.Header())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(buf.Bytes())
	}
}

// Static is GET /static/*: the pages' scripts, styles and vendored
// libraries, from the binary.
func (u *UI) Static() http.Handler {
	sub, err := fs.Sub(web.FS, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	files := http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			u.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// Embedded files have no dates; revalidating is cheap on loopback
		// and avoids old scripts after an upgrade.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
