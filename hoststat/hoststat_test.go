package hoststat

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRead: load and memory from /proc files (a fixture), the disk by
// statfs of a real folder.
func TestRead(t *testing.T) {
	proc := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(proc, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("loadavg", "0.52 1.25 2.00 3/456 7890\n")
	write("meminfo", "MemTotal:       16384000 kB\nMemFree:         1000000 kB\nMemAvailable:    4096000 kB\n")
	s, err := Read(proc, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if s.Load1 != 0.52 || s.Load5 != 1.25 || s.Load15 != 2 || s.CPUs < 1 {
		t.Errorf("load %v %v %v, %d CPUs", s.Load1, s.Load5, s.Load15, s.CPUs)
	}
	if s.MemTotal != 16384000<<10 || s.MemUsed != (16384000-4096000)<<10 {
		t.Errorf("memory %d used of %d", s.MemUsed, s.MemTotal)
	}
	if s.DiskSize == 0 || s.DiskUsed > s.DiskSize {
		t.Errorf("disk %d of %d", s.DiskUsed, s.DiskSize)
	}
	write("meminfo", "nothing\n")
	if _, err := Read(proc, ""); err == nil {
		t.Error("a meminfo without MemTotal passed")
	}
	if _, err := Read("/proc", ""); err != nil {
		t.Errorf("the real /proc: %v", err)
	}
}

func TestCPUTimes(t *testing.T) {
	dir := t.TempDir()
	// user nice system idle iowait irq softirq steal guest guest_nice
	if err := os.WriteFile(dir+"/stat", []byte("cpu  100 5 50 800 40 3 2 0 7 1\ncpu0 50 2 25 400 20 1 1 0 3 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	busy, total, err := CPUTimes(dir)
	if err != nil || busy != 160 || total != 1000 {
		t.Fatalf("busy %d total %d (%v), want 160 of 1000 (guest counted in user already)", busy, total, err)
	}
	if err := os.WriteFile(dir+"/stat", []byte("intr 1 2 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := CPUTimes(dir); err == nil {
		t.Fatal("a stat file without its cpu line read as times")
	}
}
