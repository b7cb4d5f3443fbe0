package diskspace

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestIsFull(t *testing.T) {
	for err, want := range map[error]bool{
		&os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}: true,
		fmt.Errorf("copy: %w", syscall.EDQUOT):                      true,
		&pgconn.PgError{Code: "53100"}:                              true,
		&pgconn.PgError{Code: "23505"}:                              false,
		syscall.EIO:                                                 false,
		errors.New("no space left on device"):                       false, // only the errno counts
	} {
		if got := IsFull(err); got != want {
			t.Errorf("IsFull(%v) = %v, want %v", err, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	st := Check([]Volume{{Name: "data", Path: t.TempDir()}, {Name: "gone", Path: "/proc/nonexistent/ctpanel"}})
	if st[0].SizeBytes == 0 || st[0].FreeBytes > st[0].SizeBytes || st[0].Error != "" {
		t.Errorf("data: %+v", st[0])
	}
	// A folder not made yet is reported on the file system it will be
	// made on.
	if st[1].Error != "" || st[1].SizeBytes != 0 || st[1].Full {
		// /proc is 0 bytes big and not full (nothing to write there).
		t.Errorf("a folder not made yet in /proc: %+v", st[1])
	}
}
