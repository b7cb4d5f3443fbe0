package containers_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/db/dbtest"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/containers"
	"github.com/ctpanel/ctpanel/domain/domaintest"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/ops"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func ptr[T any](v T) *T { return &v }

// refusal asserts err is a domain refusal with status and, when field is
// set, a message for that field.
func refusal(t *testing.T, err error, status int, field string) *domain.Error {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) {
		t.Fatalf("want a %d refusal, got %v", status, err)
	}
	if de.Status != status {
		t.Fatalf("want status %d, got %d (%s)", status, de.Status, de.Message)
	}
	if field != "" && de.Fields[field] == "" {
		t.Fatalf("want a message for field %q, got %v", field, de.Fields)
	}
	return de
}

// create makes a container for owner (a customer's username, or "") and
// waits for it.
func create(t *testing.T, e *domaintest.Env, in containers.CreateInput) db.Container {
	t.Helper()
	ctx := context.Background()
	if in.Template == "" {
		in.Template = "busybox"
	}
	op, err := e.Containers.Create(ctx, domaintest.Staff(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Wait(t, op.ID); got.Status != db.OpSucceeded {
		t.Fatalf("create: %s: %s", got.Status, got.Error)
	}
	c, err := e.Store.GetContainer(ctx, op.CTID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCreateRefusesBadInputAndLeavesNothing(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	cases := []struct {
		name  string
		in    containers.CreateInput
		field string
	}{
		{"reserved ctid", containers.CreateInput{CTID: ptr(100), Template: "busybox"}, "ctid"},
		{"digits name", containers.CreateInput{Name: ptr("123"), Template: "busybox"}, "name"},
		{"no template", containers.CreateInput{}, "template"},
		{"unknown template", containers.CreateInput{Template: "nope"}, "template"},
		{"short root password", containers.CreateInput{Template: "busybox", RootPassword: ptr("short")}, "root_password"},
		{"bad ssh key", containers.CreateInput{Template: "busybox", SSHKeys: []string{"not a key"}}, "ssh_keys"},
		{"bad nameserver", containers.CreateInput{Template: "busybox", Nameservers: []string{"dns.example"}}, "nameserver"},
		{"unknown owner", containers.CreateInput{Template: "busybox", Owner: "ghost"}, "owner"},
		{"unknown plan", containers.CreateInput{Template: "busybox", Plan: "ghost"}, "plan"},
		{"bad hostname", containers.CreateInput{Template: "busybox", Hostname: "-bad-"}, "hostname"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Containers.Create(ctx, domaintest.Staff(), tc.in)
			refusal(t, err, http.StatusUnprocessableEntity, tc.field)
		})
	}
	list, err := e.Store.ListContainers(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := e.Drv.List(ctx)
	if len(list) != 0 || len(names) != 0 {
		t.Fatalf("refused creates left %d rows and %d liblxc containers", len(list), len(names))
	}
}

func TestLifecycleThroughTheDomain(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	staff := domaintest.Staff()
	c := create(t, e, containers.CreateInput{Name: ptr("web1"), Hostname: "web1.example", Start: true})
	if c.CTID != 101 || c.Phase != db.PhaseReady {
		t.Fatalf("created %d in phase %s, want 101 ready", c.CTID, c.Phase)
	}
	if st, _ := e.Drv.State(ctx, "101"); st != lxcdriver.StateRunning {
		t.Fatalf("state after create with start: %s", st)
	}
	for _, step := range []struct {
		action string
		want   lxcdriver.State
	}{{ops.ActionFreeze, lxcdriver.StateFrozen}, {ops.ActionUnfreeze, lxcdriver.StateRunning}, {ops.ActionStop, lxcdriver.StateStopped}} {
		op, err := e.Containers.Act(ctx, staff, "web1", step.action, nil)
		if err != nil {
			t.Fatalf("%s: %v", step.action, err)
		}
		if got := e.Wait(t, op.ID); got.Status != db.OpSucceeded {
			t.Fatalf("%s: %s %s", step.action, got.Status, got.Error)
		}
		if st, _ := e.Drv.State(ctx, "101"); st != step.want {
			t.Fatalf("after %s: %s, want %s", step.action, st, step.want)
		}
	}
	_, err := e.Containers.Act(ctx, staff, "101", ops.ActionStop, ptr(10))
	refusal(t, err, http.StatusUnprocessableEntity, "timeout")

	op, err := e.Containers.Destroy(ctx, staff, "101", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Wait(t, op.ID); got.Status != db.OpSucceeded {
		t.Fatalf("destroy: %s %s", got.Status, got.Error)
	}
	if _, err := e.Store.GetContainer(ctx, 101); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("row after destroy: %v", err)
	}
	var audited int
	if err := e.Store.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE ct_id = 101 AND details ? 'operation'`).Scan(&audited); err != nil {
		t.Fatal(err)
	}
	if audited < 5 {
		t.Fatalf("%d audit entries for 101, want one per action (5)", audited)
	}
}

func TestTenantsSeeAndTouchOnlyTheirOwn(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	alice, bob := e.Customer(t, "alice"), e.Customer(t, "bob")
	mine := create(t, e, containers.CreateInput{Owner: "alice"})
	create(t, e, containers.CreateInput{Owner: "bob"})

	if _, err := e.Containers.Get(ctx, bob, "101"); err == nil {
		t.Fatal("bob sees alice's container")
	} else {
		refusal(t, err, http.StatusNotFound, "")
	}
	list, err := e.Containers.List(ctx, alice)
	if err != nil || len(list) != 1 || list[0].CTID != mine.CTID {
		t.Fatalf("alice lists %v (%v), want only %d", list, err, mine.CTID)
	}
	for name, try := range map[string]func() error{
		"start another's": func() error { _, err := e.Containers.Act(ctx, bob, "101", ops.ActionStart, nil); return err },
		"reinstall another's": func() error {
			_, err := e.Containers.Reinstall(ctx, bob, "101", containers.ReinstallInput{Template: "busybox"})
			return err
		},
		"reset another's password": func() error { _, _, err := e.Containers.ResetPassword(ctx, bob, "101", nil, nil); return err },
		"exec in another's": func() error {
			_, err := e.Containers.Exec(ctx, bob, "101", containers.ExecInput{Command: []string{"true"}})
			return err
		},
	} {
		if err := try(); err == nil {
			t.Errorf("%s: allowed", name)
		} else if de := domain.AsError(err); de == nil || de.Status != http.StatusNotFound {
			t.Errorf("%s: %v, want a 404", name, err)
		}
	}
	// Staff-only actions are refused to a customer even on their own.
	for name, try := range map[string]func() error{
		"freeze":  func() error { _, err := e.Containers.Act(ctx, alice, "101", ops.ActionFreeze, nil); return err },
		"destroy": func() error { _, err := e.Containers.Destroy(ctx, alice, "101", true); return err },
		"limits": func() error {
			_, err := e.Containers.SetLimits(ctx, alice, "101", []byte(`{"numproc":"4000"}`))
			return err
		},
		"rename": func() error {
			n := ptr("mine")
			_, _, err := e.Containers.Update(ctx, alice, "101", containers.Update{Name: &n})
			return err
		},
		"create": func() error {
			_, err := e.Containers.Create(ctx, alice, containers.CreateInput{Template: "busybox"})
			return err
		},
	} {
		refusal(t, try(), http.StatusForbidden, "")
		_ = name
	}
}

func TestSuspendedContainerStaysDownForItsCustomer(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	alice := e.Customer(t, "alice")
	create(t, e, containers.CreateInput{Owner: "alice", Start: true})
	op, err := e.Containers.Suspend(ctx, domaintest.Staff(), "101", "", "invoice 7 overdue")
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, op.ID)
	if st, _ := e.Drv.State(ctx, "101"); st != lxcdriver.StateStopped {
		t.Fatalf("suspended (stop) container is %s", st)
	}
	_, err = e.Containers.Act(ctx, alice, "101", ops.ActionStart, nil)
	if de := refusal(t, err, http.StatusConflict, ""); de.Code != "suspended" {
		t.Fatalf("code %q, want suspended", de.Code)
	}
	_, err = e.Containers.Suspend(ctx, domaintest.Staff(), "101", "stop", "")
	if de := refusal(t, err, http.StatusConflict, ""); de.Code != "already_suspended" {
		t.Fatalf("code %q, want already_suspended", de.Code)
	}
	op, err = e.Containers.Unsuspend(ctx, domaintest.Staff(), "101")
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, op.ID)
	if st, _ := e.Drv.State(ctx, "101"); st != lxcdriver.StateRunning {
		t.Fatalf("unsuspended container is %s", st)
	}
}

func TestResetPasswordGeneratesOnceAndStoresNoPassword(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	create(t, e, containers.CreateInput{})
	op, generated, err := e.Containers.ResetPassword(ctx, domaintest.Staff(), "101", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(generated) != 16 {
		t.Fatalf("generated password %q, want 16 characters", generated)
	}
	e.Wait(t, op.ID)
	var params string
	if err := e.Store.Pool.QueryRow(ctx, `SELECT params::text FROM operations WHERE id = $1`, op.ID).Scan(&params); err != nil {
		t.Fatal(err)
	}
	if params == "" || contains(params, generated) || contains(params, "root_hash") {
		t.Fatalf("operation params %s keep the password or its hash after it ran", params)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestReusedCTIDShowsOnlyItsOwnOperations: a CTID given again after a
// terminate shows its new owner the new container's operations only.
func TestReusedCTIDShowsOnlyItsOwnOperations(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	alice, bob := e.Customer(t, "alice"), e.Customer(t, "bob")
	create(t, e, containers.CreateInput{CTID: ptr(101), Owner: "alice"})
	old, _, err := e.Containers.ResetPassword(ctx, domaintest.Staff(), "101", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, old.ID)
	term, err := e.Containers.Terminate(ctx, domaintest.Staff(), "101")
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, term.ID)
	// Rows are timestamped by the database's clock: the next life starts later.
	time.Sleep(10 * time.Millisecond)
	c := create(t, e, containers.CreateInput{CTID: ptr(101), Owner: "bob"})
	list, err := e.Containers.Operations(ctx, bob, "101", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Action != ops.ActionCreate || list[0].CreatedAt.Before(c.CreatedAt) {
		t.Fatalf("bob sees %d operations on the new 101, want its create alone: %+v", len(list), list)
	}
	if _, err := e.Containers.Operation(ctx, bob, old.ID); domain.AsError(err) == nil || domain.AsError(err).Status != http.StatusNotFound {
		t.Fatalf("bob reads alice's old operation: %v, want a 404", err)
	}
	if _, err := e.Containers.Operation(ctx, alice, old.ID); domain.AsError(err) == nil || domain.AsError(err).Status != http.StatusNotFound {
		t.Fatalf("alice reads an operation of a container no longer hers: %v, want a 404", err)
	}
}

func TestCustomerCannotEditStaffNotes(t *testing.T) {
	e := domaintest.New(t)
	ctx := context.Background()
	alice := e.Customer(t, "alice")
	create(t, e, containers.CreateInput{Owner: "alice"})
	_, _, err := e.Containers.Update(ctx, alice, "101", containers.Update{Description: ptr("I pay less")})
	refusal(t, err, http.StatusForbidden, "description")
	if _, _, err := e.Containers.Update(ctx, alice, "101", containers.Update{Hostname: ptr("mine.example")}); err != nil {
		t.Fatalf("a customer setting their hostname: %v", err)
	}
}
