package ops_test

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/db/dbtest"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/ops"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type env struct {
	store  *db.Store
	drv    *lxcdriver.Fake
	runner *ops.Runner
	queue  *ops.Queue
}

// newEnv is a runner on a fresh database and the fake driver, with an
// insert-only River client: no River worker runs, so whatever runs was
// started by the runner itself.
func newEnv(t *testing.T) *env {
	t.Helper()
	pool := dbtest.Pool(t)
	store := db.New(pool)
	drv := lxcdriver.NewFake()
	runner := &ops.Runner{Store: store, Drv: drv, Hub: ops.NewHub(), Log: slog.New(slog.DiscardHandler)}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		runner.StopLane(ctx)
	})
	e := &env{store: store, drv: drv, runner: runner, queue: &ops.Queue{Client: client, Runner: runner}}
	ctx := context.Background()
	dbtest.Must(t, store.InsertContainer(ctx, db.Container{CTID: 101, Template: "busybox", Phase: db.PhaseReady}))
	dbtest.Must(t, drv.Create(ctx, "101", lxcdriver.CreateOptions{Template: "busybox"}))
	return e
}

// record records a in one transaction, started at once when now, and
// hands it to the queue after the commit, as the domain layer does.
func (e *env) record(t *testing.T, a ops.Action, now bool) db.Operation {
	t.Helper()
	ctx := context.Background()
	var op db.Operation
	err := e.store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		if _, err := q.LockContainer(ctx, 101); err != nil {
			return err
		}
		var err error
		if now {
			op, err = e.queue.EnqueueNow(ctx, tx, q, 101, a, db.AuditEntry{Actor: "test"})
		} else {
			op, err = e.queue.Enqueue(ctx, tx, q, 101, a, db.AuditEntry{Actor: "test"})
		}
		return err
	})
	e.queue.AfterCommit(op, err)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// recordOnly records a started at once, and leaves it to the caller to
