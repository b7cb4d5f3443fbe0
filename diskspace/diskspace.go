// Package diskspace watches the file systems the panel writes to (its
// data dir with the private PostgreSQL and the template store, and the
// lxcpath) and tells a full disk from other write errors.
package diskspace

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sys/unix"
)

// FullBelow is the free space under which a file system counts as full:
// PostgreSQL's next checkpoint or a container's next file would fail.
const FullBelow = 8 << 20

// LowBelowPercent is the share of free space under which a file system is
// reported as getting full.
const LowBelowPercent = 5

// Volume is a folder the panel writes to, by the name it is reported as.
type Volume struct {
	Name string // "data", "templates", "lxcpath"
	Path string
}

// Status is a volume's file system as statfs(2) saw it just now.
type Status struct {
	Name      string `json:"name"`
	Path      string `json:"path"`
	SizeBytes uint64 `json:"size_bytes"`
	FreeBytes uint64 `json:"free_bytes"` // available to non-root writers
	Full      bool   `json:"full"`
	Low       bool   `json:"low"`
	Error     string `json:"error,omitempty"`
}

// Check reads each volume's file system.
func Check(vols []Volume) []Status {
	out := make([]Status, 0, len(vols))
	for _, v := range vols {
		st := Status{Name: v.Name, Path: v.Path}
		var fs unix.Statfs_t
		// A folder not made yet will be on its nearest existing parent's
		// file system.
		p := v.Path
		for p != "/" && p != "." {
			if _, err := os.Stat(p); err == nil {
				break
			}
			p = filepath.Dir(p)
		}
		if err := unix.Statfs(p, &fs); err != nil {
			st.Error = err.Error()
			out = append(out, st)
			continue
		}
		bs := uint64(fs.Bsize)
		st.SizeBytes = fs.Blocks * bs
		// PostgreSQL (user postgres) and containers (mapped ids) cannot
		// use root's reserved blocks: Bavail, not Bfree.
		st.FreeBytes = fs.Bavail * bs
		if fs.Files > 0 && fs.Ffree == 0 {
			st.FreeBytes = 0 // no inode left: as full as no block
		}
		st.Full = st.SizeBytes > 0 && st.FreeBytes < FullBelow
		st.Low = st.Full || (st.SizeBytes > 0 && st.FreeBytes*100 < st.SizeBytes*LowBelowPercent)
		out = append(out, st)
	}
	return out
}

// AnyFull says whether one of the statuses is full.
func AnyFull(sts []Status) bool {
	for _, s := range sts {
		if s.Full {
			return true
		}
	}
	return false
}

// IsFull says whether err is a write refused for want of space: ENOSPC,
// EDQUOT, or PostgreSQL's disk_full (53100).
func IsFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "53100"
}
