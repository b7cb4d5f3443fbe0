package containers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/ops"
)

// The list's window: a page of the web list, the API's default and most.
const (
	PageRows        = 50
	APIDefaultLimit = 100
	MaxListLimit    = 1000
	MaxBulk         = 1000
)

// ListStatuses are the statuses the list filters on.
var ListStatuses = []string{"running", "stopped", "frozen", "creating", "missing"}

// ListQuery is a page of the container list as a caller asks for it:
// search words, filters, a sort key ("-" first for descending) and the
// window.
type ListQuery struct {
	Q         string
	Status    string
	Owner     string
	Plan      string
	Suspended *bool
	Failing   bool
	Sort      string
	Limit     int
	Offset    int
}

// SortKeys are the list's sort keys, for forms and errors.
func SortKeys() []string {
	keys := make([]string, 0, len(db.ListSorts))
	for k := range db.ListSorts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ParseListQuery reads a list query from named parameters (the API's
// query string, the page's form): every bad one is named at once.
func ParseListQuery(get func(string) string, defaultLimit int) (ListQuery, error) {
	f := domain.FieldErrors{}
	q := ListQuery{Q: strings.TrimSpace(get("q")), Status: get("status"), Owner: strings.TrimSpace(get("owner")),
		Plan: strings.TrimSpace(get("plan")), Sort: get("sort"), Limit: defaultLimit}
	if len(q.Q) > 200 {
		f.Add("q", "at most 200 characters")
	}
	if q.Status != "" && !slices.Contains(ListStatuses, q.Status) {
		f.Add("status", "one of "+strings.Join(ListStatuses, ", "))
	}
	if q.Sort != "" {
		if _, ok := db.ListSorts[strings.TrimPrefix(q.Sort, "-")]; !ok {
			f.Add("sort", "one of "+strings.Join(SortKeys(), ", ")+", with '-' first for descending")
		}
	}
	boolean := func(name string) *bool {
		switch get(name) {
		case "":
			return nil
		case "true", "1", "yes":
			t := true
			return &t
		case "false", "0", "no":
			b := false
			return &b
		}
		f.Add(name, "true or false")
		return nil
	}
	q.Suspended = boolean("suspended")
	if b := boolean("failing"); b != nil {
		q.Failing = *b
	}
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			f.Add("limit", fmt.Sprintf("a whole number from 1 to %d", MaxListLimit))
		} else {
			q.Limit = n
		}
	}
	if s := get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			f.Add("offset", "a whole number, 0 or more")
		} else {
			q.Offset = n
		}
	}
	return q, f.Err()
}

// ListItem is a row of the list: the container as Describe shows it, its
// latest resource figures and this month's traffic.
type ListItem struct {
	View
	// CPUPercent is the CPU used over the last sampling interval, in
	// percent of one CPU (nil before the first sample).
	CPUPercent       *float64   `json:"cpu_percent"`
	MemoryBytes      *int64     `json:"memory_bytes"`
	MemoryLimitBytes *int64     `json:"memory_limit_bytes"`
	DiskBytes        *int64     `json:"disk_bytes"`
	DiskLimitBytes   *int64     `json:"disk_limit_bytes"`
	TrafficBytes     int64      `json:"traffic_bytes"`
	SampledAt        *time.Time `json:"sampled_at"`
	OpenAlerts       []string   `json:"open_alerts"`
}

// Page is one page of the list and how many containers match in all.
type Page struct {
	Containers []ListItem `json:"containers"`
	Total      int        `json:"total"`
	Limit      int        `json:"limit"`
	Offset     int        `json:"offset"`
}