// hand over.
func (e *env) recordOnly(t *testing.T, a ops.Action) db.Operation {
	t.Helper()
	ctx := context.Background()
	var op db.Operation
	err := e.store.InTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		var err error
		op, err = e.queue.EnqueueNow(ctx, tx, q, 101, a, db.AuditEntry{Actor: "test"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func (e *env) wait(t *testing.T, id string) db.Operation {
	t.Helper()
	op, err := ops.Wait(context.Background(), e.store, e.runner.Hub, id, 10*time.Second)
	if err != nil || !op.Done() {
		t.Fatalf("operation %s: %+v %v", id, op, err)
	}
	return op
}

// TestParamsKeepTheirStoredForm: rows written before actions had types of
// their own (one Params struct, the same JSON names) still run as they
// were asked to.
func TestParamsKeepTheirStoredForm(t *testing.T) {
	for _, tc := range []struct {
		action string
		params string
		want   ops.Action
	}{
		{ops.ActionShutdown, `{"timeout":5}`, &ops.Shutdown{Timeout: 5}},
		{ops.ActionRestart, `{"timeout":7}`, &ops.Restart{Timeout: 7}},
		{ops.ActionDestroy, `{"force":true}`, &ops.Destroy{Force: true}},
		{ops.ActionClone, `{"source_ctid":101,"snapshot":true,"start":true}`, &ops.Clone{SourceCTID: 101, Snapshot: true, Start: true}},
		{ops.ActionCreate, `{"start":true,"root_hash":"$6$x","ssh_keys":["ssh-ed25519 AAAA"]}`,
			&ops.Create{Start: true, RootHash: "$6$x", SSHKeys: []string{"ssh-ed25519 AAAA"}}},
		{ops.ActionSuspend, `{"mode":"freeze"}`, &ops.Suspend{Mode: "freeze"}},
		{ops.ActionUnsuspend, `{"mode":"stop"}`, &ops.Unsuspend{Mode: "stop"}},
		{ops.ActionReinstall, `{"template":"deb12","root_hash":"$6$y"}`, &ops.Reinstall{Template: "deb12", RootHash: "$6$y"}},
		{ops.ActionPassword, `{"root_hash":"$6$z"}`, &ops.SetCredentials{RootHash: "$6$z"}},
		{ops.ActionSetLimits, `{"previous_limits":{"numproc":{"barrier":10,"limit":10}},"previous_plan_id":3}`,
			&ops.SetLimits{PreviousLimits: []byte(`{"numproc":{"barrier":10,"limit":10}}`), PreviousPlanID: ptr(int64(3))}},
		{ops.ActionStart, `{}`, &ops.Start{}},
		{ops.ActionStop, `null`, &ops.Stop{}},
		{ops.ActionFreeze, ``, &ops.Freeze{}},
		{ops.ActionUnfreeze, `{}`, &ops.Unfreeze{}},
		{ops.ActionConfigure, `{}`, &ops.Configure{}},
	} {
		got, err := ops.DecodeAction(db.Operation{ID: "x", Action: tc.action, Params: []byte(tc.params)})
		if err != nil {
			t.Errorf("%s %s: %v", tc.action, tc.params, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) || got.ActionName() != tc.action {
			t.Errorf("%s %s: decoded %#v, want %#v", tc.action, tc.params, got, tc.want)
		}
	}
	if _, err := ops.DecodeAction(db.Operation{ID: "x", Action: "teleport"}); err == nil {
		t.Error("an unknown action decoded")
	}
}

func ptr[T any](v T) *T { return &v }

// TestQueuedJobSnoozesInsteadOfWaiting: a job whose operation waits behind
// another returns at once with a snooze, holding no River worker; when the
// operation before it finishes, the runner starts it itself.
func TestQueuedJobSnoozesInsteadOfWaiting(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// The first is recorded running but not handed over yet: it stands for
	// an operation still at work.
	first := e.recordOnly(t, &ops.Start{})
	if first.Status != db.OpRunning {
		t.Fatalf("start on an idle container: %s, want running", first.Status)
	}
	second := e.record(t, &ops.Freeze{}, true)
	if second.Status != db.OpPending {
		t.Fatalf("freeze behind the start: %s, want pending", second.Status)
	}
	began := time.Now()
	err := e.runner.Work(ctx, &river.Job[ops.JobArgs]{JobRow: &rivertype.JobRow{ID: 1}, Args: ops.JobArgs{OperationID: second.ID}})
	var snooze *river.JobSnoozeError
	if !errors.As(err, &snooze) || snooze.Duration <= 0 {
		t.Fatalf("Work on a queued operation: %v, want a snooze", err)
	}
	if d := time.Since(began); d > 100*time.Millisecond {
		t.Fatalf("Work held its worker %s", d)
	}
	e.queue.AfterCommit(first, nil)
	if got := e.wait(t, first.ID); got.Status != db.OpSucceeded {
		t.Fatalf("start: %s %s", got.Status, got.Error)
	}
	// Nothing but the runner can have run the freeze: no River worker runs.
	if got := e.wait(t, second.ID); got.Status != db.OpSucceeded {
		t.Fatalf("freeze: %s %s", got.Status, got.Error)
	}
	if st, _ := e.drv.State(ctx, "101"); st != lxcdriver.StateFrozen {
		t.Fatalf("state %s, want frozen", st)
	}
	// Its job, coming round later, finds it done.
	if err := e.runner.Work(ctx, &river.Job[ops.JobArgs]{JobRow: &rivertype.JobRow{ID: 1}, Args: ops.JobArgs{OperationID: second.ID}}); err != nil {
		t.Fatalf("Work on a finished operation: %v", err)
	}
}

// TestQueuedOperationHasItsJobOnRecord: a queued operation names the River
// job that will run it, so start-up asks River about it by id.
func TestQueuedOperationHasItsJobOnRecord(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	op := e.record(t, &ops.Configure{}, false)
	list, err := e.store.UnfinishedOperations(ctx)
	if err != nil || len(list) != 1 || list[0].ID != op.ID || list[0].JobID == nil {
		t.Fatalf("unfinished: %+v %v", list, err)
	}
	job, err := e.queue.Client.JobGet(ctx, *list[0].JobID)
	if err != nil || job.Kind != (ops.JobArgs{}).Kind() || job.State != rivertype.JobStateAvailable {
		t.Fatalf("its job: %+v %v", job, err)
	}
}
