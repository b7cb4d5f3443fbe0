package cgroups

import (
	"errors"
	"os"
	"strconv"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

func TestHandle(t *testing.T) {
	for _, name := range []string{"v1-busybox", "v1-limited", "v2-busybox", "v2-old"} {
		t.Run(name, func(t *testing.T) {
			p := fixture(t, name)
			h := Open(p)
			defer h.Close()
			want := Read(p)
			for range 3 {
				got, err := h.Read(nil)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				wantRows(t, got, want)
			}
			if h.Files() == 0 {
				t.Error("handle keeps no files open")
			}
		})
	}
}

// A kept file is read afresh each time, and a missing one stays absent.
func TestHandleRereads(t *testing.T) {
	p := fixture(t, "v1-busybox")
	remove(t, p.Pids, "pids.peak")
	h := Open(p)
	defer h.Close()
	if _, err := h.Read(nil); err != nil {
		t.Fatal(err)
	}
	writeFixture(t, p.Pids, "pids.current", "7\n")
	rows, err := h.Read(make([]lxcdriver.Counter, 0, 8))
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].Resource != lxcdriver.ResNumProc || rows[0].Held != 7 || rows[0].MaxHeld != 7 {
		t.Errorf("numproc after pids.current changed = %+v, want held 7", rows[0])
	}
}

func TestHandleGone(t *testing.T) {
	p := fixture(t, "v2-busybox")
	if err := os.RemoveAll(p.V2); err != nil {
		t.Fatal(err)
	}
	h := Open(p)
	defer h.Close()
	if _, err := h.Read(nil); !errors.Is(err, ErrGone) {
		t.Errorf("read of removed cgroups: error %v, want ErrGone", err)
	}
	if h.Files() != 0 {
		t.Errorf("%d files open on removed cgroups", h.Files())
	}
}

func TestHandleClosed(t *testing.T) {
	h := Open(fixture(t, "v1-busybox"))
	if _, err := h.Read(nil); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Read(nil); err == nil {
		t.Error("read of a closed handle succeeded")
	}
}

// BenchmarkHandleHost is BenchmarkReadHost through a kept Handle.
func BenchmarkHandleHost(b *testing.B) {
	pid, err := strconv.Atoi(os.Getenv("CTPANEL_BENCH_PID"))
	if err != nil {
		b.Skip("set CTPANEL_BENCH_PID to a running container's init pid")
	}
	p, err := Locate(pid)
	if err != nil {
		b.Fatal(err)
	}
	h := Open(p)
	defer h.Close()
	dst := make([]lxcdriver.Counter, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		if dst, err = h.Read(dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d rows, %d files open", len(dst), h.Files())
}
