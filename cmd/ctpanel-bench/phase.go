package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
)

// Steps of one container's life, in order; freeze and unfreeze repeat
// -freeze-rounds times.
const (
	stepClone    = "clone"
	stepStart    = "start"
	stepFreeze   = "freeze"
	stepUnfreeze = "unfreeze"
	stepStop     = "stop"
	stepDestroy  = "destroy"
)

var steps = []string{stepClone, stepStart, stepFreeze, stepUnfreeze, stepStop, stepDestroy}

// sample is one step on one container.
type sample struct {
	total time.Duration
	split *split // panel only
}

// split divides a panel step by the operation's timestamps.
type split struct {
	op      string        // operation id
	created time.Time     // operation row (and River job) written
	accept  time.Duration // request sent → operation row (auth, validation, transaction start)
	queue   time.Duration // row → worker starts it (commit, River fetch, per-container ordering)
	run     time.Duration // the driver's work
	notify  time.Duration // finished → client has the answer (commit, state record, /wait wake-up)
	// fetch is the part of queue until River handed the job to a worker
	// (its river_job.attempted_at); zero when unknown.
	fetch time.Duration
}

// target carries out one step on one container.
type target interface {
	do(ctx context.Context, step string, ctid int) (sample, error)
}

// phaseResult is every sample of one phase and its wall time.
type phaseResult struct {
	mu      sync.Mutex
	samples map[string][]sample
	wall    time.Duration
}

func (r *phaseResult) add(step string, s sample) {
	r.mu.Lock()
	r.samples[step] = append(r.samples[step], s)
	r.mu.Unlock()
}

// setFetch fills in each panel sample's River fetch time from the job
// attempt times by operation id.
func (r *phaseResult) setFetch(attempted map[string]time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ss := range r.samples {
		for _, s := range ss {
			if sp := s.split; sp != nil {
				if t, ok := attempted[sp.op]; ok {
					sp.fetch = t.Sub(sp.created)
				}
			}
		}
	}
}

// merge adds o's samples and wall time to r.
func (r *phaseResult) merge(o *phaseResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for step, ss := range o.samples {
		r.samples[step] = append(r.samples[step], ss...)
	}
	r.wall += o.wall
}

func newPhaseResult() *phaseResult { return &phaseResult{samples: map[string][]sample{}} }

// runPhase takes every CTID through its whole life, parallel at a time,
// adding samples and wall time to res, and stops at the first error (the
// caller's clean-up sweeps what is left). deadlocks counts the watchdog's
// kills: a step that fails while it rises is tried again.
func runPhase(ctx context.Context, t target, ctids []int, parallel, rounds int, res *phaseResult, deadlocks func() int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range min(parallel, len(ctids)) {
		wg.Go(func() {
			for ctid := range next {
				if err := lifecycle(ctx, t, ctid, rounds, res, deadlocks); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
feed:
	for _, id := range ctids {
		select {
		case next <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	res.wall += time.Since(start)
	return context.Cause(ctx)
}

// maxStepTries bounds the tries of a step that failed because the
// watchdog killed a deadlocked child.
const maxStepTries = 3

func lifecycle(ctx context.Context, t target, ctid, rounds int, res *phaseResult, deadlocks func() int) error {
	plan := []string{stepClone, stepStart}
	for range rounds {
		plan = append(plan, stepFreeze, stepUnfreeze)
	}
	plan = append(plan, stepStop, stepDestroy)
	for _, step := range plan {
		for try := 1; ; try++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			before := deadlocks()
			s, err := t.do(ctx, step, ctid)
			if err == nil {
				res.add(step, s)
				break
			}
			// A clone whose child the watchdog killed has been undone
			// (the panel removes a failed clone and its row), so the
			// container's life can go on; the turn's figures are
			// dropped by the caller.
			if deadlocks() == before || try == maxStepTries {
				return fmt.Errorf("%s %d: %w", step, ctid, err)
			}
		}
	}
	return nil
}

// panelTarget goes through the REST API: a request and a wait per step.
type panelTarget struct {
	api      *client
	snapshot bool
}

func (p *panelTarget) do(ctx context.Context, step string, ctid int) (sample, error) {
	path := "/api/v1/containers/" + strconv.Itoa(ctid)
	switch step {
	case stepClone:
		return p.api.op(ctx, http.MethodPost, "/api/v1/containers/"+strconv.Itoa(baseCTID)+"/clone",
			map[string]any{"ctid": ctid, "snapshot": p.snapshot})
	case stepDestroy:
		return p.api.op(ctx, http.MethodDelete, path+"?force=true", nil)
	}
	return p.api.op(ctx, http.MethodPost, path+"/"+step, nil)
}

// rawTarget calls go-lxc directly through liblxc's Raw functions.
type rawTarget struct {
	lxcpath  string
	snapshot bool
}

func (r *rawTarget) do(ctx context.Context, step string, ctid int) (sample, error) {
	name := strconv.Itoa(ctid)
	t0 := time.Now()
	var err error
	switch step {
	case stepClone:
		err = liblxc.RawClone(ctx, r.lxcpath, strconv.Itoa(baseCTID), name, r.snapshot)
	case stepStart:
		err = liblxc.RawStart(ctx, r.lxcpath, name)
	case stepFreeze:
		err = liblxc.RawFreeze(r.lxcpath, name)
	case stepUnfreeze:
		err = liblxc.RawUnfreeze(r.lxcpath, name)
	case stepStop:
		err = liblxc.RawStop(r.lxcpath, name)
	case stepDestroy:
		err = liblxc.RawDestroy(r.lxcpath, name)
	default:
		err = fmt.Errorf("unknown step %q", step)
	}
	return sample{total: time.Since(t0)}, err
}
