package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// The web panel in a real browser: Debian's Chromium, headless, driven by
// chromedp, on a panel with real liblxc containers. Screenshots of the main
// pages at desktop and phone width go to test-artifacts/screenshots/.

// requireChromium fails (never skips, but under -short) without Chromium.
func requireChromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests are not run with -short")
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: install Debian's chromium (make test does)")
	return ""
}

// chrome is a headless Chromium tab for one test, with its own profile.
type chrome struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots *screenshots
}

func newChrome(t *testing.T, base string) *chrome {
	t.Helper()
	exe := requireChromium(t)
	profile := t.TempDir()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true), chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"), chromedp.Flag("no-proxy-server", true))
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(func(string, ...any) {}))
	// Closing the context ends the browser process chromedp started.
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser, which lives as long as the context
	// of that run: it gets no timeout, the later steps do.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	c := &chrome{t: t, ctx: ctx, base: base, shots: sharedScreenshots(t)}
	c.do(chromedp.EmulateViewport(1280, 800))
	return c
}

func (c *chrome) do(steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(c.ctx, 60*time.Second)
		err := chromedp.Do(ctx, steps...)
		cancel()
		if err == nil {
			return
		}
		// A node found by a query can be gone from the browser's DOM agent
		// before the action uses it (a page that was still settling after
		// its load event). The step then did nothing, as nothing was
		// clicked or typed into, so it is safe to run once more.
		if attempt < 3 && staleNode(err) {
			time.Sleep(250 * time.Millisecond)
			continue
		}
		c.t.Fatalf("browser: %v (at %s)", err, c.location())
	}
}

// staleNode reports the DevTools errors of a node id the DOM agent no
// longer knows.
func staleNode(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Could not find node with given id") ||
		strings.Contains(s, "No node with given id found") ||
		strings.Contains(s, "Node with given id does not belong to the document")
}

func (c *chrome) location() string {
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

func (c *chrome) open(path string) {
	c.t.Helper()
	c.do(chromedp.Navigate(c.base + path))
}

// eval runs JavaScript in the page (awaiting a promise) and decodes its
// value into T.
func jsEval[T any](c *chrome, js string) T {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		c.t.Fatalf("browser: evaluate %s: %v (at %s)", js, err, c.location())
	}
	return v
}

// waitFor polls a JavaScript condition until it is true, across page
// loads; what describes it in the failure.
func (c *chrome) waitFor(what, js string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+js+")", chromedp.EvalIgnoreExceptions))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(150 * time.Millisecond)
	}
	text := jsEval[string](c, `document.body ? document.body.innerText.slice(0, 2000) : ''`)
	c.t.Fatalf("browser: waited %s for %s (at %s, last error %v); the page says:\n%s", timeout, what, c.location(), last, text)
}

// text is the text of the first element matching a CSS selector, or "".
func (c *chrome) text(sel string) string {
	c.t.Helper()
	raw, _ := json.Marshal(sel)
	return jsEval[string](c, `(function(){const e=document.querySelector(`+string(raw)+`);return e?e.textContent.trim():''})()`)
}

// fill sets form fields by name within the form matching formSel.
func (c *chrome) fill(formSel string, fields map[string]string) {
	c.t.Helper()
	for name, v := range fields {
		c.do(chromedp.SetValue(chromedp.CSS(formSel+` [name="`+name+`"]`), v))
	}
}

// submit clicks a form's submit button and waits for the next page.
func (c *chrome) submit(buttonSel string) {
	c.t.Helper()
	before := jsEval[float64](c, `performance.timeOrigin`)
	c.do(chromedp.Click(chromedp.CSS(buttonSel)))
	c.waitFor("the page after "+buttonSel, fmt.Sprintf(`performance.timeOrigin !== %v && document.readyState === 'complete'`, before), 30*time.Second)
}

