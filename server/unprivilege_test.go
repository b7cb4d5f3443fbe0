package server

import (
	"context"
	"testing"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// TestUnprivilegeConversion: a container from before every container was
// unprivileged is listed as privileged; staff convert it once it is
// stopped; it gets a block of host ids of its own in PostgreSQL and in
// liblxc; customers and billing cannot; a second conversion is a conflict.
func TestUnprivilegeConversion(t *testing.T) {
	fake := lxcdriver.NewFake()
	p := newTestPanel(t, fake, "")
	ctx := context.Background()
	owner, alice := p.customer("alice")
	if _, err := p.app.Pool.Exec(ctx, `INSERT INTO containers (ct_id, node_id, owner_id, template, privileged, phase)
		VALUES (150, (SELECT id FROM nodes WHERE name = 'local'), $1, 'busybox', true, 'ready')`, owner.ID); err != nil {
		t.Fatal(err)
	}
	if err := fake.Create(ctx, "150", lxcdriver.CreateOptions{Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	if err := fake.Start(ctx, "150"); err != nil {
		t.Fatal(err)
	}
	if ct := p.expect(p.do(alice, "GET", "/api/v1/containers/150", nil), 200).json(t); ct["privileged"] != true {
		t.Fatalf("old container: %v", ct)
	}
	// Not for customers or billing; not while it runs.
	p.expect(p.do(alice, "POST", "/api/v1/containers/150/unprivilege", nil), 403)
	p.expect(p.do(p.token(db.RoleBilling, nil), "POST", "/api/v1/containers/150/unprivilege", nil), 403)
	p.expect(p.do(p.admin, "POST", "/api/v1/containers/150/unprivilege", nil), 409)
	if m, _ := fake.IDMapOf(ctx, "150"); m != nil {
		t.Fatalf("a refused conversion gave it %+v", m)
	}

	p.ok(p.admin, "POST", "/api/v1/containers/150/stop", nil)
	p.ok(p.admin, "POST", "/api/v1/containers/150/unprivilege", map[string]any{})
	ct := p.expect(p.do(p.admin, "GET", "/api/v1/containers/150", nil), 200).json(t)
	if ct["privileged"] != false {
		t.Fatalf("after conversion: %v", ct)
	}
	row, err := p.app.Store.GetContainer(ctx, 150)
	if err != nil || row.IDMapBase == nil || row.Privileged {
		t.Fatalf("row after conversion: %+v, %v", row, err)
	}
	m, err := fake.IDMapOf(ctx, "150")
	if err != nil || m == nil || int64(m.HostID) != *row.IDMapBase || m.Size != db.IDMapSize {
		t.Fatalf("liblxc's map %+v (%v), PostgreSQL's block %d", m, err, *row.IDMapBase)
	}
	// A new container gets another block.
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 151, "template": "busybox"})
	m2, _ := fake.IDMapOf(ctx, "151")
	if m2 == nil || m2.HostID == m.HostID {
		t.Fatalf("new container's map %+v, the converted one's %+v", m2, m)
	}
	p.expect(p.do(p.admin, "POST", "/api/v1/containers/150/unprivilege", nil), 409)
	p.expect(p.do(p.admin, "POST", "/api/v1/containers/151/unprivilege", nil), 409)
	p.ok(p.admin, "POST", "/api/v1/containers/150/start", nil)
}
