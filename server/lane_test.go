package server

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/ops"
)

// riverJobs reads the River jobs of an operation: how many there are and
// whether River ever handed one to a worker.
func (p *testPanel) riverJobs(opID string) (n int, attempted bool) {
	p.t.Helper()
	if err := p.app.Pool.QueryRow(context.Background(), `SELECT count(*), bool_or(attempted_at IS NOT NULL) IS TRUE
		FROM river_job WHERE kind = 'container_operation' AND args->>'operation_id' = $1`, opID).Scan(&n, &attempted); err != nil {
		p.t.Fatalf("river jobs of %s: %v", opID, err)
	}
	return n, attempted
}

// heldFake is the fake driver whose Unfreeze, while hold is set, waits
// for release (after saying so on entered).
type heldFake struct {
	*lxcdriver.Fake
	hold    atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (f *heldFake) Unfreeze(ctx context.Context, name string) error {
	if f.hold.Load() {
		f.entered <- struct{}{}
		<-f.release
	}
	return f.Fake.Unfreeze(ctx, name)
}

// An action on an idle container runs at once in the process that took
// the request, without a River job; one queued behind another is River's;
// after a crash, start-up gives an interrupted one a job.
func TestActionOnIdleContainerRunsAtOnce(t *testing.T) {
	drv := &heldFake{Fake: lxcdriver.NewFake(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	p := newTestPanel(t, drv, "")
	ctx := context.Background()
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true})

	op := p.ok(p.admin, "POST", "/api/v1/containers/101/freeze", nil)
	if n, _ := p.riverJobs(op["id"].(string)); n != 0 {
		t.Fatalf("the freeze on an idle container has %d River job(s), want none", n)
	}
	if st, _ := drv.State(ctx, "101"); st != lxcdriver.StateFrozen {
		t.Fatalf("after the freeze the container is %s", st)
	}

	// While a freeze started at once is held in the driver, an unfreeze
	// finds the container busy: it is queued for River, and runs after.
	drv.hold.Store(true)
	held := p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/unfreeze", nil), http.StatusAccepted).json(t)
	<-drv.entered
	if held["status"] != db.OpRunning {
		t.Fatalf("the unfreeze on an idle container: %v", held)
	}
	behind := p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/freeze", nil), http.StatusAccepted).json(t)
	if behind["status"] != db.OpPending {
		t.Fatalf("the freeze behind a running unfreeze: %v", behind)
	}
	drv.hold.Store(false)
	close(drv.release)
	for _, o := range []map[string]any{held, behind} {
		m := p.expect(p.do(p.admin, "GET", "/api/v1/operations/"+o["id"].(string)+"/wait?timeout=30", nil), http.StatusOK).json(t)
		if m["status"] != db.OpSucceeded {
			t.Fatalf("%v: %v", o["action"], m)
		}
	}
	if n, _ := p.riverJobs(held["id"].(string)); n != 0 {
		t.Fatalf("the unfreeze started at once has %d River job(s)", n)
	}
	// Its job is the durable copy: the runner may start the freeze in
	// the process as soon as the unfreeze ends, before River fetches the
	// job, which then finds it done. Either way River works it.
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, attempted := p.riverJobs(behind["id"].(string))
		if n == 1 && attempted {
			break
		}
		if n != 1 || time.Now().After(deadline) {
			t.Fatalf("the freeze queued behind it has %d River job(s), attempted %v; want one, worked", n, attempted)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, _ := drv.State(ctx, "101"); st != lxcdriver.StateFrozen {
		t.Fatalf("after unfreeze then freeze the container is %s", st)
	}

	// Many at once run one at a time, in the order they were accepted.
	var wg sync.WaitGroup
	locs := make([]string, 6)
	for i := range locs {
		action := []string{"unfreeze", "freeze"}[i%2]
		wg.Go(func() {
			r := p.do(p.admin, "POST", "/api/v1/containers/101/"+action, nil)
			if r.Status != http.StatusAccepted {
				t.Errorf("%s: %d %s", action, r.Status, r.Body)
			}
			locs[i] = r.Header.Get("Location")
		})
	}
	wg.Wait()
	var done []db.Operation
	for _, loc := range locs {
		m := p.expect(p.do(p.admin, "GET", loc+"/wait?timeout=30", nil), http.StatusOK).json(t)
		o, err := p.app.Store.GetOperation(ctx, m["id"].(string))
		if err != nil || o.Status != db.OpSucceeded {
			t.Fatalf("%v: %+v %v", m["action"], o, err)
		}
		done = append(done, o)
	}
	for _, a := range done {
		for _, b := range done {
			if a.Seq < b.Seq && b.StartedAt.Before(*a.FinishedAt) {
				t.Fatalf("%s (seq %d) started at %v, before %s (seq %d) finished at %v",
					b.Action, b.Seq, b.StartedAt, a.Action, a.Seq, a.FinishedAt)
			}
		}
	}

	// The state recorded is the last operation's, whatever order the
	// records of operations run back to back were written in.
	want, _ := drv.State(ctx, "101")
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := p.app.Store.GetContainer(ctx, 101)
		if err != nil {
			t.Fatal(err)
		}
		if c.LastState == string(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recorded state %q, the container is %s", c.LastState, want)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A crash between the request's commit and the run: the operation is
	// recorded running and nothing runs it. The next start does. An
	// operation queued for River whose job is gone (River deletes
	// discarded jobs after a week) is failed instead, not run again.
	var lost db.Operation
	err := p.app.Store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		var err error
		lost, err = p.app.Queue.EnqueueNow(ctx, tx, q, 101, &ops.Stop{}, db.AuditEntry{Actor: "test"})
		return err
	})
	if err != nil || lost.Status != db.OpRunning {
		t.Fatalf("stop recorded %+v, %v; want running", lost, err)
	}
	stale, err := p.app.Store.InsertOperation(ctx, 101, ops.ActionStart, &ops.Start{}, db.AuditEntry{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	p.restart()
	if got, err := p.app.Store.GetOperation(ctx, stale.ID); err != nil || got.Status != db.OpFailed {
		t.Fatalf("a queued operation without its job after a restart: %+v %v; want failed", got, err)
	}
	m := p.expect(p.do(p.admin, "GET", "/api/v1/operations/"+lost.ID+"/wait?timeout=30", nil), http.StatusOK).json(t)
	if m["status"] != db.OpSucceeded {
		t.Fatalf("the interrupted stop after a restart: %v", m)
	}
	if n, attempted := p.riverJobs(lost.ID); n != 1 || !attempted {
		t.Fatalf("the interrupted stop has %d River job(s), attempted %v; want one, run", n, attempted)
	}
	if st, _ := drv.State(ctx, "101"); st != lxcdriver.StateStopped {
		t.Fatalf("after the restart the container is %s, want stopped", st)
	}
}
