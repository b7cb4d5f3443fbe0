package ubc

import "testing"

// TestRebase: resources a container holds as its plan did follow the
// plan's new limits (set, changed or removed); the container's own
// overrides stay, counted.
func TestRebase(t *testing.T) {
	pair := func(n uint64) *Pair { return &Pair{Barrier: n, Limit: n} }
	u := func(n uint64) *uint64 { return &n }
	old := Spec{NumProc: pair(100), PhysPages: pair(1000), CPULimit: u(50)}
	next := Spec{NumProc: pair(200), CPULimit: u(100), CPUUnits: u(500)}
	cur := Spec{NumProc: pair(100), PhysPages: pair(4000), CPULimit: u(50), KmemSize: pair(1 << 20)}
	got, kept := Rebase(cur, old, next)
	want := Spec{NumProc: pair(200), PhysPages: pair(4000), CPULimit: u(100), CPUUnits: u(500), KmemSize: pair(1 << 20)}
	if !Same(got, want) || kept != 2 {
		t.Errorf("Rebase = %+v, %d overrides; want %+v and 2 (physpages, kmemsize)", got, kept, want)
	}
	// A container exactly on its plan takes the new plan whole.
	if got, kept := Rebase(old, old, next); !Same(got, next) || kept != 0 {
		t.Errorf("on the plan: %+v, %d", got, kept)
	}
	// A resource the old plan set and the container removed stays removed.
	noCPU := Spec{NumProc: pair(100), PhysPages: pair(1000)}
	if got, kept := Rebase(noCPU, old, next); got.CPULimit != nil || kept != 1 {
		t.Errorf("a removed cpulimit: %+v, %d overrides", got, kept)
	}
	if Overrides(cur, old) != 2 || Overrides(old, old) != 0 {
		t.Errorf("Overrides: %d, %d", Overrides(cur, old), Overrides(old, old))
	}
}