// fetchStatus is the HTTP status of a same-origin request made by the
// page (with its cookie).
func (c *chrome) fetchStatus(method, path, body string, headers map[string]string) int {
	c.t.Helper()
	if headers == nil {
		headers = map[string]string{}
	}
	h, _ := json.Marshal(headers)
	b, _ := json.Marshal(body)
	js := fmt.Sprintf(`fetch(%q, {method: %q, headers: %s, body: %s || undefined, redirect: 'manual', credentials: 'same-origin'}).then(r => r.status)`,
		path, method, h, b)
	return int(jsEval[float64](c, js))
}

// screenshots is the folder a test run writes its screenshots to: emptied
// once per test binary, so only this run's pictures are there.
type screenshots struct {
	dir string
}

var (
	shotsOnce sync.Once
	shotsDir  *screenshots
	shotsErr  error
)

func sharedScreenshots(t *testing.T) *screenshots {
	shotsOnce.Do(func() {
		dir, err := filepath.Abs(filepath.Join("..", "test-artifacts", "screenshots"))
		if err == nil {
			err = os.RemoveAll(dir)
		}
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		shotsDir, shotsErr = &screenshots{dir: dir}, err
	})
	if shotsErr != nil {
		t.Fatalf("screenshots folder: %v", shotsErr)
	}
	return shotsDir
}

// shot saves the page at desktop (1280x800) and phone (390x844) width.
func (c *chrome) shot(name string) {
	c.t.Helper()
	for _, v := range []struct {
		suffix string
		w, h   int64
		mobile bool
	}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}} {
		if v.mobile {
			c.do(chromedp.EmulateViewport(v.w, v.h, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
		} else {
			c.do(chromedp.EmulateViewport(v.w, v.h))
		}
		c.do(chromedp.Sleep(400 * time.Millisecond)) // layout, charts resizing
		wide := ""
		if v.mobile {
			wide = c.phoneOverflow()
		}
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			c.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(c.shots.dir, name+"-"+v.suffix+".png"), png, 0o644); err != nil {
			c.t.Fatal(err)
		}
		if v.mobile {
			// Looked at: nothing is cut off or needs sideways scrolling at
			// phone width (a wide table scrolls inside its own frame).
			if wide != "" {
				c.t.Errorf("screenshot %s at 390 px: %s", name, wide)
			}
		}
	}
	c.do(chromedp.EmulateViewport(1280, 800))
}

// phoneOverflow is phoneOverflowJS's answer once the page has settled at
// the width just set: charts redraw on the resize event, which a busy
// renderer may deliver late, so a page gets 5 s to fit.
func (c *chrome) phoneOverflow() string {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		wide := jsEval[string](c, phoneOverflowJS)
		if wide == "" || time.Now().After(deadline) {
			return wide
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// phoneOverflowJS answers "" when the page is no wider than the screen,
// else what sticks out.
const phoneOverflowJS = `(function(){
	const w = document.documentElement.clientWidth;
	if (document.documentElement.scrollWidth <= w + 1) return '';
	const out = [];
	for (const e of document.querySelectorAll('body *')) {
		const r = e.getBoundingClientRect();
		if (r.right > w + 1 && r.width > 0 && !e.closest('.table-wrap') && !e.closest('dialog')) out.push(e.tagName + (e.id ? '#' + e.id : '') + (typeof e.className === 'string' && e.className ? '.' + e.className : '') + ' ' + Math.round(r.right));
	}
	return 'page ' + document.documentElement.scrollWidth + ' px wide: ' + out.slice(0, 8).join(', ');
})()`

func (c *chrome) login(user, password string) {
	c.t.Helper()
	c.open("/login")
	// One step each, so that a step run again (see do) types nothing twice.
	c.do(chromedp.WaitVisible(chromedp.CSS("#username")))
	c.do(chromedp.SendKeys(chromedp.CSS("#username"), user))
	c.do(chromedp.SendKeys(chromedp.CSS("#password"), password))
	c.submit(`form[action="/login"] button[type=submit]`)
	c.waitFor("the home page", `location.pathname === '/' && document.querySelector('.who')`, 15*time.Second)
}

// waitStatus waits until the container page shows status.
func (c *chrome) waitStatus(status string, timeout time.Duration) {
	c.t.Helper()
	c.waitFor("status "+status, `document.querySelector('.state .status') && document.querySelector('.state .status').textContent === '`+status+`'`, timeout)
}

// typeLine types text and Enter into the terminal: the text as text input
// (xterm.js takes synthesized key-by-key events twice), Enter as a key.
func (c *chrome) typeLine(text string) {
	c.t.Helper()
	c.do(chromedp.Focus(chromedp.CSS(".xterm-helper-textarea"), chromedp.NodeReady))
	c.typeFocused(text)
}

// typeFocused types text and Enter into whatever has the keyboard focus,
// in whichever frame.
func (c *chrome) typeFocused(text string) {
	c.t.Helper()
	if text != "" {
		c.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
			return err
		}))
	}
	c.do(chromedp.KeyEvent("\r"))
}

