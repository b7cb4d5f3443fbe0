package pages

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/db/dbtest"
	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/domain/domaintest"
	"github.com/ctpanel/ctpanel/handlers/auth"
	"github.com/ctpanel/ctpanel/monitor"
	"github.com/ctpanel/ctpanel/web"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// netPanel is the pages over a test domain (real PostgreSQL, fake
// driver), routed as server/router.go routes the pages these tests use:
// staff "ops", customer alice and her container 101 on plan "small".
type netPanel struct {
	t   *testing.T
	e   *domaintest.Env
	srv *httptest.Server
}

func newNetPanel(t *testing.T) *netPanel {
	t.Helper()
	e := domaintest.New(t)
	log := slog.New(slog.DiscardHandler)
	u, err := NewUI(UI{Set: e.Set, Store: e.Store, Log: log, Sessions: &auth.Sessions{Store: e.Store, Log: log},
		Mon: monitor.New(e.Store, e.Drv, monitor.NewBus(), log, monitor.Settings{})}, web.FS)
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	r.NotFound(u.NotFound)
	r.Group(func(r chi.Router) {
		r.Use(u.Secure, u.LoadSession)
		r.Post("/login", u.Login)
		r.Group(func(r chi.Router) {
			r.Use(u.RequireLogin)
			r.Get("/", u.Dashboard)
			r.Get("/containers/{ref}", u.ContainerPage)
			r.Post("/containers/{ref}/ip-addresses", u.AddAddress)
			r.Post("/containers/{ref}/ip-addresses/remove", u.RemoveAddress)
			r.Group(func(r chi.Router) {
				r.Use(u.RequireStaff)
				r.Get("/networks", u.NetworksPage)
				r.Post("/networks/pools", u.CreatePool)
				r.Get("/networks/pools/{id}", u.PoolPage)
				r.Post("/networks/pools/{id}", u.UpdatePool)
				r.Post("/networks/pools/{id}/delete", u.DeletePool)
			})
		})
	})
	p := &netPanel{t: t, e: e, srv: httptest.NewServer(r)}
	t.Cleanup(p.srv.Close)

	ctx := context.Background()
	hash, err := bcrypt.GenerateFromPassword([]byte("a password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.CreateAccount(ctx, db.Account{Username: "ops", Role: db.RoleStaff, Email: "ops@example.com"}, string(hash)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.CreateCustomer(ctx, db.Customer{Username: "alice"}, string(hash)); err != nil {
		t.Fatal(err)
	}
	staff := domaintest.Staff()
	if _, err := e.Plans.Create(ctx, staff, "small", nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	ctid := 101
	op, err := e.Containers.Create(ctx, staff, containers.CreateInput{CTID: &ctid, Template: "busybox", Owner: "alice", Plan: "small"})
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, op.ID)
	return p
}

// setAddressLimit sets plan small's addresses per container.
func (p *netPanel) setAddressLimit(n int) {
	p.t.Helper()
	ctx := context.Background()
	pl, err := p.e.Store.GetPlan(ctx, "small")
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.e.Store.SetPlanNetwork(ctx, pl.ID, db.PlanNetwork{IPAddresses: &n}); err != nil {
		p.t.Fatal(err)
	}
}

// poolID is the id of the pool named name.
func (p *netPanel) poolID(name string) string {
	p.t.Helper()
	pools, err := p.e.Networks.List(context.Background(), domaintest.Staff())
	if err != nil {
		p.t.Fatal(err)
	}
	for _, pl := range pools {
		if pl.Name == name {
			return strconv.FormatInt(pl.ID, 10)
		}
	}
	p.t.Fatalf("no pool %s", name)
	return ""
}

// netBrowser is a signed-in client that does not follow redirects and
// sends the session's CSRF token with its forms.
type netBrowser struct {
	p    *netPanel
	c    *http.Client
	csrf string
}

type netPage struct {
	Status   int
	Location string
	Body     string
}

var csrfValue = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (p *netPanel) signIn(username string) *netBrowser {
	p.t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &netBrowser{p: p, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
	b.expect(b.post("/login", url.Values{"username": {username}, "password": {"a password"}}), http.StatusSeeOther)
	b.expect(b.get("/"), http.StatusOK)
	return b
}

func (b *netBrowser) send(method, path string, form url.Values) netPage {
	b.p.t.Helper()
	var body io.Reader
	if form != nil {
		if b.csrf != "" {
			form.Set(auth.CSRFField, b.csrf)
		}
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.p.srv.URL+path, body)
	if err != nil {
		b.p.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.p.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	pg := netPage{Status: res.StatusCode, Location: res.Header.Get("Location"), Body: string(raw)}
	if m := csrfValue.FindStringSubmatch(pg.Body); m != nil {
		b.csrf = html.UnescapeString(m[1])
	}
	return pg
}

func (b *netBrowser) get(path string) netPage { return b.send(http.MethodGet, path, nil) }

func (b *netBrowser) post(path string, form url.Values) netPage {
	if form == nil {
		form = url.Values{}
	}
	return b.send(http.MethodPost, path, form)
}

func (b *netBrowser) expect(pg netPage, status int, contains ...string) netPage {
	b.p.t.Helper()
	if pg.Status != status {
		b.p.t.Fatalf("status %d, want %d: %s", pg.Status, status, pg.Body)
	}
	for _, s := range contains {
		if !strings.Contains(pg.Body, s) {
			b.p.t.Fatalf("page lacks %q:\n%s", s, pg.Body)
		}
	}
	return pg
}

var fieldErrorP = regexp.MustCompile(`<p class="field-error" role="alert">([^<]*)</p>`)

// fieldMessage is the error shown in the label of the input or select
// named name, "" when there is none.
func fieldMessage(body, name string) string {
	i := strings.Index(body, `name="`+name+`"`)
	if i < 0 {
		return ""
	}
	label := body[i:]
	if end := strings.Index(label, "</label>"); end >= 0 {
		label = label[:end]
	}
	if m := fieldErrorP.FindStringSubmatch(label); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// TestPoolFormsShowEveryRefusedField: staff make a pool through the
// networks page's form; a refused one comes back with each field's reason
// next to it and what was typed kept; the edit page saves and refuses the
// same way, and a pool in use cannot be deleted.
func TestPoolFormsShowEveryRefusedField(t *testing.T) {
	p := newNetPanel(t)
	b := p.signIn("ops")
	b.expect(b.get("/networks"), http.StatusOK, "No IP pools yet", `action="/networks/pools"`)

	pg := b.expect(b.post("/networks/pools", url.Values{"name": {"Main V4"}, "cidr": {"198.18.70.1/24"}, "mode": {"routed"},
		"nameservers": {"198.18.70.53 not-an-ip"}}), http.StatusUnprocessableEntity, "correct the fields marked below", `value="198.18.70.1/24"`)
	for field, want := range map[string]string{"name": "must be 1 to 63", "cidr": "has bits set past its prefix length",
		"nameservers": `"not-an-ip" is not an IP address`} {
		if got := fieldMessage(pg.Body, field); !strings.Contains(got, want) {
			t.Errorf("create: error next to %s is %q, want %q", field, got, want)
		}
	}
	if n := strings.Count(pg.Body, `aria-invalid="true"`); n != 3 {
		t.Errorf("create: %d fields marked, want name, cidr and nameservers", n)
	}
	if pools, _ := p.e.Networks.List(context.Background(), domaintest.Staff()); len(pools) != 0 {
		t.Fatalf("a refused form made %d pools", len(pools))
	}

	pg = b.expect(b.post("/networks/pools", url.Values{"name": {"main-v4"}, "cidr": {"198.18.70.0/24"}, "mode": {"routed"},
		"gateway": {"198.18.70.1"}, "nameservers": {"198.18.70.53"}, "default": {"1"}}), http.StatusSeeOther)
	if pg.Location != "/networks?done=created&name=main-v4" {
		t.Fatalf("create redirects to %q", pg.Location)
	}
	id := p.poolID("main-v4")
	b.expect(b.get(pg.Location), http.StatusOK, "Pool main-v4 created", "198.18.70.0/24", "default IPv4", ">253<",
		`href="/networks/pools/`+id+`"`, `data-confirm="Delete pool main-v4?"`)

	// Edit: the form holds the pool; refused fields come back together.
	b.expect(b.get("/networks/pools/"+id), http.StatusOK, `value="main-v4"`, `value="198.18.70.1"`, `value="198.18.70.53"`, "/24")
	pg = b.expect(b.post("/networks/pools/"+id, url.Values{"name": {"main-v4"}, "mode": {"routed"}, "gateway": {"203.0.113.1"},
		"nameservers": {"1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4"}, "default": {"1"}}), http.StatusUnprocessableEntity, `value="203.0.113.1"`)
	for field, want := range map[string]string{"gateway": "must be an address of the pool", "nameservers": "at most 3"} {
		if got := fieldMessage(pg.Body, field); !strings.Contains(got, want) {
			t.Errorf("edit: error next to %s is %q, want %q", field, got, want)
		}
	}
	pg = b.expect(b.post("/networks/pools/"+id, url.Values{"name": {"edge-v4"}, "mode": {"routed"}, "gateway": {""},
		"nameservers": {"198.18.70.54, 198.18.70.55"}, "default": {"1"}}), http.StatusSeeOther)
	pv, err := p.e.Networks.Get(context.Background(), domaintest.Staff(), mustInt(t, id))
	if err != nil || pv.Name != "edge-v4" || pv.Gateway != nil || strings.Join(pv.Nameservers, " ") != "198.18.70.54 198.18.70.55" || !pv.Default {
		t.Fatalf("after edit: %+v %v", pv, err)
	}
	b.expect(b.get(pg.Location), http.StatusOK, "Pool edge-v4 saved")
	b.expect(b.get("/networks/pools/4242"), http.StatusNotFound)
	b.expect(b.get("/networks/pools/abc"), http.StatusNotFound)

	// In use: the delete is refused in the page; unused, it goes.
	_, op, err := p.e.Containers.AddAddress(context.Background(), domaintest.Staff(), "101", containers.AddressRequest{Address: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	p.e.Wait(t, op.ID)
	b.expect(b.post("/networks/pools/"+id+"/delete", nil), http.StatusConflict, "still has addresses", "edge-v4")
	b.expect(b.post("/networks/pools", url.Values{"name": {"spare"}, "cidr": {"198.18.71.0/24"}, "mode": {"routed"}}), http.StatusSeeOther)
	b.expect(b.post("/networks/pools/"+p.poolID("spare")+"/delete", nil), http.StatusSeeOther)
	if strings.Contains(b.get("/networks").Body, "198.18.71.0/24") {
		t.Error("a deleted pool is still listed")
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPoolPagesAreStaffOnly: a customer is refused the networks pages and
// their forms, not only left without the link.
func TestPoolPagesAreStaffOnly(t *testing.T) {
	p := newNetPanel(t)
	staff := p.signIn("ops")
	staff.expect(staff.post("/networks/pools", url.Values{"name": {"main-v4"}, "cidr": {"198.18.70.0/24"}, "mode": {"routed"}}), http.StatusSeeOther)
	id := p.poolID("main-v4")

	alice := p.signIn("alice")
	if home := alice.get("/"); strings.Contains(home.Body, `href="/networks"`) {
		t.Error("a customer's menu links to the networks page")
	}
	alice.expect(alice.get("/networks"), http.StatusForbidden, "Staff only")
	alice.expect(alice.get("/networks/pools/"+id), http.StatusForbidden, "Staff only")
	alice.expect(alice.post("/networks/pools", url.Values{"name": {"mine"}, "cidr": {"198.18.72.0/24"}}), http.StatusForbidden)
	alice.expect(alice.post("/networks/pools/"+id, url.Values{"name": {"mine"}, "mode": {"routed"}}), http.StatusForbidden)
	alice.expect(alice.post("/networks/pools/"+id+"/delete", nil), http.StatusForbidden)
	if pv, err := p.e.Networks.Get(context.Background(), domaintest.Staff(), mustInt(t, id)); err != nil || pv.Name != "main-v4" {
		t.Fatalf("the pool after a customer's posts: %+v %v", pv, err)
	}
}

// TestCustomerAddsAddressWithinPlan: a customer adds "auto" to their own
// container from its page and sees it there and on their home page; past
// the plan's count the refusal is shown in the page's network section.
// They are not offered the pool choice, and removing queues the change.
func TestCustomerAddsAddressWithinPlan(t *testing.T) {
	p := newNetPanel(t)
	staff := p.signIn("ops")
	staff.expect(staff.post("/networks/pools", url.Values{"name": {"main-v4"}, "cidr": {"198.18.70.0/24"}, "mode": {"routed"},
		"gateway": {"198.18.70.1"}, "default": {"1"}}), http.StatusSeeOther)
	p.setAddressLimit(1)

	alice := p.signIn("alice")
	ct := alice.expect(alice.get("/containers/101"), http.StatusOK, `id="network"`, "No addresses", `id="address-form"`)
	if strings.Contains(ct.Body, `name="pool"`) {
		t.Error("a customer is offered the pool choice")
	}
	pg := alice.expect(alice.post("/containers/101/ip-addresses", url.Values{"address": {"auto"}}), http.StatusSeeOther)
	opID := regexp.MustCompile(`[?&]op=([^&#]+)`).FindStringSubmatch(pg.Location)
	if !strings.HasPrefix(pg.Location, "/containers/101?done=address") || !strings.HasSuffix(pg.Location, "#network") || opID == nil {
		t.Fatalf("add redirects to %q, want the container page following the operation", pg.Location)
	}
	p.e.Wait(t, opID[1])
	alice.expect(alice.get("/containers/101"), http.StatusOK, `data-address="198.18.70.2"`, "Remove")
	alice.expect(alice.get("/"), http.StatusOK, "198.18.70.2")

	pg = alice.expect(alice.post("/containers/101/ip-addresses", url.Values{"address": {"auto"}}), http.StatusForbidden,
		`id="network"`, "your plan allows 1 address(es) on this container; it has 1")
	if !strings.Contains(pg.Body, `value="auto"`) {
		t.Error("the refused address form lost what was typed")
	}

	pg = alice.expect(alice.post("/containers/101/ip-addresses/remove", url.Values{"address": {"198.18.70.2"}}), http.StatusSeeOther)
	if opID = regexp.MustCompile(`[?&]op=([^&#]+)`).FindStringSubmatch(pg.Location); opID == nil {
		t.Fatalf("remove redirects to %q", pg.Location)
	}
	p.e.Wait(t, opID[1])
	alice.expect(alice.get("/containers/101"), http.StatusOK, "No addresses")

	// Staff pick the pool; a bad literal is shown on the address field.
	pg = staff.expect(staff.post("/containers/101/ip-addresses", url.Values{"address": {"198.18.99.5"}, "pool": {"main-v4"}}),
		http.StatusUnprocessableEntity, `id="network"`)
	if got := fieldMessage(pg.Body, "address"); !strings.Contains(got, "is not in pool main-v4") {
		t.Errorf("staff: error next to address is %q", got)
	}
}

func TestPoolFieldsPutsEachBadNameserverOnTheInput(t *testing.T) {
	got := poolFields(FieldErrors{"nameservers[0]": "is not an IP address", "nameservers[2]": "is not an IP address",
		"nameservers": "at most 3 (resolv.conf reads 3)", "cidr": "is required"}, []string{"x", "1.1.1.1", "y", "2.2.2.2"})
	want := FieldErrors{"cidr": "is required",
		"nameservers": `"x" is not an IP address; "y" is not an IP address; at most 3 (resolv.conf reads 3)`}
	if len(got) != len(want) || got["cidr"] != want["cidr"] || got["nameservers"] != want["nameservers"] {
		t.Fatalf("poolFields = %v, want %v", got, want)
	}
}
