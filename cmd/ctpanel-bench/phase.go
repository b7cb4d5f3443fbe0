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

// split divides a panel step by the client's clock and the operation's
// timestamps (PostgreSQL's now(), the same host clock).
type split struct {
	op       string
	answered time.Time     // the 202 arrived: the operation and its job are committed
	request  time.Duration // request sent → 202 (auth, checks, the queuing transaction)
	queue    time.Duration // 202 → worker starts the operation
	run      time.Duration // started → finished: the driver's work
	notify   time.Duration // finished → the client has the answer (state record, /wait wake-up)
	// river is the part of queue until River handed the job to a worker
	// (river_job.attempted_at), the rest being the worker's own reads and
	// writes; hasRiver says whether it is known.
	river    time.Duration
	hasRiver bool
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

// setRiver fills in each panel sample's River part of the queue time
// from the job attempt times by operation id.
func (r *phaseResult) setRiver(attempted map[string]time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ss := range r.samples {
		for _, s := range ss {
			if sp := s.split; sp != nil {
				if t, ok := attempted[sp.op]; ok {
					sp.river, sp.hasRiver = t.Sub(sp.answered), true
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
	mu       sync.Mutex
	kicks    int // freezes that hung in FREEZING until kicked
}

// freezeStuckAfter is how long a raw freeze may take before the bench
// decides liblxc is waiting on a freezer stuck in FREEZING. liblxc
// rereads it once a second, so a slow freeze takes a few seconds at most.
const freezeStuckAfter = 10 * time.Second

// freeze is liblxc's freeze, kicked if it hangs: liblxc would wait
// forever on a v1 freezer left FREEZING. The kick is the bench's, the
// time the sample records is liblxc's.
func (r *rawTarget) freeze(name string) error {
	done := make(chan error, 1)
	go func() { done <- liblxc.RawFreeze(r.lxcpath, name) }()
	select {
	case err := <-done:
		return err
	case <-time.After(freezeStuckAfter):
	}
	r.mu.Lock()
	r.kicks++
	r.mu.Unlock()
	for {
		if err := liblxc.RawKickFreezer(r.lxcpath, name); err != nil {
			return fmt.Errorf("raw freeze stuck in FREEZING for %s, and the kick failed: %w", freezeStuckAfter, err)
		}
		select {
		case err := <-done:
			return err
		case <-time.After(time.Second):
		}
	}
}

func (r *rawTarget) stuckFreezes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kicks
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
		err = r.freeze(name)
	case stepUnfreeze:
		err = liblxc.RawUnfreeze(r.lxcpath, name)
	case stepStop:
		err = liblxc.RawStop(r.lxcpath, name)
	case stepDestroy:
		err = liblxc.RawDestroy(ctx, r.lxcpath, name)
	default:
		err = fmt.Errorf("unknown step %q", step)
	}
	return sample{total: time.Since(t0)}, err
}