// useConsole opens the container's console page, activates busybox's
// console shell and runs a command in it.
func (c *chrome) useConsole(ctid string) {
	c.t.Helper()
	c.open("/containers/" + ctid + "/console")
	c.waitFor("the console to attach", `window.ctpanelConsole && window.ctpanelConsole.state === 'attached'`, 30*time.Second)
	c.typeLine("")
	c.waitFor("the console's prompt", `window.ctpanelConsole.text().includes('# ')`, 20*time.Second)
	c.typeLine("echo ui-$((6*7))")
	c.waitFor("the shell's answer on the console", `window.ctpanelConsole.text().includes('ui-42')`, 20*time.Second)
}

// useEmbeddedTerminal connects the terminal on the container's page
// (button "console-connect" or "shell-connect") and runs a command in it.
func (c *chrome) useEmbeddedTerminal(ctid, button string) {
	c.t.Helper()
	const term = `document.getElementById('term-frame').contentWindow.ctpanelConsole`
	c.open("/containers/" + ctid + "#console")
	c.waitFor("the container page", `document.getElementById('`+button+`')`, 10*time.Second)
	want := jsEval[string](c, `document.getElementById('`+button+`').dataset.src`)
	c.do(chromedp.Click(chromedp.CSS("#" + button)))
	// The frame may still hold the terminal opened before: wait for the
	// one asked for.
	c.waitFor("the embedded terminal to attach", `document.getElementById('term-frame').contentWindow.location.pathname === '`+want+`' && `+
		term+` && `+term+`.state === 'attached'`, 30*time.Second)
	focus := func() { jsEval[bool](c, `(`+term+`.term.focus(), true)`) }
	focus()
	c.typeFocused("")
	c.waitFor("a prompt in the embedded terminal", term+`.text().includes('# ')`, 20*time.Second)
	focus()
	c.typeFocused("echo embedded-$((6*7))")
	c.waitFor("the answer in the embedded terminal", term+`.text().includes('embedded-42')`, 20*time.Second)
}

