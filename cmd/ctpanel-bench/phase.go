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
	accept time.Duration // request sent → operation row (auth, validation, transaction start)
	queue  time.Duration // row → worker starts it (commit, River fetch, per-container ordering)
	run    time.Duration // the driver's work
	notify time.Duration // finished → client has the answer (commit, state record, /wait wake-up)
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

// runPhase takes every CTID through its whole life, parallel at a time,
// and stops at the first error (the caller's clean-up sweeps what is left).
func runPhase(ctx context.Context, t target, ctids []int, parallel, rounds int) (*phaseResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	res := &phaseResult{samples: map[string][]sample{}}
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range min(parallel, len(ctids)) {
		wg.Go(func() {
			for ctid := range next {
				if err := lifecycle(ctx, t, ctid, rounds, res); err != nil {
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
	res.wall = time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

func lifecycle(ctx context.Context, t target, ctid, rounds int, res *phaseResult) error {
	plan := []string{stepClone, stepStart}
	for range rounds {
		plan = append(plan, stepFreeze, stepUnfreeze)
	}
	plan = append(plan, stepStop, stepDestroy)
	for _, step := range plan {
		if err := ctx.Err(); err != nil {
			return err
		}
		s, err := t.do(ctx, step, ctid)
		if err != nil {
			return fmt.Errorf("%s %d: %w", step, ctid, err)
		}
		res.add(step, s)
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
