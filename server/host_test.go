package server

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestRaiseFileLimit(t *testing.T) {
	n, raiseErr := RaiseFileLimit()
	if raiseErr != nil {
		t.Logf("the hard limit stands: %v", raiseErr)
	}
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	if l.Cur != n || l.Cur != l.Max {
		t.Fatalf("limit %d/%d after raising, reported %d", l.Cur, l.Max, n)
	}
	if os.Geteuid() == 0 && raiseErr == nil {
		b, err := os.ReadFile("/proc/sys/fs/nr_open")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if l.Cur < want {
			t.Fatalf("as root the limit is %d, below fs.nr_open %d", l.Cur, want)
		}
	}
}
