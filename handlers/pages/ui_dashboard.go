package pages

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/ubc"
)

// farmRow is a line of the list: vzlist's columns, the owner and plan,
// the latest resource figures in words, and the resources whose alerts
// are open.
type farmRow struct {
	containers.ListItem
	CPU, Memory, Disk, Traffic string
	MemPercent                 float64
}

// listColumn is a sortable column head: its link sorts by it, ascending
// first, then the other way.
type listColumn struct {
	Key, Label, Href, AriaSort string
	Num                        bool
}

// Dashboard is GET /: for staff the farm overview and the container list,
// for a customer their own containers. The list is one page, searched,
// filtered and sorted in PostgreSQL (the query string is the API's, with
// page for offset).
func (u *UI) Dashboard(w http.ResponseWriter, r *http.Request) {
	u.dashboard(w, r, http.StatusOK, view{})
}

func (u *UI) dashboard(w http.ResponseWriter, r *http.Request, status int, v view) {
	ctx := r.Context()
	p := principal(r)
	form := r.URL.Query()
	pageNo := 1
	if s := form.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			n = 1
		}
		pageNo = n
	}
	get := func(k string) string {
		switch k {
		case "limit":
			return ""
		case "offset":
			return strconv.Itoa((pageNo - 1) * containers.PageRows)
		}
		return form.Get(k)
	}
	q, err := containers.ParseListQuery(get, containers.PageRows)
	var page containers.Page
	if err == nil {
		page, err = u.Containers.Page(ctx, p, q)
	}
	if err != nil {
		de := domain.AsError(err)
		if de == nil {
			u.serverError(w, r, err)
			return
		}
		// Bad filters: say which, all at once, and show the first page
		// unfiltered.
		v["ListErrors"], status = FieldErrors(de.Fields), de.Status
		if len(de.Fields) == 0 {
			v["Message"] = de.Message
		}
		if page, err = u.Containers.Page(ctx, p, containers.ListQuery{Limit: containers.PageRows}); err != nil {
			u.serverError(w, r, err)
			return
		}
	}
	if v["ListErrors"] == nil {
		v["ListErrors"] = FieldErrors{}
	}
	rows := make([]farmRow, 0, len(page.Containers))
	for _, it := range page.Containers {
		row := farmRow{ListItem: it, CPU: "-", Memory: "-", Disk: "-", Traffic: ubc.FormatBytes(uint64(max(0, it.TrafficBytes)))}
		if it.CPUPercent != nil && it.Status == "running" {
			row.CPU = fmt.Sprintf("%.1f %%", *it.CPUPercent)
		}
		if it.MemoryBytes != nil && it.Status == "running" {
			row.Memory = ubc.FormatBytes(uint64(*it.MemoryBytes))
			if l := it.MemoryLimitBytes; l != nil && *l > 0 {
				row.Memory += " of " + ubc.FormatBytes(uint64(*l))
				row.MemPercent = min(100, 100*float64(*it.MemoryBytes)/float64(*l))
			}
		}
		if it.DiskBytes != nil {
			row.Disk = ubc.FormatBytes(uint64(*it.DiskBytes))
			if l := it.DiskLimitBytes; l != nil && *l > 0 {
				row.Disk += " of " + ubc.FormatBytes(uint64(*l))
			}
		}
		rows = append(rows, row)
	}
	counts, suspended, err := u.Containers.Counts(ctx, p)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	plans, err := u.Store.ListPlans(ctx)
	if err != nil {
		u.serverError(w, r, err)
		return
	}
	planNames := make([]string, 0, len(plans))
	for _, pl := range plans {
		planNames = append(planNames, pl.Name)
	}
	all := 0
	for _, n := range counts {
		all += n
	}
	pages := max(1, (page.Total+containers.PageRows-1)/containers.PageRows)
	v["Rows"], v["Total"], v["All"], v["Statuses"] = rows, page.Total, all, counts
	v["Form"], v["Plans"], v["BulkActions"] = listForm(form), planNames, containers.BulkActions
	v["Page"], v["Pages"] = pageNo, pages
	v["From"], v["To"] = min(page.Offset+1, page.Total), page.Offset+len(rows)
	v["Columns"] = listColumns(form, p.IsStaff())
	if pageNo > 1 {
		v["PrevURL"] = listURL(form, "page", strconv.Itoa(min(pageNo-1, pages)))
		v["FirstURL"] = listURL(form, "page", "")
	}
	if pageNo < pages {
		v["NextURL"] = listURL(form, "page", strconv.Itoa(pageNo+1))
		v["LastURL"] = listURL(form, "page", strconv.Itoa(pages))
	}
	v["Filtered"] = q.Q != "" || q.Status != "" || q.Owner != "" || q.Plan != "" || q.Suspended != nil || q.Failing
	v["Op"], v["Done"] = form.Get("op"), form.Get("done")
	v["Back"] = listURL(form, "", "")
	if p.IsStaff() {
		o, err := u.overview(ctx, p, suspended)
		if err != nil {
			u.serverError(w, r, err)
			return
		}
		v["Overview"] = o
	}
	u.render(w, r, status, "dashboard", v)
}

// listForm is the list's query as the toolbar shows it.
func listForm(q url.Values) map[string]string {
	out := map[string]string{}
	for _, k := range []string{"q", "status", "owner", "plan", "suspended", "failing", "sort"} {
		out[k] = q.Get(k)
	}
	return out
}

// listURL is the list's address with key set to val ("" removes it).
func listURL(q url.Values, key, val string) string {
	c := url.Values{}
	for k, vs := range q {
		if k == "op" || k == "done" {
			continue
		}
		c[k] = vs
	}
	if key == "" {
		// as it is
	} else if val == "" {
		c.Del(key)
	} else {
		c.Set(key, val)
	}
	if len(c) == 0 {
		return "/"
	}
	return "/?" + c.Encode()
}

func listColumns(q url.Values, staff bool) []listColumn {
	cols := []listColumn{
		{Key: "ctid", Label: "CTID", Num: true}, {Key: "name", Label: "name"}, {Key: "status", Label: "status"},
		{Key: "cpu", Label: "CPU", Num: true}, {Key: "memory", Label: "memory", Num: true},
		{Key: "disk", Label: "disk", Num: true}, {Key: "traffic", Label: "traffic (month)", Num: true},
		{Key: "", Label: "IP"}, {Key: "hostname", Label: "hostname"},
	}
	if staff {
		cols = append(cols, listColumn{Key: "owner", Label: "owner"})
	}
	cols = append(cols, listColumn{Key: "plan", Label: "plan"})
	cur := q.Get("sort")
	if cur == "" {
		cur = "ctid"
	}
	for i := range cols {
		c := &cols[i]
		if c.Key == "" {
			continue
		}
		next := c.Key
		switch cur {
		case c.Key:
			c.AriaSort, next = "ascending", "-"+c.Key
		case "-" + c.Key:
			c.AriaSort = "descending"
		}
		c.Href = listURL(withoutPage(q), "sort", next)
	}
	return cols
}

// withoutPage is q with the page dropped: a new sort or filter starts at
// the first page.
func withoutPage(q url.Values) url.Values {
	c := url.Values{}
	for k, vs := range q {
		if k != "page" {
			c[k] = vs
		}
	}
	return c
}
