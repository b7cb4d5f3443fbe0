package backup

import (
	"fmt"
	"sort"
	"time"
)

// Keep is a retention policy, as restic's forget --keep-* and Proxmox's
// prune apply it: the Last newest backups, and the newest backup of each
// of the Hourly newest hours that have one, of the Daily newest days, the
// Weekly newest ISO weeks, the Monthly newest months and the Yearly
// newest years. A backup any rule keeps is kept. All zero keeps everything.
type Keep struct {
	Last    int `json:"last"`
	Hourly  int `json:"hourly"`
	Daily   int `json:"daily"`
	Weekly  int `json:"weekly"`
	Monthly int `json:"monthly"`
	Yearly  int `json:"yearly"`
}

// Empty says whether k keeps everything.
func (k Keep) Empty() bool { return k == Keep{} }

// Item is one backup as retention sees it.
type Item struct {
	ID        string
	At        time.Time
	Protected bool
	// Bytes is what the backup added to its target when made (what the
	// plan's byte quota counts).
	Bytes int64
}

// Apply says which of items k keeps (protected ones always); times are
// bucketed in loc.
func (k Keep) Apply(items []Item, loc *time.Location) map[string]bool {
	keep := map[string]bool{}
	sorted := append([]Item(nil), items...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At.After(sorted[j].At) })
	for i, it := range sorted {
		if it.Protected || k.Empty() || i < k.Last {
			keep[it.ID] = true
		}
	}
	rules := []struct {
		n      int
		bucket func(time.Time) string
	}{
		{k.Hourly, func(t time.Time) string { return t.Format("2006-01-02 15") }},
		{k.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
		{k.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-%02d", y, w) }},
		{k.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
		{k.Yearly, func(t time.Time) string { return t.Format("2006") }},
	}
	for _, r := range rules {
		last, kept := "", 0
		for _, it := range sorted {
			if kept >= r.n {
				break
			}
			if b := r.bucket(it.At.In(loc)); b != last {
				keep[it.ID] = true
				last = b
				kept++
			}
		}
	}
	return keep
}

// Policy is a plan's backups: at most Max per container (nil: no
// limit), and when a container has Max, a new one is refused
// (WhenFull "refuse", the default) or the oldest unprotected one goes once
// the new one is made ("rotate"); Keep is applied after each backup.
type Policy struct {
	Max *int `json:"max"`
	// MaxBytes bounds what a container's backups hold, counted as what
	// each added to its target when made (the usage API's
	// backup_stored_bytes): at or past it a new one is refused, or, when
	// the plan rotates, the oldest unprotected ones go once the new one is
	// made until the rest fit (the newest always stays).
	MaxBytes *int64 `json:"max_bytes"`
	WhenFull string `json:"when_full"`
	Keep     Keep   `json:"keep"`
	// Snapshots are the plan's snapshots: at most Max per container (a
	// new one past it is refused), each removed MaxAgeHours after it was
	// taken (0: kept until deleted); protected ones stay.
	Snapshots SnapshotPolicy `json:"snapshots"`
	// Schedule, when Target is set, backs every container on the plan up
	// daily that has no schedule of its own.
	Schedule ScheduleDefault `json:"schedule"`
}

// ScheduleDefault is a plan's daily backup: to Target at Time ("HH:MM"
// of the host's day, or "auto"/"": spread over the night).
type ScheduleDefault struct {
	Target string `json:"target"`
	Time   string `json:"time"`
}

// SnapshotPolicy is a plan's snapshots.
type SnapshotPolicy struct {
	Max *int `json:"max"`
	// MaxBytes bounds what a container's snapshots hold (as
	// Policy.MaxBytes counts it): at or past it a new one is refused.
	MaxBytes    *int64 `json:"max_bytes"`
	MaxAgeHours int    `json:"max_age_hours"`
}

// Rotates says whether a full container's oldest backup makes room.
func (p Policy) Rotates() bool { return p.WhenFull == "rotate" }

// Rotating says whether p removes backups past its count or bytes.
func (p Policy) Rotating() bool { return p.Rotates() && (p.Max != nil || p.MaxBytes != nil) }

// Check names what is wrong with p, field by field (under prefix).
func (p Policy) Check(prefix string) map[string]string {
	bad := map[string]string{}
	if p.Max != nil && (*p.Max < 0 || *p.Max > 10000) {
		bad[prefix+"max"] = "must be between 0 and 10000 (null: no limit)"
	}
	if p.WhenFull != "" && p.WhenFull != "refuse" && p.WhenFull != "rotate" {
		bad[prefix+"when_full"] = `must be "refuse" or "rotate"`
	}
	if p.MaxBytes != nil && *p.MaxBytes < 0 {
		bad[prefix+"max_bytes"] = "must be 0 or more (null: no limit)"
	}
	if p.Snapshots.MaxBytes != nil && *p.Snapshots.MaxBytes < 0 {
		bad[prefix+"snapshots.max_bytes"] = "must be 0 or more (null: no limit)"
	}
	if p.Snapshots.Max != nil && (*p.Snapshots.Max < 0 || *p.Snapshots.Max > 1000) {
		bad[prefix+"snapshots.max"] = "must be between 0 and 1000 (null: no limit)"
	}
	if t := p.Schedule.Time; t != "" && t != "auto" {
		if _, err := time.Parse("15:04", t); err != nil || len(t) != 5 {
			bad[prefix+"schedule.time"] = `must be "HH:MM" (the host's time) or "auto"`
		}
	}
	if p.Snapshots.MaxAgeHours < 0 || p.Snapshots.MaxAgeHours > 87600 {
		bad[prefix+"snapshots.max_age_hours"] = "must be between 0 (kept until deleted) and 87600"
	}
	for name, n := range map[string]int{"last": p.Keep.Last, "hourly": p.Keep.Hourly, "daily": p.Keep.Daily,
		"weekly": p.Keep.Weekly, "monthly": p.Keep.Monthly, "yearly": p.Keep.Yearly} {
		if n < 0 || n > 10000 {
			bad[prefix+"keep."+name] = "must be between 0 and 10000"
		}
	}
	return bad
}

// Drop is what retention and rotation remove of items (a container's
// finished backups on one target): what p.Keep does not keep, then, past
// p.Max or p.MaxBytes when p rotates, the oldest unprotected of the rest
// (never the newest).
func (p Policy) Drop(items []Item, loc *time.Location) []string {
	keep := p.Keep.Apply(items, loc)
	sorted := append([]Item(nil), items...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At.Before(sorted[j].At) })
	var drop []string
	kept := 0
	for _, it := range sorted {
		if keep[it.ID] {
			kept++
		} else {
			drop = append(drop, it.ID)
		}
	}
	dropped := map[string]bool{}
	for _, id := range drop {
		dropped[id] = true
	}
	if p.Max != nil && p.Rotates() {
		for _, it := range sorted {
			if kept <= *p.Max {
				break
			}
			if keep[it.ID] && !it.Protected {
				drop = append(drop, it.ID)
				dropped[it.ID] = true
				kept--
			}
		}
	}
	if p.MaxBytes != nil && p.Rotates() && len(sorted) > 0 {
		var held int64
		for _, it := range sorted {
			if !dropped[it.ID] {
				held += it.Bytes
			}
		}
		for _, it := range sorted[:len(sorted)-1] {
			if held <= *p.MaxBytes {
				break
			}
			if !dropped[it.ID] && !it.Protected {
				drop = append(drop, it.ID)
				dropped[it.ID] = true
				held -= it.Bytes
			}
		}
	}
	return drop
}