func TestBrowserStaffAndCustomer(t *testing.T) {
	requireChromium(t)
	lxcpath := requireLXC(t)
	p := newTestPanel(t, nil, lxcpath)
	p.account("ops", db.RoleStaff, "ops password")
	p.account("alice", db.RoleCustomer, "alice password")
	p.account("bob", db.RoleCustomer, "bob password")
	p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "small", "description": "starter VPS",
		"limits": map[string]any{"numproc": "200", "physpages": "256M", "cpuunits": 1000}}), 201)
	// The customers' containers exist already; staff makes its own below.
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 102, "name": "alice-web", "hostname": "web.alice.example",
		"template": "busybox", "owner": "alice", "plan": "small", "start": true})
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 103, "name": "bob-web", "template": "busybox", "owner": "bob", "start": true})

	c := newChrome(t, p.srv.URL)

	// Signed out, the panel sends you to the sign-in page.
	c.open("/")
	c.waitFor("the sign-in page", `location.pathname === '/login'`, 10*time.Second)
	c.shot("login")
	c.do(chromedp.SendKeys(chromedp.CSS("#username"), "ops"))
	c.do(chromedp.SendKeys(chromedp.CSS("#password"), "wrong"))
	c.submit(`form[action="/login"] button[type=submit]`)
	if got := c.text(".field-error"); got != "⚠ wrong username or password" && got != "wrong username or password" {
		t.Fatalf("wrong password shows %q", got)
	}

	// --- staff ---
	c.login("ops", "ops password")
	c.waitFor("the farm", `document.querySelector('#farm tr[data-ctid="102"]')`, 10*time.Second)
	c.waitFor("live updates", `document.getElementById('live-state').classList.contains('on')`, 10*time.Second)
	c.shot("farm")

	// Create: a mistake first, explained next to the field; nothing made.
	c.open("/containers/new")
	c.waitFor("the create form", `document.querySelector('#create-form [name=ctid]').value === '101'`, 10*time.Second)
	c.fill("#create-form", map[string]string{"name": "web1", "hostname": "-web1-.example.com"})
	c.submit("#create-form button[type=submit]")
	c.waitFor("the hostname error", `document.querySelector('.field-error') && document.querySelector('.field-error').textContent.includes('labels must not start')`, 5*time.Second)
	c.shot("create-errors")
	if n := p.containerCount(); n != 2 {
		t.Fatalf("a refused create made a container: %d", n)
	}
	c.fill("#create-form", map[string]string{"hostname": "web1.example.com"})
	c.do(chromedp.SetValue(chromedp.CSS(`#create-form [name=plan]`), "small"))
	c.submit("#create-form button[type=submit]")
	c.waitFor("the new container's page", `location.pathname === '/containers/101'`, 10*time.Second)
	c.waitFor("operation progress", `document.getElementById('op-progress')`, 5*time.Second)
	c.waitStatus("running", 90*time.Second)
	c.waitFor("the operation to be done", `document.querySelector('#op-progress.done')`, 30*time.Second)
	if got := lxcState(t, lxcpath, "101"); got != "running" {
		t.Fatalf("lxc-info says %s", got)
	}

	// The beancounter table updates live: every second, and with a
	// process more once one is started in the container.
	c.waitFor("the beancounter table", `document.querySelector('#bc-table tr[data-resource=numproc]')`, 20*time.Second)
	first := jsEval[string](c, `document.getElementById('bc-table').dataset.updated || ''`)
	c.waitFor("a live update", `(document.getElementById('bc-table').dataset.updated || '') !== '`+first+`'`, 10*time.Second)
	held := func() int {
		return int(jsEval[float64](c, `Number(document.querySelector('#bc-table tr[data-resource=numproc] td').firstChild.textContent)`))
	}
	before := held()
	p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/exec", map[string]any{"command": []string{"sh", "-c", "sleep 300 </dev/null >/dev/null 2>&1 &"}}), 200)
	c.waitFor("numproc to grow in the table", fmt.Sprintf(`Number(document.querySelector('#bc-table tr[data-resource=numproc] td').firstChild.textContent) > %d`, before), 15*time.Second)
	_ = held()
	c.do(chromedp.Sleep(1500 * time.Millisecond)) // a few live points on the charts
	// History and live points drawn in time order (an out-of-order point
	// drew a stray diagonal line).
	c.waitFor("points on the memory chart, in time order", `Number(document.getElementById('chart-mem').dataset.points) >= 2 &&
		document.getElementById('chart-mem').dataset.ordered === 'true' && document.getElementById('chart-cpu').dataset.ordered === 'true'`, 20*time.Second)
	c.shot("container")

	// Console: busybox's console shell answers, on its own page and in
	// the container page's console section; so does a root shell there.
	c.useConsole("101")
	c.shot("console")
	c.useEmbeddedTerminal("101", "console-connect")
	c.shot("container-console")
	c.useEmbeddedTerminal("101", "shell-connect")
	// Both sessions are listed under the terminal, the shell as ours.
	c.waitFor("the open sessions listed", `document.querySelectorAll('#sessions-table tbody tr').length === 2 &&
		[...document.querySelectorAll('#sessions-table tbody tr')].some(tr => tr.textContent.includes('root shell') && tr.textContent.includes('(you)'))`, 20*time.Second)

	// Freeze and unfreeze.
	c.open("/containers/101")
	c.waitStatus("running", 10*time.Second)
	c.submit(`form[action="/containers/101/freeze"] button`)
	c.waitStatus("frozen", 30*time.Second)
	if got := lxcState(t, lxcpath, "101"); got != "frozen" {
		t.Fatalf("after freeze lxc-info says %s", got)
	}
	c.shot("container-frozen")
	c.submit(`form[action="/containers/101/unfreeze"] button`)
	c.waitStatus("running", 30*time.Second)
	if got := lxcState(t, lxcpath, "101"); got != "running" {
		t.Fatalf("after unfreeze lxc-info says %s", got)
	}

	// Templates: an upload that is not a root file system is refused next
	// to the file field; a good one lands in the template cache and can
	// be disabled.
	dir := t.TempDir()
	bad, good := filepath.Join(dir, "notes.tar.gz"), filepath.Join(dir, "tiny.tar.gz")
	if err := os.WriteFile(bad, rootfsTarball(t, map[string]string{"etc/motd": "hello"}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, rootfsTarball(t, map[string]string{"bin/": "", "bin/sh": "#!"}), 0o644); err != nil {
		t.Fatal(err)
	}
	c.open("/templates")
	c.waitFor("the upload form", `document.querySelector('#template-upload')`, 10*time.Second)
	c.fill("#template-upload", map[string]string{"name": "tiny", "description": "a tiny test rootfs"})
	c.do(chromedp.SetUploadFiles(chromedp.CSS("#upload-file"), []string{bad}))
	c.do(chromedp.Click(chromedp.CSS("#upload-submit"))) // no page load: the error is shown in place
	c.waitFor("the upload's error next to the file", `(document.querySelector('.field-error[data-for=body]')||{}).textContent.includes('not a root file system')`, 30*time.Second)
	c.shot("templates-upload-error")
	c.do(chromedp.SetUploadFiles(chromedp.CSS("#upload-file"), []string{good}))
	c.submit("#upload-submit")
	c.waitFor("the uploaded template", `document.querySelector('#templates-table tr[data-template=tiny]')`, 30*time.Second)
	if _, err := os.Stat(filepath.Join(p.app.Cfg.TemplateCacheDir(), "tiny.tar.gz")); err != nil {
		t.Fatalf("the uploaded template is not in the cache: %v", err)
	}
	c.submit(`form[action="/templates/tiny/disable"] button`)
	c.waitFor("the template disabled", `(document.querySelector('#templates-table tr[data-template=tiny] .enabled')||{}).textContent === 'disabled'`, 10*time.Second)
	if tv := p.expect(p.do(p.admin, "GET", "/api/v1/templates/tiny", nil), 200).json(t); tv["enabled"] != false || tv["description"] != "a tiny test rootfs" {
		t.Fatalf("template after the browser disabled it: %v", tv)
	}

	// Images: an import from a folder that is no tree is refused next to
	// its field; one from a simplestreams tree runs as a task whose
	// progress the page follows, and its version is listed with its
	// sha256.
	tree := t.TempDir()
	simplestreamsTree(t, tree, debianFixture(t, "browser"))
	c.fill("#image-import", map[string]string{"source": "not/absolute", "product": "debian:bookworm:amd64:default"})
	c.submit(`#image-import button[type=submit]`)
	c.waitFor("the import's error next to the source", `(document.querySelector('#image-import .field-error')||{}).textContent.includes('absolute')`, 10*time.Second)
	c.fill("#image-import", map[string]string{"source": tree, "product": "debian:bookworm:amd64:default", "name": "deb-browser"})
	c.submit(`#image-import button[type=submit]`)
	c.waitFor("the import task done", `(document.querySelector('#image-tasks tr[data-status=succeeded] th')||{}).textContent.startsWith('deb-browser')`, 60*time.Second)
	c.waitFor("its version listed", `document.querySelector('#templates-table tr[data-template=deb-browser] li[data-version]')`, 10*time.Second)
	c.shot("templates-images")

	// The other staff pages, for the reviewer.
	for _, pg := range []struct{ path, name, ready string }{
		{"/containers/101/clone", "clone", "#clone-form"},
		{"/plans", "plans", "#plans-table"},
		{"/customers", "customers", "#customers-table"},
		{"/templates", "templates", "#templates-table"},
		{"/audit", "audit", "#audit-table"},
		{"/alerts", "alerts", "main h1"},
		{"/account", "account", "#password-form"},
	} {
		c.open(pg.path)
		c.waitFor(pg.name, `document.querySelector('`+pg.ready+`')`, 10*time.Second)
		c.shot(pg.name)
	}

	// Destroy, confirmed by typing the CTID.
	c.open("/containers/101")
	c.do(chromedp.Click(chromedp.CSS(`a[href="/containers/101/destroy"]`)))
	c.waitFor("the destroy page", `document.querySelector('#destroy-form')`, 10*time.Second)
	c.shot("destroy")
	c.fill("#destroy-form", map[string]string{"confirm": "101"})
	c.do(chromedp.Click(chromedp.CSS(`#destroy-form [name=force]`)))
	c.submit("#destroy-form button[type=submit]")
	c.waitFor("the farm after destroy", `location.pathname === '/'`, 10*time.Second)
	c.waitFor("the destroy to finish", `document.querySelector('#op-progress.done')`, 60*time.Second)
	c.waitFor("101 gone from the farm", `!document.querySelector('#farm tr[data-ctid="101"]')`, 10*time.Second)
	if got := lxcState(t, lxcpath, "101"); got != "absent" {
		t.Fatalf("after destroy lxc-info says %s", got)
	}

	c.submit(`form[action="/logout"] button`)
	c.waitFor("the sign-in page", `location.pathname === '/login'`, 10*time.Second)

	// --- customer ---
	c.login("alice", "alice password")
	c.waitFor("alice's container", `document.querySelector('#farm tr[data-ctid="102"]')`, 10*time.Second)
	if n := int(jsEval[float64](c, `document.querySelectorAll('#farm tbody tr').length`)); n != 1 {
		t.Fatalf("alice sees %d containers", n)
	}
	if strings.Contains(jsEval[string](c, `document.body.innerText`), "bob-web") {
		t.Fatal("alice sees bob's container")
	}
	c.shot("customer-home")

	// Bob's container by URL is a 404, by CTID and by name.
	for _, path := range []string{"/containers/103", "/containers/bob-web"} {
		if s := c.fetchStatus("GET", path, "", nil); s != 404 {
			t.Fatalf("alice GET %s: %d", path, s)
		}
	}
	c.open("/containers/103")
	c.waitFor("the not-found page", `document.querySelector('main h1') && document.querySelector('main h1').textContent === 'Not found'`, 10*time.Second)

	// Her own container: beancounters, read-only limits, no limits form.
	c.open("/containers/102")
	c.waitStatus("running", 10*time.Second)
	c.waitFor("her beancounter table", `document.querySelector('#bc-table tr[data-resource=numproc]')`, 20*time.Second)
	if jsEval[bool](c, `!!document.getElementById('limits-form')`) {
		t.Fatal("alice is offered the limits form")
	}
	csrf := jsEval[string](c, `document.querySelector('meta[name=csrf-token]').content`)
	if s := c.fetchStatus("POST", "/containers/102/limits", "csrf_token="+csrf+"&numproc=5000",
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); s != 403 {
		t.Fatalf("alice posting the limits form: %d", s)
	}
	if s := c.fetchStatus("PATCH", "/api/v1/containers/102/limits", `{"numproc":"5000"}`,
		map[string]string{"Content-Type": "application/json", "X-CSRF-Token": csrf}); s != 403 {
		t.Fatalf("alice patching limits over the API: %d", s)
	}
	var limits string
	if err := p.app.Pool.QueryRow(context.Background(), `SELECT limits->'numproc'->>'limit' FROM containers WHERE ct_id = 102`).Scan(&limits); err != nil || limits != "200" {
		t.Fatalf("alice's numproc limit is %q (%v), want 200", limits, err)
	}
	c.shot("customer-container")

	// And her console works.
	c.useConsole("102")
	c.shot("customer-console")

	for _, name := range []string{"login", "farm", "container", "console", "customer-home", "customer-container"} {
		for _, suffix := range []string{"desktop", "phone"} {
			if fi, err := os.Stat(filepath.Join(c.shots.dir, name+"-"+suffix+".png")); err != nil || fi.Size() < 1000 {
				t.Errorf("screenshot %s-%s: %v", name, suffix, errors.Join(err))
			}
		}
	}
}

