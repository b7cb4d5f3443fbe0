package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Targets the numbers are held against; informational, the exit code does
// not depend on them.
const (
	targetOverhead  = 0.25 // the panel adds at most 25% to raw liblxc
	targetFreezeP99 = 20 * time.Millisecond
)

// stats summarises one step's samples. Percentiles are nearest-rank, so
// with fewer than 100 samples p99 is the maximum.
type stats struct {
	N      int     `json:"n"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

func summarise(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(i, 0)]
	}
	return stats{N: len(s), MeanMS: ms(sum / time.Duration(len(s))), P50MS: ms(rank(0.50)),
		P99MS: ms(rank(0.99)), MaxMS: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// splitMeans is the mean of each part of a panel step.
type splitMeans struct {
	RequestMS float64 `json:"request_ms"`
	QueueMS   float64 `json:"queue_ms"`
	// RiverMS is the part of QueueMS until River handed the job over.
	RiverMS  float64 `json:"river_ms"`
	RunMS    float64 `json:"run_ms"`
	NotifyMS float64 `json:"notify_ms"`
}

type phaseReport struct {
	WallMS float64               `json:"wall_ms"`
	Steps  map[string]stats      `json:"steps"`
	Split  map[string]splitMeans `json:"split,omitempty"`
	// FreezeRun is the panel's freeze as its worker timed it (the
	// driver's call), without the REST and queue around it.
	FreezeRun *stats `json:"freeze_run,omitempty"`
}

func newPhaseReport(r *phaseResult) phaseReport {
	pr := phaseReport{WallMS: ms(r.wall), Steps: map[string]stats{}}
	for _, step := range steps {
		var totals, runs []time.Duration
		var sum split
		var nRiver time.Duration
		for _, s := range r.samples[step] {
			totals = append(totals, s.total)
			if sp := s.split; sp != nil {
				runs = append(runs, sp.run)
				sum.request += sp.request
				sum.queue += sp.queue
				sum.run += sp.run
				sum.notify += sp.notify
				if sp.hasRiver {
					sum.river += sp.river
					nRiver++
				}
			}
		}
		pr.Steps[step] = summarise(totals)
		if n := time.Duration(len(runs)); n > 0 {
			if pr.Split == nil {
				pr.Split = map[string]splitMeans{}
			}
			sm := splitMeans{RequestMS: ms(sum.request / n), QueueMS: ms(sum.queue / n),
				RunMS: ms(sum.run / n), NotifyMS: ms(sum.notify / n)}
			if nRiver > 0 {
				sm.RiverMS = ms(sum.river / nRiver)
			}
			pr.Split[step] = sm
			if step == stepFreeze {
				st := summarise(runs)
				pr.FreezeRun = &st
			}
		}
	}
	return pr
}

type targetResult struct {
	Target string `json:"target"`
	Figure string `json:"figure"`
	Pass   bool   `json:"pass"`
}

// report is the whole output; -json prints it as is.
type report struct {
	Containers   int    `json:"containers"`
	Parallel     int    `json:"parallel"`
	FreezeRounds int    `json:"freeze_rounds"`
	Turns        int    `json:"turns"`
	Snapshot     bool   `json:"snapshot"`
	LXCPath      string `json:"lxcpath"`
	// Fixed is the headline: the fixed cost per step, one at a time.
	Fixed *fixedReport `json:"fixed_cost,omitempty"`
	Panel phaseReport  `json:"panel"`
	Raw   phaseReport  `json:"raw"`
	// WallRatio is panel wall time over raw wall time.
	WallRatio float64 `json:"wall_ratio"`
	// NoFreezeRatio compares the sums of the mean clone, start, stop and
	// destroy times: the ratio without raw liblxc's freezer sleeps.
	NoFreezeRatio float64 `json:"no_freeze_ratio"`
	// StuckRawFreezes counts raw freezes that hung in FREEZING until the
	// bench asked the freezer again.
	StuckRawFreezes int `json:"stuck_raw_freezes"`
	// Floor is the REST floor: the cheapest requests, one at a time.
	Floor map[string]stats `json:"rest_floor"`
	// Deadlocks counts liblxc children the watchdog killed; TurnsRerun
	// the turns whose figures were dropped for it.
	Deadlocks  int            `json:"deadlocks"`
	TurnsRerun int            `json:"turns_rerun"`
	Targets    []targetResult `json:"targets"`
}

func newReport(o options, lxcpath string, panel, raw *phaseResult) report {
	r := report{Containers: o.count, Parallel: o.parallel, FreezeRounds: o.freezeRounds, Turns: turnsFor(o), Snapshot: o.snapshot,
		LXCPath: lxcpath, Panel: newPhaseReport(panel), Raw: newPhaseReport(raw)}
	r.WallRatio = r.Panel.WallMS / r.Raw.WallMS
	var p, q float64
	for _, step := range []string{stepClone, stepStart, stepStop, stepDestroy} {
		p += r.Panel.Steps[step].MeanMS
		q += r.Raw.Steps[step].MeanMS
	}
	r.NoFreezeRatio = p / q
	r.Targets = []targetResult{
		{Target: fmt.Sprintf("panel adds <= %.0f%% to raw (wall time)", targetOverhead*100),
			Figure: overhead(r.WallRatio), Pass: r.WallRatio <= 1+targetOverhead},
		{Target: fmt.Sprintf("panel adds <= %.0f%% to raw (clone, start, stop, destroy means)", targetOverhead*100),
			Figure: overhead(r.NoFreezeRatio), Pass: r.NoFreezeRatio <= 1+targetOverhead},
		{Target: fmt.Sprintf("freeze p99 < %s, panel (REST, end to end)", targetFreezeP99),
			Figure: fmtMS(r.Panel.Steps[stepFreeze].P99MS), Pass: r.Panel.Steps[stepFreeze].P99MS < ms(targetFreezeP99)},
		{Target: fmt.Sprintf("freeze p99 < %s, raw go-lxc", targetFreezeP99),
			Figure: fmtMS(r.Raw.Steps[stepFreeze].P99MS), Pass: r.Raw.Steps[stepFreeze].P99MS < ms(targetFreezeP99)},
	}
	return r
}

func overhead(ratio float64) string { return fmt.Sprintf("%.2fx (%+.0f%%)", ratio, (ratio-1)*100) }

func fmtMS(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.1fs", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	}
	return fmt.Sprintf("%.1fms", v)
}

func (r report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r report) writeTable(w io.Writer) error {
	var b strings.Builder
	kind := "full copies"
	if r.Snapshot {
		kind = "overlay snapshots"
	}
	fmt.Fprintf(&b, "ctpanel-bench: %d busybox containers per phase, %d in parallel, clones as %s, %d freeze rounds each, phases taking %d turn(s)\n",
		r.Containers, r.Parallel, kind, r.FreezeRounds, r.Turns)
	fmt.Fprintf(&b, "panel = REST request + /wait for its operation; raw = go-lxc called directly (lxc-copy for clone, lxc-start for start)\n\n")
	if r.StuckRawFreezes > 0 {
		fmt.Fprintf(&b, "!! %d raw go-lxc freeze(s) hung with the freezer stuck in FREEZING (liblxc never asks again); the bench\n"+
			"!! asked the freezer again after %s; those samples include the wait\n\n", r.StuckRawFreezes, freezeStuckAfter)
	}
	if r.Deadlocks > 0 {
		fmt.Fprintf(&b, "!! %d liblxc clone child(ren) forked inside the panel deadlocked (setgid after a raw clone in a multi-threaded\n"+
			"!! process) and were killed after %s; %d turn(s) were run again and their first figures dropped\n\n",
			r.Deadlocks, hungAfter, r.TurnsRerun)
	}
	fmt.Fprintf(&b, "%-9s %4s   %-26s   %-26s   %s\n", "", "", "panel", "raw liblxc", "panel/raw")
	fmt.Fprintf(&b, "%-9s %4s   %8s %8s %8s   %8s %8s %8s   %s\n", "step", "n", "mean", "p50", "p99", "mean", "p50", "p99", "(means)")
	for _, step := range steps {
		p, q := r.Panel.Steps[step], r.Raw.Steps[step]
		fmt.Fprintf(&b, "%-9s %4d   %8s %8s %8s   %8s %8s %8s   %s\n", step, p.N,
			fmtMS(p.MeanMS), fmtMS(p.P50MS), fmtMS(p.P99MS), fmtMS(q.MeanMS), fmtMS(q.P50MS), fmtMS(q.P99MS),
			overhead(p.MeanMS/q.MeanMS))
	}
	fmt.Fprintf(&b, "%-9s %4s   %8s %26s   %s\n", "wall", "", fmtMS(r.Panel.WallMS), fmtMS(r.Raw.WallMS), overhead(r.WallRatio))
	fmt.Fprintf(&b, "without freeze/unfreeze (sum of clone, start, stop, destroy means): %s\n\n", overhead(r.NoFreezeRatio))

	fmt.Fprintf(&b, "where a panel step's time goes (means; from the operation's timestamps):\n")
	fmt.Fprintf(&b, "%-9s %8s %8s %8s %8s %8s   %s\n", "step", "request", "queue", "(river)", "run", "notify", "run vs raw")
	for _, step := range steps {
		sp, ok := r.Panel.Split[step]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "%-9s %8s %8s %8s %8s %8s   %s\n", step, fmtMS(sp.RequestMS), fmtMS(sp.QueueMS), fmtMS(sp.RiverMS),
			fmtMS(sp.RunMS), fmtMS(sp.NotifyMS), overhead(sp.RunMS/r.Raw.Steps[step].MeanMS))
	}
	fmt.Fprintf(&b, "  request: sent to 202 (auth, checks, the transaction that records the operation)\n")
	fmt.Fprintf(&b, "  queue: 202 to the operation starting. An action on an idle container starts in its request, so 0;\n")
	fmt.Fprintf(&b, "    one queued behind another waits for River: (river) is the part until River hands over the job,\n")
	fmt.Fprintf(&b, "    the rest the worker's claim\n")
	fmt.Fprintf(&b, "  run: the driver (from the 202 when it started in the request); notify: finished to the client\n")
	fmt.Fprintf(&b, "    having the answer (the outcome's commit, the /wait wake-up)\n\n")

	h, g := r.Floor["healthz"], r.Floor["get_operation"]
	fmt.Fprintf(&b, "REST floor (%d requests each, one at a time, idle panel): GET /healthz p50 %s p99 %s; "+
		"GET /api/v1/operations/{id} (bearer auth) p50 %s p99 %s\n\n", h.N, fmtMS(h.P50MS), fmtMS(h.P99MS), fmtMS(g.P50MS), fmtMS(g.P99MS))

	run := stats{}
	if r.Panel.FreezeRun != nil {
		run = *r.Panel.FreezeRun
	}
	fmt.Fprintf(&b, "freeze latency (%d samples each): panel p50 %s p99 %s (its run: p50 %s p99 %s); raw p50 %s p99 %s\n",
		r.Panel.Steps[stepFreeze].N, fmtMS(r.Panel.Steps[stepFreeze].P50MS), fmtMS(r.Panel.Steps[stepFreeze].P99MS),
		fmtMS(run.P50MS), fmtMS(run.P99MS),
		fmtMS(r.Raw.Steps[stepFreeze].P50MS), fmtMS(r.Raw.Steps[stepFreeze].P99MS))
	fmt.Fprintf(&b, "\ntargets (informational):\n")
	for _, t := range r.Targets {
		verdict := "MISS"
		if t.Pass {
			verdict = "PASS"
		}
		fmt.Fprintf(&b, "  %-4s target: %s: %s\n", verdict, t.Target, t.Figure)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