// Page answers one page of the containers p may see: the filtering,
// sorting and counting in PostgreSQL, then each row's run state from
// liblxc (so a page of 50 asks liblxc 50 times, whatever the farm's size).
func (s *Service) Page(ctx context.Context, p db.Principal, q ListQuery) (Page, error) {
	if q.Owner != "" && !p.IsStaff() {
		return Page{}, domain.FieldErrors{"owner": "only staff filter by owner"}.Err()
	}
	if q.Limit <= 0 {
		q.Limit = APIDefaultLimit
	}
	f := db.ListFilter{OwnerID: policy.OwnerScope(p), Owner: q.Owner, Plan: q.Plan, Status: q.Status,
		Suspended: q.Suspended, Failing: q.Failing, Words: strings.Fields(q.Q),
		Sort: strings.TrimPrefix(q.Sort, "-"), Desc: strings.HasPrefix(q.Sort, "-"),
		Limit: q.Limit, Offset: q.Offset, Month: MonthStart(time.Now())}
	rows, total, err := s.Store.ListContainersPage(ctx, f)
	if err != nil {
		return Page{}, err
	}
	out := Page{Containers: make([]ListItem, 0, len(rows)), Total: total, Limit: q.Limit, Offset: q.Offset}
	for _, r := range rows {
		it := ListItem{View: s.Describe(ctx, r.Container), TrafficBytes: r.TrafficBytes, OpenAlerts: r.Failing}
		if it.OpenAlerts == nil {
			it.OpenAlerts = []string{}
		}
		if st := r.Stats; st != nil {
			cpu, mem := st.CPUPercent, st.MemBytes
			at := st.At
			it.CPUPercent, it.MemoryBytes, it.MemoryLimitBytes = &cpu, &mem, st.MemLimitBytes
			it.DiskBytes, it.DiskLimitBytes, it.SampledAt = st.DiskBytes, st.DiskLimitBytes, &at
		}
		out.Containers = append(out.Containers, it)
	}
	return out, nil
}

// MonthStart is the first instant of t's month, UTC: the month the list's
// traffic column and the usage report's traffic count.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// BulkActions are the actions staff and customers apply to many
// containers at once.
var BulkActions = []string{ops.ActionStart, ops.ActionStop, ops.ActionRestart, ops.ActionShutdown}

// BulkResult is what became of one container of a bulk action: its
// operation, or why it was refused (the others go ahead).
type BulkResult struct {
	CTID      int
	Operation *db.Operation
	Error     *domain.Error
}

// CheckBulk validates a bulk action before anything is queued: the
// action, and the containers (each a CTID or name p may see, at most
// MaxBulk, none twice). It answers them as CTIDs in the order given.
func (s *Service) CheckBulk(ctx context.Context, p db.Principal, action string, refs []string) ([]db.Container, error) {
	f := domain.FieldErrors{}
	if !slices.Contains(BulkActions, action) {
		f.Add("action", "one of "+strings.Join(BulkActions, ", "))
	}
	switch {
	case len(refs) == 0:
		f.Add("containers", "choose at least one container")
	case len(refs) > MaxBulk:
		f.Add("containers", fmt.Sprintf("at most %d at once", MaxBulk))
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	out := make([]db.Container, 0, len(refs))
	var unknown []string
	for _, ref := range refs {
		c, err := s.Get(ctx, p, strings.TrimSpace(ref))
		if de := domain.AsError(err); de != nil && de.Status == http.StatusNotFound {
			unknown = append(unknown, ref)
			continue
		}
		if err != nil {
			return nil, err
		}
		if !seen[c.CTID] {
			seen[c.CTID] = true
			out = append(out, c)
		}
	}
	if len(unknown) > 0 {
		return nil, domain.FieldErrors{"containers": "no container " + strings.Join(unknown, ", ")}.Err()
	}
	return out, nil
}

// Bulk queues action on each container: each one is its own operation
// with its own audit entry, refused or not on its own (a suspended VPS is
// not started by a bulk start: staff start it from its page, where they
// confirm). It validates everything first; then nothing stops half way.
func (s *Service) Bulk(ctx context.Context, p db.Principal, action string, refs []string) ([]BulkResult, error) {
	list, err := s.CheckBulk(ctx, p, action, refs)
	if err != nil {
		return nil, err
	}
	out := make([]BulkResult, 0, len(list))
	for _, c := range list {
		res := BulkResult{CTID: c.CTID}
		if c.SuspendedAt != nil && (action == ops.ActionStart || action == ops.ActionRestart) {
			res.Error = domain.AsError(suspendedErr(c))
			out = append(out, res)
			continue
		}
		op, err := s.Act(ctx, p, strconv.Itoa(c.CTID), action, nil)
		if err != nil {
			de := domain.AsError(err)
			if de == nil {
				return out, err
			}
			res.Error = de
		} else {
			res.Operation = &op
		}
		out = append(out, res)
	}
	return out, nil
}

// Counts are how many containers p may see are in each status (the
// list's), and how many are suspended.
func (s *Service) Counts(ctx context.Context, p db.Principal) (map[string]int, int, error) {
	return s.Store.ContainerCounts(ctx, policy.OwnerScope(p))
}