// TestBrowserAlertsAcknowledgeSelected: on the alerts page staff check
// several rows and acknowledge them with one button; the select-all box
// checks the rest, and one more click closes them all.
func TestBrowserAlertsAcknowledgeSelected(t *testing.T) {
	requireChromium(t)
	p := uiFarm(t)
	for _, res := range []string{lxcdriver.ResNumProc, lxcdriver.ResCPU, lxcdriver.ResOOM} {
		failcnt(t, p, 101, res, 2)
		failcnt(t, p, 101, res, 4)
		failcnt(t, p, 102, res, 3)
	}
	ctx := context.Background()
	open, err := p.app.Store.ListAlerts(ctx, true, nil, 100)
	if err != nil || len(open) != 6 {
		t.Fatalf("open: %v %v", open, err)
	}
	c := newChrome(t, p.srv.URL)
	c.login("ops", "correct horse")
	c.open("/alerts")
	c.waitFor("the alerts table", `document.querySelectorAll('#alerts-table input.ack-pick').length === 6`, 10*time.Second)
	c.shot("alerts")
	// Three rows, of both containers, by hand.
	var picked []int64
	for _, a := range open {
		if a.Resource != lxcdriver.ResOOM && len(picked) < 3 {
			picked = append(picked, a.ID)
			c.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-alert="%d"] input.ack-pick`, a.ID))))
		}
	}
	if got := jsEval[float64](c, `document.querySelectorAll('#alerts-table input.ack-pick:checked').length`); got != 3 {
		t.Fatalf("%v boxes checked, want 3", got)
	}
	if !jsEval[bool](c, `document.getElementById('ack-pick-all').indeterminate`) {
		t.Error("the select-all box does not show a partial selection")
	}
	c.submit("#ack-selected")
	c.waitFor("the acknowledgement", `document.getElementById('ack-done') && document.getElementById('ack-done').textContent.includes('3 alert')`, 10*time.Second)
	left, _ := p.app.Store.ListAlerts(ctx, true, nil, 100)
	if len(left) != 3 {
		t.Fatalf("%d open after acknowledging 3 of 6", len(left))
	}
	for _, a := range left {
		for _, id := range picked {
			if a.ID == id {
				t.Fatalf("alert %d was picked and is still open", id)
			}
		}
	}
	if n := jsEval[float64](c, `document.querySelectorAll('#alerts-table input.ack-pick').length`); n != 3 {
		t.Fatalf("the page lists %v open alerts, want 3", n)
	}
	// Select all, then one click.
	c.do(chromedp.Click(chromedp.CSS("#ack-pick-all")))
	if got := jsEval[float64](c, `document.querySelectorAll('#alerts-table input.ack-pick:checked').length`); got != 3 {
		t.Fatalf("select all checked %v of 3", got)
	}
	c.submit("#ack-selected")
	c.waitFor("no open alerts", `document.body.innerText.includes('No open alerts')`, 10*time.Second)
	if left, _ := p.app.Store.ListAlerts(ctx, true, nil, 100); len(left) != 0 {
		t.Fatalf("%d open after acknowledging all selected", len(left))
	}
}
