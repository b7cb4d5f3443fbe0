package server

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromiumPath finds Debian's chromium; a missing browser fails the test
// (scripts/install-deps.sh installs it), never skips it, but under -short.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("the browser test runs headless Chromium; skipped with -short")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: install Debian's chromium (make test does)")
	return ""
}

// headlessChromium starts a headless Chromium of its own (fresh profile, nothing
// talking to the network but the panel) and returns a tab's context.
func headlessChromium(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelTab() // closes the browser, and waits for it
		cancelAlloc()
	})
	// The first run starts the browser, which lives as long as ctx: no
	// timeout on this one; the steps get theirs from step.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// step runs browser steps with a timeout.
func step(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitPageJS polls a JavaScript expression in the page until it is true.
func waitPageJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 50*time.Second)
	defer cancel()
	if _, err := chromedp.Run(sctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(45*time.Second))); err != nil {
		state := eval[string](t, ctx, `window.ctpanelConsole ? window.ctpanelConsole.state : "no page"`)
		detail := eval[string](t, ctx, `(document.getElementById("detail") || {}).textContent || ""`)
		text := eval[string](t, ctx, `window.ctpanelConsole ? window.ctpanelConsole.text() : ""`)
		t.Fatalf("waiting for %s: %v; state %q, detail %q, screen:\n%s", what, err, state, detail, strings.TrimRight(text, "\n"))
	}
}

// termScreenHasLine is JavaScript true when a line of the terminal is exactly s.
func termScreenHasLine(s string) string {
	return `window.ctpanelConsole && window.ctpanelConsole.text().split("\n").some(l => l.trim() === "` + s + `")`
}

// typeInTerminal types keys into xterm.js as a keyboard does: for each
// key a keydown that carries its text, then a keyup. (chromedp.KeyEvent
// sends the text as a separate "char" event, which Chrome turns into a
// keypress even after xterm.js cancelled the keydown, so every character
// arrived twice.)
func typeInTerminal(t *testing.T, ctx context.Context, keys string) {
	t.Helper()
	step(t, ctx, chromedp.Focus(chromedp.CSS(".xterm-helper-textarea")),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			for _, r := range keys {
				var text string
				for _, k := range kb.Encode(r) {
					if k.Type == kb.KeyChar {
						text = k.Text
					}
				}
				for _, k := range kb.Encode(r) {
					switch k.Type {
					case kb.KeyChar:
						continue
					case kb.KeyDown:
						k.Text, k.UnmodifiedText = text, text
					}
					if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, *k); err != nil {
						return err
					}
				}
			}
			return nil
		}))
}

// TestBrowserConsole drives the console and shell pages in headless
// Chromium against a real busybox container: xterm.js from the embedded
// vendor files, the ticket, the websocket, typing and reading the screen,
// and a reload that reattaches to the same shell.
func TestBrowserConsole(t *testing.T) {
	ctx := headlessChromium(t)
	lxcpath := requireLXC(t)
	p := newTestPanel(t, nil, lxcpath)
	_, alice := p.customer("alice")
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "owner": "alice", "start": true})
	if _, err := os.Stat("../web/static/vendor/xterm/xterm.js"); err != nil {
		t.Fatal("web/static/vendor is missing: run scripts/build-web.sh (make test does)")
	}

	// The console: Enter starts busybox's console shell, then a command.
	step(t, ctx, chromedp.Navigate(p.srv.URL+"/containers/101/console#token="+alice))
	waitPageJS(t, ctx, "the console to attach", `window.ctpanelConsole && window.ctpanelConsole.state === "attached"`)
	badge := eval[string](t, ctx, `document.getElementById("state").textContent`)
	address := eval[string](t, ctx, `location.href`)
	if badge != "attached" || strings.Contains(address, "token") {
		t.Fatalf("badge %q, address %q: want attached, and the token out of the address", badge, address)
	}
	typeInTerminal(t, ctx, "\r")
	waitPageJS(t, ctx, "the console's prompt", `window.ctpanelConsole.text().includes("# ")`)
	typeInTerminal(t, ctx, "echo hello-from-chromedp\r")
	waitPageJS(t, ctx, "the echo on the console", termScreenHasLine("hello-from-chromedp"))

	// The shell, and a reload that comes back to the same session.
	step(t, ctx, chromedp.Navigate(p.srv.URL+"/containers/101/shell#token="+alice))
	waitPageJS(t, ctx, "the shell to attach", `window.ctpanelConsole && window.ctpanelConsole.state === "attached" && window.ctpanelConsole.text().includes("# ")`)
	typeInTerminal(t, ctx, "echo shell-$((20+22))\r")
	waitPageJS(t, ctx, "the shell's answer", termScreenHasLine("shell-42"))
	// The page fitted the terminal to the window and told the shell.
	cols := eval[int](t, ctx, `window.ctpanelConsole.term.cols`)
	rows := eval[int](t, ctx, `window.ctpanelConsole.term.rows`)
	typeInTerminal(t, ctx, "stty size\r")
	if cols <= 80 || rows <= 24 {
		t.Errorf("terminal is %dx%d in a 1200x800 window; it was not fitted", cols, rows)
	}
	waitPageJS(t, ctx, "stty size to match the page", termScreenHasLine(strconv.Itoa(rows)+" "+strconv.Itoa(cols)))
	session := eval[string](t, ctx, `window.ctpanelConsole.session`)
	if session == "" {
		t.Fatal("no shell session id on the page")
	}
	step(t, ctx, chromedp.Reload())
	waitPageJS(t, ctx, "the replay after a reload", `window.ctpanelConsole && window.ctpanelConsole.state === "attached" && `+termScreenHasLine("shell-42"))
	if again := eval[string](t, ctx, `window.ctpanelConsole.session`); again != session {
		t.Fatalf("after a reload the page is on session %q, want %q", again, session)
	}
}
