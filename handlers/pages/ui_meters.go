package pages

import (
	"context"
	"fmt"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/monitor"
	"github.com/ctpanel/ctpanel/ubc"
)

// meter is one bar of the container page's usage in plain words: "RAM
// 120 MiB of 256 MiB".
type meter struct {
	Name string
	// Text says the figures; Percent (0 to 100) fills the bar when there
	// is a limit to fill it against.
	Text    string
	Percent float64
	Limited bool
	// Level is "ok", "warn" (at 80 %) or "bad" (at 95 %).
	Level string
}

func newMeter(name string, used, limit uint64, format func(uint64) string) meter {
	m := meter{Name: name, Level: "ok"}
	if limit == 0 || limit >= uint64(lxcdriver.Unlimited) {
		m.Text = format(used) + ", no limit"
		return m
	}
	m.Limited = true
	m.Percent = min(100, 100*float64(used)/float64(limit))
	m.Text = format(used) + " of " + format(limit)
	switch {
	case m.Percent >= 95:
		m.Level = "bad"
	case m.Percent >= 80:
		m.Level = "warn"
	}
	return m
}

func count(n uint64) string { return fmt.Sprint(n) }

func pct(n uint64) string { return fmt.Sprintf("%d %%", n) }

// metersOf lays out the meters from the live beancounter rows, the disk
// (nil: none of its own), the CPU used over the last minutes in per cent
// of one CPU and the container's cpulimit (nil: no cap), and this month's
// traffic (nil: not counted).
func metersOf(rows []monitor.Row, disk *lxcdriver.DiskUsage, cpuPct *float64, cpuLimit *uint64, trafficIn, trafficOut *uint64) []meter {
	var out []meter
	for _, r := range rows {
		if r.Resource == lxcdriver.ResPhysPages {
			lim := r.Limit
			if lim < uint64(lxcdriver.Unlimited)/4096 {
				lim *= 4096
			} else {
				lim = 0
			}
			out = append(out, newMeter("Memory", r.Held*4096, lim, ubc.FormatBytes))
		}
	}
	if cpuPct != nil {
		var lim uint64
		if cpuLimit != nil {
			lim = *cpuLimit
		}
		out = append(out, newMeter("CPU (5-minute average, % of one CPU)", uint64(*cpuPct+0.5), lim, pct))
	}
	if disk != nil {
		out = append(out, newMeter("Disk", disk.UsedBytes, disk.SizeBytes, ubc.FormatBytes))
	}
	for _, r := range rows {
		if r.Resource == lxcdriver.ResNumProc {
			out = append(out, newMeter("Processes", r.Held, r.Limit, count))
		}
	}
	if trafficIn != nil && trafficOut != nil {
		out = append(out, meter{Name: "Traffic this month", Level: "ok",
			Text: ubc.FormatBytes(*trafficIn) + " in, " + ubc.FormatBytes(*trafficOut) + " out"})
	}
	return out
}

// meters gathers what metersOf needs for container c as p sees it.
func (u *UI) meters(ctx context.Context, p db.Principal, c db.Container, rows []monitor.Row) []meter {
	ref := fmt.Sprint(c.CTID)
	disk, err := u.Containers.Disk(ctx, p, ref)
	if err != nil {
		u.Log.Warn("container page: disk", "ctid", c.CTID, "err", err)
	}
	now := time.Now()
	var cpuPct *float64
	if len(rows) > 0 {
		if v, ok, err := u.Containers.CPUPercent(ctx, p, ref, now.Add(-5*time.Minute), now); err == nil && ok {
			cpuPct = &v
		}
	}
	spec, _ := ubc.Decode(c.Limits)
	var cpuLimit *uint64
	if spec.CPULimit != nil && *spec.CPULimit > 0 {
		cpuLimit = spec.CPULimit
	}
	month := containers.MonthStart(now)
	var in, out *uint64
	if hours, err := u.Containers.Traffic(ctx, p, ref, month, now); err == nil {
		var i, o uint64
		for _, h := range hours {
			i, o = i+h.InBytes, o+h.OutBytes
		}
		in, out = &i, &o
	}
	return metersOf(rows, disk, cpuPct, cpuLimit, in, out)
}
