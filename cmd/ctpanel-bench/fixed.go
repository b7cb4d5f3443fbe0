package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// targetFixed is what the panel may add to one step over raw go-lxc, one
// client and one container at a time.
const targetFixed = 3 * time.Millisecond

// fixedStep is one step's figures in the fixed-cost run: medians, so that
// one slow sample on a busy host does not move them.
type fixedStep struct {
	PanelP50MS float64 `json:"panel_p50_ms"`
	RawP50MS   float64 `json:"raw_p50_ms"`
	// AddedMS is PanelP50MS - RawP50MS: what the panel adds.
	AddedMS float64 `json:"added_ms"`
	// Where a panel step's time goes (medians): the request until its
	// 202 (auth, checks, the transaction that records the operation),
	// the run (202 or start to the operation's end, the driver's work
	// and the outcome's commit), and the notify (end to the client
	// having it: the /wait wake-up and answer).
	RequestMS float64 `json:"request_ms"`
	RunMS     float64 `json:"run_ms"`
	NotifyMS  float64 `json:"notify_ms"`
}

// fixedReport is the headline: the fixed cost per step.
type fixedReport struct {
	Rounds int                  `json:"rounds"`
	Steps  map[string]fixedStep `json:"steps"`
	// MeanAddedMS is the mean of the steps' added cost, the verdict's
	// figure; MedianAddedMS their median, which one noisy step moves less.
	MeanAddedMS   float64 `json:"mean_added_ms"`
	MedianAddedMS float64 `json:"median_added_ms"`
	Pass          bool    `json:"pass"`
}

// fixedCost takes rounds containers of each phase through their life one
// at a time, the two phases taking turns container by container, so that
// the figures show what the panel adds to each step by itself, without
// queueing or contention.
func (b *bench) fixedCost(ctx context.Context, panel, raw *phase, rounds int) (fixedReport, error) {
	pres, rres := newPhaseResult(), newPhaseResult()
	for i := range rounds {
		order := []*phase{panel, raw}
		if i%2 == 1 {
			order = []*phase{raw, panel}
		}
		for _, p := range order {
			res := rres
			if p == panel {
				res = pres
			}
			if err := runPhase(ctx, p.t, p.take(1), 1, 1, res, b.wd.kills); err != nil {
				return fixedReport{}, fmt.Errorf("fixed cost, %s: %w", p.name, err)
			}
		}
	}
	fr := fixedReport{Rounds: rounds, Steps: map[string]fixedStep{}}
	var sum float64
	var n int
	var added []time.Duration
	for _, step := range steps {
		var totals, raws, reqs, runs, notes []time.Duration
		for _, s := range pres.samples[step] {
			totals = append(totals, s.total)
			if sp := s.split; sp != nil {
				reqs, runs, notes = append(reqs, sp.request), append(runs, sp.run), append(notes, sp.notify)
			}
		}
		for _, s := range rres.samples[step] {
			raws = append(raws, s.total)
		}
		fs := fixedStep{PanelP50MS: ms(median(totals)), RawP50MS: ms(median(raws)),
			RequestMS: ms(median(reqs)), RunMS: ms(median(runs)), NotifyMS: ms(median(notes))}
		fs.AddedMS = fs.PanelP50MS - fs.RawP50MS
		fr.Steps[step] = fs
		sum += fs.AddedMS
		n++
		added = append(added, time.Duration(fs.AddedMS*float64(time.Millisecond)))
	}
	fr.MeanAddedMS = sum / float64(n)
	fr.MedianAddedMS = ms(median(added))
	fr.Pass = fr.MeanAddedMS <= ms(targetFixed)
	return fr, nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (fr fixedReport) write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "HEADLINE: what the panel adds to each step over raw go-lxc, one client and one container at a time\n")
	fmt.Fprintf(&b, "(%d containers each way, panel and raw taking turns container by container; medians)\n\n", fr.Rounds)
	fmt.Fprintf(&b, "%-9s %9s %9s %9s   %9s %9s %9s\n", "step", "panel", "raw", "added", "request", "run", "notify")
	for _, step := range steps {
		s := fr.Steps[step]
		fmt.Fprintf(&b, "%-9s %9s %9s %9s   %9s %9s %9s\n", step, fmtMS(s.PanelP50MS), fmtMS(s.RawP50MS),
			fmt.Sprintf("%+.1fms", s.AddedMS), fmtMS(s.RequestMS), fmtMS(s.RunMS), fmtMS(s.NotifyMS))
	}
	verdict := "MISS"
	if fr.Pass {
		verdict = "PASS"
	}
	fmt.Fprintf(&b, "\n%s fixed cost per step: %+.1fms (mean of the six steps' added medians; their median %+.1fms), target <= %s\n",
		verdict, fr.MeanAddedMS, fr.MedianAddedMS, targetFixed)
	fmt.Fprintf(&b, "  request: sent to 202 (auth, checks, the transaction recording the operation); run: 202 to the operation's\n"+
		"  end (the driver and the outcome's commit); notify: end to the client having it (/wait wake-up)\n\n")
	_, err := io.WriteString(w, b.String())
	return err
}
