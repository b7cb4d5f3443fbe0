package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/db/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestMigrationsDownAndUp(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	v, dirty, err := db.MigrationVersion(pool)
	if err != nil || dirty || v < 1 {
		t.Fatalf("version = %d dirty=%v err=%v", v, dirty, err)
	}
	if err := db.MigrateDown(ctx, pool); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name = 'containers'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("containers table after down: n=%d err=%v", n, err)
	}
	if err := db.MigrateUp(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := db.New(pool).GetTemplate(ctx, "busybox"); err != nil {
		t.Fatalf("busybox template after up: %v", err)
	}
}

func TestContainerConflictsAndTokens(t *testing.T) {
	s := db.New(dbtest.Pool(t))
	ctx := context.Background()
	name := "web1"
	if err := s.InsertContainer(ctx, db.Container{CTID: 101, Name: &name, Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	var ce *db.ConflictError
	err := s.InsertContainer(ctx, db.Container{CTID: 101, Template: "busybox"})
	if !errors.As(err, &ce) || ce.Field != "ctid" {
		t.Fatalf("duplicate ctid: %v", err)
	}
	err = s.InsertContainer(ctx, db.Container{CTID: 102, Name: &name, Template: "busybox"})
	if !errors.As(err, &ce) || ce.Field != "name" {
		t.Fatalf("duplicate name: %v", err)
	}
	if err := s.InsertContainer(ctx, db.Container{CTID: 100, Template: "busybox"}); err == nil {
		t.Fatal("ctid 100 accepted by the schema")
	}
	next, err := s.NextFreeCTID(ctx, map[int]bool{102: true})
	if err != nil || next != 103 {
		t.Fatalf("next free = %d, %v; want 103", next, err)
	}
	c, err := s.GetContainerByName(ctx, "web1")
	if err != nil || c.CTID != 101 || c.Phase != db.PhaseCreating {
		t.Fatalf("by name: %+v %v", c, err)
	}

	_, secret, err := s.CreateToken(ctx, "ci", db.RoleAdmin, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.LookupToken(ctx, secret)
	if err != nil || p.Role != db.RoleAdmin || p.TokenName != "ci" {
		t.Fatalf("lookup: %+v %v", p, err)
	}
	if _, err := s.LookupToken(ctx, secret+"x"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("wrong secret: %v", err)
	}
	var stored []byte
	if err := s.Pool.QueryRow(ctx, `SELECT token_hash FROM api_tokens`).Scan(&stored); err != nil || string(stored) == secret {
		t.Fatal("token not stored hashed")
	}
}

func TestOperationOrdering(t *testing.T) {
	s := db.New(dbtest.Pool(t))
	ctx := context.Background()
	dbtest.Must(t, s.InsertContainer(ctx, db.Container{CTID: 101, Template: "busybox"}))
	a, err := s.InsertOperation(ctx, 101, "start", nil, db.AuditEntry{Actor: "t"})
	dbtest.Must(t, err)
	b, err := s.InsertOperation(ctx, 101, "stop", nil, db.AuditEntry{Actor: "t"})
	dbtest.Must(t, err)
	if got, claimed, err := s.ClaimOperation(ctx, b.ID); err != nil || claimed || got.Status != db.OpPending {
		t.Fatalf("second op claimed before the first finished: %+v %v %v", got, claimed, err)
	}
	got, claimed, err := s.ClaimOperation(ctx, a.ID)
	if err != nil || !claimed || got.Status != db.OpRunning || got.StartedAt == nil {
		t.Fatalf("first op: %+v %v %v", got, claimed, err)
	}
	if _, claimed, _ := s.ClaimOperation(ctx, a.ID); claimed {
		t.Fatal("a running op was claimed twice")
	}
	// While one runs, a new one is queued pending even when asked to run
	// at once.
	c, err := s.InsertOperationRunning(ctx, 101, "freeze", nil, db.AuditEntry{Actor: "t"})
	if err != nil || c.Status != db.OpPending || c.StartedAt != nil {
		t.Fatalf("op queued behind a running one: %+v %v", c, err)
	}
	fin, next, err := s.FinishOperation(ctx, a.ID, errors.New("boom"), "")
	if err != nil || fin.Status != db.OpFailed || fin.Error != "boom" || !fin.Done() || fin.FinishedAt == nil {
		t.Fatalf("finished op: %+v %v", fin, err)
	}
	if next != b.ID {
		t.Fatalf("next pending after the first: %q, want the second, %s", next, b.ID)
	}
	if got, err := s.GetOperation(ctx, a.ID); err != nil || got.Status != db.OpFailed {
		t.Fatalf("finished op read back: %+v %v", got, err)
	}
	if _, claimed, _ := s.ClaimOperation(ctx, c.ID); claimed {
		t.Fatal("third op claimed before the second")
	}
	if _, claimed, err := s.ClaimOperation(ctx, b.ID); !claimed || err != nil {
		t.Fatalf("second op not claimed after the first finished: %v", err)
	}
	_, next, err = s.FinishOperation(ctx, b.ID, nil, "")
	if err != nil || next != c.ID {
		t.Fatalf("next pending after the second: %q %v, want the third, %s", next, err, c.ID)
	}
	_, next, err = s.FinishOperation(ctx, c.ID, nil, "")
	if err != nil || next != "" {
		t.Fatalf("next pending after the last: %q %v, want none", next, err)
	}
	// On an idle container it is recorded running at once, started after
	// the one before it finished.
	d, err := s.InsertOperationRunning(ctx, 101, "unfreeze", nil, db.AuditEntry{Actor: "t"})
	if err != nil || d.Status != db.OpRunning || d.StartedAt == nil {
		t.Fatalf("op on an idle container: %+v %v", d, err)
	}
	prev, _ := s.GetOperation(ctx, c.ID)
	if d.StartedAt.Before(*prev.FinishedAt) {
		t.Fatalf("started at %v, before the previous finished at %v", d.StartedAt, prev.FinishedAt)
	}
	for _, id := range []string{"nonsense", "00000000-0000-0000-0000-000000000000"} {
		if _, err := s.GetOperation(ctx, id); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("get %q: %v", id, err)
		}
		if _, _, err := s.ClaimOperation(ctx, id); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("claim %q: %v", id, err)
		}
	}
}

func TestFailcntCumulativeAndDownsample(t *testing.T) {
	s := db.New(dbtest.Pool(t))
	ctx := context.Background()
	dbtest.Must(t, s.InsertContainer(ctx, db.Container{CTID: 101, Template: "busybox"}))
	obs := func(raw uint64, instance int64) db.FailcntTotal {
		tot, err := s.ObserveFailcnt(ctx, []db.FailcntObservation{{CTID: 101, Resource: "numproc", Raw: raw, Instance: instance}})
		if err != nil || len(tot) != 1 {
			t.Fatalf("observe: %v %v", tot, err)
		}
		return tot[0]
	}
	if got := obs(3, 1000); got.Before != 0 || got.Total != 3 {
		t.Fatalf("first: %+v", got)
	}
	if got := obs(5, 1000); got.Before != 3 || got.Total != 5 {
		t.Fatalf("grew: %+v", got)
	}
	if got := obs(2, 1000); got.Total != 7 { // the counter was reset by hand
		t.Fatalf("after a reset seen as a drop: %+v", got)
	}
	if got := obs(4, 2000); got.Total != 11 { // a new run, past the old raw
		t.Fatalf("after a restart: %+v", got)
	}
	if got := obs(9, 1000); got.Before != 11 || got.Total != 11 { // a late reading of the old run
		t.Fatalf("a stale reading changed the total: %+v", got)
	}
	if got := obs(6, 2000); got.Total != 13 {
		t.Fatalf("the new run grew: %+v", got)
	}
	if got := obs(1, 0); got.Total != 14 { // run unknown: a drop is a reset
		t.Fatalf("unknown run: %+v", got)
	}
	if got := obs(1, 3000); got.Total != 15 { // a later run after the unknown reading
		t.Fatalf("after another restart: %+v", got)
	}

	base := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Minute)
	var samples []db.Sample
	for i := 0; i < 12; i++ { // two minutes of 10 s samples, three hours ago
		samples = append(samples, db.Sample{CTID: 101, At: base.Add(time.Duration(i) * 10 * time.Second),
			Resource: "numproc", Held: uint64(i), MaxHeld: uint64(i), Limit: 100, FailCnt: uint64(i / 6)})
	}
	samples = append(samples, db.Sample{CTID: 101, At: time.Now().UTC(), Resource: "numproc", Held: 50})
	samples = append(samples, db.Sample{CTID: 101, At: base.Add(-40 * 24 * time.Hour), Resource: "numproc", Held: 1})
	dbtest.Must(t, s.InsertSamples(ctx, samples))
	n, err := s.Downsample(ctx, time.Now().Add(-time.Hour), time.Minute, time.Now().Add(-30*24*time.Hour))
	if err != nil || n != 2 { // the 40-day-old sample expired first
		t.Fatalf("downsample made %d buckets, %v; want 2", n, err)
	}
	got, err := s.QuerySamples(ctx, 101, base.Add(-time.Minute), time.Now().Add(time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Held != 3 || got[0].MaxHeld != 5 || got[1].Held != 9 || got[1].MaxHeld != 11 || got[1].FailCnt != 1 || got[2].Held != 50 {
		t.Fatalf("series after downsampling: %+v", got)
	}
	var expired int
	_ = s.Pool.QueryRow(ctx, `SELECT count(*) FROM bc_samples WHERE at < now() - interval '30 days'`).Scan(&expired)
	if expired != 0 {
		t.Fatalf("%d expired samples kept", expired)
	}

	// The coarse tier: minute buckets older than two days become hours
	// (a month's chart reads hours); younger ones and raw ones stay.
	old := time.Now().UTC().Add(-72 * time.Hour).Truncate(time.Hour)
	var minutes []db.Sample
	for i := 0; i < 120; i++ { // two hours of minute buckets, three days ago
		minutes = append(minutes, db.Sample{CTID: 101, At: old.Add(time.Duration(i) * time.Minute), Resource: "numproc",
			Held: uint64(i % 60), MaxHeld: uint64(i), Limit: 100})
	}
	dbtest.Must(t, s.InsertSamples(ctx, minutes))
	if _, err := s.Pool.Exec(ctx, `UPDATE bc_samples SET resolution = 60 WHERE at >= $1 AND at < $2`, old, old.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Rollup(ctx, 60, time.Now().Add(-48*time.Hour), time.Hour); err != nil || n != 2 {
		t.Fatalf("rollup to hours made %d buckets, %v; want 2", n, err)
	}
	hours, err := s.QuerySamples(ctx, 101, old, old.Add(2*time.Hour), time.Hour)
	if err != nil || len(hours) != 2 || hours[0].Held != 30 || hours[0].MaxHeld != 59 || hours[1].MaxHeld != 119 || !hours[1].At.Equal(old.Add(time.Hour)) {
		t.Fatalf("hours: %+v %v", hours, err)
	}
	var byRes = map[int]int{}
	rows, err := s.Pool.Query(ctx, `SELECT resolution, count(*) FROM bc_samples GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r, n int
		dbtest.Must(t, rows.Scan(&r, &n))
		byRes[r] = n
	}
	rows.Close()
	if byRes[3600] != 2 || byRes[60] != 2 || byRes[0] != 1 {
		t.Fatalf("samples by resolution after the rollups: %v", byRes)
	}
}

// TestIDMapBlocks: each new container gets a block of host ids no other
// container has, from the bottom of the range; a destroyed container's
// block is given out again; an old (privileged) container gets one when
// converted, and keeps it.
func TestIDMapBlocks(t *testing.T) {
	pool := dbtest.Pool(t)
	s := db.New(pool)
	ctx := context.Background()
	base := func(ctid int) int64 {
		t.Helper()
		c, err := s.GetContainer(ctx, ctid)
		if err != nil {
			t.Fatal(err)
		}
		if c.IDMapBase == nil || c.Privileged {
			t.Fatalf("container %d: idmap_base %v, privileged %v", ctid, c.IDMapBase, c.Privileged)
		}
		return *c.IDMapBase
	}
	for ctid := 101; ctid <= 103; ctid++ {
		if err := s.InsertContainer(ctx, db.Container{CTID: ctid, Template: "busybox"}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int64]bool{}
	for ctid := 101; ctid <= 103; ctid++ {
		b := base(ctid)
		if b < db.IDMapFirst || (b-db.IDMapFirst)%db.IDMapSize != 0 || b >= db.IDMapFirst+3*db.IDMapSize || seen[b] {
			t.Fatalf("container %d got block %d (others %v)", ctid, b, seen)
		}
		seen[b] = true
	}
	freed := base(102)
	if err := s.DeleteContainer(ctx, 102); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertContainer(ctx, db.Container{CTID: 104, Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	if got := base(104); got != freed {
		t.Fatalf("after 102 went, 104 got block %d, want 102's %d", got, freed)
	}
	// Two containers cannot share a block, whatever writes it.
	_, err := pool.Exec(ctx, `UPDATE containers SET idmap_base = $1 WHERE ct_id = 101`, base(103))
	if err == nil {
		t.Fatal("two containers were given one block")
	}
	// A container from before: privileged, no block until converted.
	if _, err := pool.Exec(ctx, `INSERT INTO containers (ct_id, node_id, template, privileged)
		VALUES (105, (SELECT id FROM nodes WHERE name = 'local'), 'busybox', true)`); err != nil {
		t.Fatal(err)
	}
	if ids, err := s.PrivilegedContainers(ctx); err != nil || len(ids) != 1 || ids[0] != 105 {
		t.Fatalf("privileged containers = %v, %v", ids, err)
	}
	b1, err := s.AllocateIDMap(ctx, 105)
	if err != nil || seen[b1] && b1 != freed {
		t.Fatalf("allocate for 105: %d, %v", b1, err)
	}
	if b2, err := s.AllocateIDMap(ctx, 105); err != nil || b2 != b1 {
		t.Fatalf("allocate again: %d, %v; want the same %d", b2, err, b1)
	}
}
