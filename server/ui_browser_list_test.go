package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ctpanel/ctpanel/db"
)

// fitsPhone checks that the page, at phone width (390 px), is no wider
// than the screen: tables become cards, toolbars wrap, nothing is cut
// off or needs sideways scrolling.
func (c *chrome) fitsPhone(what string) {
	c.t.Helper()
	c.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	c.do(chromedp.Sleep(300 * time.Millisecond))
	wide := c.phoneOverflow()
	c.do(chromedp.EmulateViewport(1280, 800))
	if wide != "" {
		c.t.Errorf("%s at 390 px: %s", what, wide)
	}
}

// TestBrowserContainerList: the list of a 10,000-container farm in
// Chromium, paged, searched, filtered and sorted by the server; a bulk
// stop with its one confirmation; the customer's own list.
func TestBrowserContainerList(t *testing.T) {
	requireChromium(t)
	p := uiFarm(t) // 101 alice's, 102 bob's, on the fake driver
	seedContainers(t, p.app.Store, 1000, 10999)
	// Two samples, so that the running ones have CPU and memory figures.
	for range 2 {
		if _, err := p.app.Mon.SampleOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c := newChrome(t, p.srv.URL)
	c.login("ops", "correct horse")

	c.waitFor("the first page", `document.getElementById('farm-count').textContent.includes('1–50 of 10002')`, 15*time.Second)
	if n := jsEval[float64](c, `document.querySelectorAll('#farm tbody tr').length`); n != 50 {
		t.Fatalf("the first page has %v rows", n)
	}
	c.shot("list")
	c.fitsPhone("the container list")

	c.submit("#page-next")
	c.waitFor("page 2", `document.getElementById('page-of').textContent === 'page 2 of 201' && document.querySelector('#farm tbody tr').dataset.ctid === '1048'`, 10*time.Second)

	// Search: the server finds one of 10,000.
	c.do(chromedp.SetValue(chromedp.CSS("#farm-filter"), "h5005.example"))
	c.submit("#farm-apply")
	c.waitFor("one match", `document.querySelectorAll('#farm tbody tr').length === 1 && document.querySelector('#farm tbody tr').dataset.ctid === '5005'`, 10*time.Second)
	if loc := c.location(); !strings.Contains(loc, "q=h5005.example") || strings.Contains(loc, "page=") {
		t.Errorf("the search's address %s (a search starts at page 1)", loc)
	}

	// A filter applies as soon as it is chosen; the count is the server's.
	c.open("/")
	c.waitFor("the list's filters", `document.getElementById('farm-status')`, 10*time.Second)
	before := jsEval[float64](c, `performance.timeOrigin`)
	jsEval[bool](c, `(function(){ const s = document.getElementById('farm-status'); s.value = 'running'; return s.dispatchEvent(new Event('change')); })()`)
	c.waitFor("the running ones", `performance.timeOrigin !== `+fmt.Sprint(before)+` && document.getElementById('farm-count').textContent.includes('of 3335 containers matching')`, 15*time.Second)

	// Sort by CTID, then the other way.
	c.open("/")
	c.submit(`#farm th a[data-sort=ctid]`)
	c.waitFor("CTIDs descending", `document.querySelector('#farm tbody tr').dataset.ctid === '10999'`, 10*time.Second)
	c.submit(`#farm th a[data-sort=ctid]`)
	c.waitFor("CTIDs ascending", `document.querySelector('#farm tbody tr').dataset.ctid === '101'`, 10*time.Second)

	// Bulk stop: tick two, one confirmation, one operation each.
	c.do(chromedp.Click(chromedp.CSS(`#farm tr[data-ctid="101"] input[name=ctid]`)))
	c.do(chromedp.Click(chromedp.CSS(`#farm tr[data-ctid="102"] input[name=ctid]`)))
	c.waitFor("two selected", `document.getElementById('bulk-count').textContent === '2 selected' && !document.getElementById('bulk-submit').disabled`, 5*time.Second)
	c.do(chromedp.SetValue(chromedp.CSS("#bulk-action"), "stop"))
	c.submit("#bulk-submit")
	c.waitFor("the confirmation", `document.getElementById('bulk-yes') && document.getElementById('bulk-yes').textContent.includes('stop 2 containers')`, 10*time.Second)
	c.shot("list-bulk-confirm")
	c.submit("#bulk-yes")
	c.waitFor("both queued", `document.getElementById('bulk-summary').textContent.includes('2 of 2 queued')`, 10*time.Second)
	for _, ref := range []string{"101", "102"} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			st := p.expect(p.do(p.admin, "GET", "/api/v1/containers/"+ref, nil), 200).json(t)["status"]
			if st == "stopped" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s after the bulk stop: %v", ref, st)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// The customer's list: their own 5,001, no owner column or filter.
	a := newChrome(t, p.srv.URL)
	a.login("alice", "alice password")
	a.waitFor("alice's list", `document.getElementById('farm-count').textContent.includes('1–50 of 5001')`, 15*time.Second)
	if jsEval[bool](a, `!!document.getElementById('farm-owner') || [...document.querySelectorAll('#farm tbody tr')].some(r => Number(r.dataset.ctid) % 2 === 1 && r.dataset.ctid !== '101')`) {
		t.Errorf("alice's list has the owner filter or bob's containers")
	}
	a.shot("list-customer")
	a.fitsPhone("the customer's list")
}

// TestBrowserChartRangesAndLiveTaskLog: the container page's charts read
// a day, a week or a month from the database's coarser tiers, a disk
// chart appears for a container with diskspace samples, and the task log
// at the foot of a staff page shows an operation as it ends.
func TestBrowserChartRangesAndLiveTaskLog(t *testing.T) {
	requireChromium(t)
	p := uiFarm(t)
	ctx := context.Background()
	now := time.Now().UTC()
	var samples []db.Sample
	add := func(at time.Time, res string, held uint64) {
		samples = append(samples, db.Sample{CTID: 101, At: at, Resource: res, Held: held, MaxHeld: held, Barrier: 1 << 20, Limit: 1 << 20})
	}
	for h := 70; h < 24*6; h++ { // hourly buckets, three to six days ago
		add(now.Add(-time.Duration(h)*time.Hour).Truncate(time.Hour), "physpages", uint64(1000+h))
		add(now.Add(-time.Duration(h)*time.Hour).Truncate(time.Hour), "diskspace", uint64(20480+h))
	}
	for m := 70; m < 20*60; m += 5 { // minute buckets, the last 20 hours
		add(now.Add(-time.Duration(m)*time.Minute).Truncate(time.Minute), "physpages", uint64(2000+m))
	}
	if err := p.app.Store.InsertSamples(ctx, samples); err != nil {
		t.Fatal(err)
	}
	if _, err := p.app.Store.Pool.Exec(ctx, `UPDATE bc_samples SET resolution = CASE WHEN at < now() - interval '48 hours' THEN 3600 ELSE 60 END`); err != nil {
		t.Fatal(err)
	}

	c := newChrome(t, p.srv.URL)
	c.login("ops", "correct horse")
	c.open("/containers/101#charts")
	c.waitFor("the hour's history", `document.getElementById('chart-area').dataset.loaded === '1h'`, 15*time.Second)
	if span := jsEval[float64](c, `Number(document.getElementById('chart-mem').dataset.span)`); span > 3600 {
		t.Errorf("the hour's memory chart spans %v s", span)
	}
	c.do(chromedp.Click(chromedp.CSS(`.chart-ranges button[data-range="1w"]`)))
	c.waitFor("a week of memory", `document.getElementById('chart-area').dataset.loaded === '1w' &&
		Number(document.getElementById('chart-mem').dataset.span) > 5 * 86400 && document.getElementById('chart-mem').dataset.ordered === 'true'`, 15*time.Second)
	c.waitFor("the disk chart", `Number((document.getElementById('chart-disk') || {dataset: {}}).dataset.points) > 10`, 10*time.Second)
	if step := c.text("#chart-area[data-step]"); step == "" {
		t.Log("no step shown")
	}
	c.do(chromedp.Click(chromedp.CSS(`.chart-ranges button[data-range="1d"]`)))
	c.waitFor("a day of memory", `document.getElementById('chart-area').dataset.loaded === '1d' &&
		Number(document.getElementById('chart-mem').dataset.span) > 18 * 3600 && Number(document.getElementById('chart-mem').dataset.span) <= 86400`, 15*time.Second)
	c.shot("container-charts-day")

	// The overview's host charts: the sampler's own reading, then a week
	// of minutes seeded, read a day and a week at a time.
	if err := p.app.Mon.SampleHost(ctx, "/proc"); err != nil {
		t.Fatal(err)
	}
	var cpu, load float64
	var memUsed, memTotal int64
	if err := p.app.Store.Pool.QueryRow(ctx, `SELECT cpu_percent, load1, mem_used, mem_total FROM host_samples`).Scan(&cpu, &load, &memUsed, &memTotal); err != nil {
		t.Fatalf("the host sample: %v", err)
	}
	if cpu < 0 || cpu > 100 || memUsed <= 0 || memUsed > memTotal {
		t.Fatalf("host sample: cpu %v%%, load %v, memory %d of %d", cpu, load, memUsed, memTotal)
	}
	if _, err := p.app.Store.Pool.Exec(ctx, `INSERT INTO host_samples (at, cpu_percent, load1, mem_used, mem_total, disk_used, disk_size)
		SELECT g, 20 + 10 * sin(extract(epoch FROM g) / 3600), 0.5, 8::bigint << 30, 24::bigint << 30, 100::bigint << 30, 400::bigint << 30
		FROM generate_series(now() - interval '6 days', now() - interval '2 minutes', interval '1 minute') g`); err != nil {
		t.Fatal(err)
	}
	c.open("/")
	c.waitFor("a day of the host", `document.getElementById('host-charts').dataset.loaded === '1d' && Number(document.getElementById('host-chart-cpu').dataset.points) >= 200`, 15*time.Second)
	c.do(chromedp.Click(chromedp.CSS(`#host-charts button[data-range="1w"]`)))
	c.waitFor("a week of the host", `document.getElementById('host-charts').dataset.loaded === '1w' && Number(document.getElementById('host-chart-mem').dataset.points) >= 200`, 15*time.Second)
	c.shot("overview-host-week")

	// The task log at the foot of a staff page follows the farm.
	c.open("/plans")
	c.waitFor("the task log", `document.documentElement.dataset.tasklog !== undefined && document.documentElement.dataset.tasklogLive === '1' && document.querySelector('#task-log-footer ul')`, 10*time.Second)
	p.ok(p.admin, "POST", "/api/v1/containers/102/stop", nil)
	c.waitFor("the stop in the task log", `[...document.querySelectorAll('#task-log-footer li')].some(li => li.textContent.includes('102 stop') && li.dataset.status === 'succeeded')`, 15*time.Second)
}
