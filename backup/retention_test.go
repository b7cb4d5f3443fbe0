package backup

import (
	"slices"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestKeep: retention over a simulated two months of backups (daily at
// 02:30 from 1 October to 29 November, hourly all of 30 November) keeps
// exactly what each rule says, worked out by hand from the calendar (30
// November 2026 is a Monday, ISO week 49); and the simple cases.
func TestKeep(t *testing.T) {
	var month []Item
	for d := at("2026-10-01 02:30"); d.Before(at("2026-11-30 00:00")); d = d.AddDate(0, 0, 1) {
		month = append(month, Item{ID: d.Format("01-02 15:04"), At: d})
	}
	for h := at("2026-11-30 00:00"); h.Before(at("2026-12-01 00:00")); h = h.Add(time.Hour) {
		month = append(month, Item{ID: h.Format("01-02 15:04"), At: h})
	}
	five := []Item{{ID: "a", At: at("2026-11-01 01:00")}, {ID: "b", At: at("2026-11-02 01:00")}, {ID: "c", At: at("2026-11-03 01:00")},
		{ID: "d", At: at("2026-11-04 01:00"), Protected: true}, {ID: "e", At: at("2026-11-05 01:00")}}
	five[0].Protected = true
	for _, tc := range []struct {
		name  string
		items []Item
		keep  Keep
		want  []string
	}{
		{"nothing set keeps all", five, Keep{}, []string{"a", "b", "c", "d", "e"}},
		{"last 2, and the protected ones", five, Keep{Last: 2}, []string{"a", "d", "e"}},
		{"daily 2 over one a day", five, Keep{Daily: 2}, []string{"a", "d", "e"}},
		{"two months", month, Keep{Hourly: 6, Daily: 7, Weekly: 4, Monthly: 3, Yearly: 1}, []string{
			// hourly: the newest six hours
			"11-30 18:00", "11-30 19:00", "11-30 20:00", "11-30 21:00", "11-30 22:00", "11-30 23:00",
			// daily: 30 November (23:00, above), then the six days before
			"11-24 02:30", "11-25 02:30", "11-26 02:30", "11-27 02:30", "11-28 02:30", "11-29 02:30",
			// weekly: weeks 49 and 48 (above), 47 (Sunday 22nd), 46 (Sunday 15th)
			"11-15 02:30", "11-22 02:30",
			// monthly: November (above), October's newest; nothing before
			"10-31 02:30",
			// yearly: 2026 (above)
		}},
		{"hourly 3 only", month, Keep{Hourly: 3}, []string{"11-30 21:00", "11-30 22:00", "11-30 23:00"}},
	} {
		got := tc.keep.Apply(tc.items, time.UTC)
		var ids []string
		for id := range got {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("%s: kept %v,\nwant %v", tc.name, ids, want)
		}
	}
}

// TestPolicyDrop: rotation removes the oldest unprotected backups past the
// plan's count, after retention.
func TestPolicyDrop(t *testing.T) {
	two := 2
	items := []Item{{ID: "old", At: at("2026-11-01 01:00"), Protected: true}, {ID: "mid", At: at("2026-11-02 01:00")},
		{ID: "new", At: at("2026-11-03 01:00")}, {ID: "newest", At: at("2026-11-04 01:00")}}
	if got := (Policy{Max: &two, WhenFull: "rotate"}).Drop(items, time.UTC); !slices.Equal(got, []string{"mid", "new"}) {
		t.Errorf("rotate to 2: dropped %v, want mid and new (old is protected)", got)
	}
	if got := (Policy{Max: &two}).Drop(items, time.UTC); len(got) != 0 {
		t.Errorf("refuse policy dropped %v", got)
	}
	if got := (Policy{Keep: Keep{Last: 1}}).Drop(items, time.UTC); !slices.Equal(got, []string{"mid", "new"}) {
		t.Errorf("keep last 1: dropped %v", got)
	}
	if bad := (Policy{WhenFull: "x", Keep: Keep{Daily: -1}}).Check("backups."); bad["backups.when_full"] == "" || bad["backups.keep.daily"] == "" {
		t.Errorf("check: %v", bad)
	}
}

// TestPolicyDropBytes: past the plan's bytes, rotation removes the oldest
// unprotected backups until the rest fit, never the newest; retention's
// and the count's removals count as gone already.
func TestPolicyDropBytes(t *testing.T) {
	mib := func(n int64) int64 { return n << 20 }
	items := []Item{{ID: "a", At: at("2026-11-01 01:00"), Bytes: mib(100)}, {ID: "b", At: at("2026-11-02 01:00"), Bytes: mib(10), Protected: true},
		{ID: "c", At: at("2026-11-03 01:00"), Bytes: mib(30)}, {ID: "d", At: at("2026-11-04 01:00"), Bytes: mib(20)}}
	lim := func(n int64) *int64 { return &n }
	two := 2
	for _, tc := range []struct {
		name string
		pol  Policy
		want []string
	}{
		{"all fit", Policy{MaxBytes: lim(mib(160)), WhenFull: "rotate"}, nil},
		{"the oldest goes", Policy{MaxBytes: lim(mib(159)), WhenFull: "rotate"}, []string{"a"}},
		{"the protected one stays", Policy{MaxBytes: lim(mib(59)), WhenFull: "rotate"}, []string{"a", "c"}},
		{"the newest stays past the bytes", Policy{MaxBytes: lim(mib(1)), WhenFull: "rotate"}, []string{"a", "c"}},
		{"refuse removes nothing", Policy{MaxBytes: lim(mib(1))}, nil},
		{"count first, then bytes", Policy{Max: &two, MaxBytes: lim(mib(25)), WhenFull: "rotate"}, []string{"a", "c"}},
		{"retention first, then bytes", Policy{Keep: Keep{Last: 3}, MaxBytes: lim(mib(60)), WhenFull: "rotate"}, []string{"a"}},
		{"retention, then bytes past what it kept", Policy{Keep: Keep{Last: 3}, MaxBytes: lim(mib(55)), WhenFull: "rotate"}, []string{"a", "c"}},
	} {
		got := tc.pol.Drop(items, time.UTC)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: dropped %v, want %v", tc.name, got, tc.want)
		}
	}
	neg := int64(-1)
	if bad := (Policy{MaxBytes: &neg, Snapshots: SnapshotPolicy{MaxBytes: &neg}}).Check("backups."); bad["backups.max_bytes"] == "" || bad["backups.snapshots.max_bytes"] == "" {
		t.Errorf("check: %v", bad)
	}
}
