package ubc

import (
	"fmt"
	"io"
	"sort"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// Table is one container's rows.
type Table struct {
	CTID int
	Rows []lxcdriver.Counter
}

const (
	headerFmt = "%10s  %-12s %20s %20s %20s %20s %20s\n"
	rowFmt    = "%10s  %-12s %20d %20d %20d %20d %20d\n"
)

// WriteText writes tables in /proc/user_beancounters' layout: a version
// line, the header, then each container's rows with its CTID as uid on the
// first row.
func WriteText(w io.Writer, tables []Table) error {
	if _, err := fmt.Fprintln(w, "Version: 2.5"); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, headerFmt, "uid", "resource", "held", "maxheld", "barrier", "limit", "failcnt"); err != nil {
		return err
	}
	for _, t := range tables {
		for i, r := range t.Rows {
			uid := ""
			if i == 0 {
				uid = fmt.Sprintf("%d:", t.CTID)
			}
			if _, err := fmt.Fprintf(w, rowFmt, uid, r.Resource, r.Held, r.MaxHeld, r.Barrier, r.Limit, r.FailCnt); err != nil {
				return err
			}
		}
	}
	return nil
}

// Fail is one (container, resource) with a failcnt, as ubc_failstat and
// ubc_faildiff print it.
type Fail struct {
	CTID     int    `json:"ctid"`
	Resource string `json:"resource"`
	Old      uint64 `json:"old"`
	New      uint64 `json:"new"`
	Delta    uint64 `json:"delta"`
}

// FailStat lists every (container, resource) whose failcnt is above zero.
func FailStat(current map[int]map[string]uint64) []Fail {
	var out []Fail
	for ctid, res := range current {
		for name, n := range res {
			if n > 0 {
				out = append(out, Fail{CTID: ctid, Resource: name, New: n, Delta: n})
			}
		}
	}
	sortFails(out)
	return out
}

// FailDiff lists the growth of each failcnt since a snapshot: only
// resources whose failcnt grew appear.
func FailDiff(old, current map[int]map[string]uint64) []Fail {
	var out []Fail
	for ctid, res := range current {
		for name, n := range res {
			o := old[ctid][name]
			if n > o {
				out = append(out, Fail{CTID: ctid, Resource: name, Old: o, New: n, Delta: n - o})
			}
		}
	}
	sortFails(out)
	return out
}

func sortFails(f []Fail) {
	sort.Slice(f, func(i, j int) bool {
		if f[i].CTID != f[j].CTID {
			return f[i].CTID < f[j].CTID
		}
		return f[i].Resource < f[j].Resource
	})
}

// WriteFailText prints fails one per line: "CTID resource old new delta".
func WriteFailText(w io.Writer, fails []Fail, withOld bool) error {
	if withOld {
		if _, err := fmt.Fprintf(w, "%10s  %-12s %20s %20s %20s\n", "uid", "resource", "old", "new", "delta"); err != nil {
			return err
		}
	} else if _, err := fmt.Fprintf(w, "%10s  %-12s %20s\n", "uid", "resource", "failcnt"); err != nil {
		return err
	}
	for _, f := range fails {
		var err error
		if withOld {
			_, err = fmt.Fprintf(w, "%10d  %-12s %20d %20d %20d\n", f.CTID, f.Resource, f.Old, f.New, f.Delta)
		} else {
			_, err = fmt.Fprintf(w, "%10d  %-12s %20d\n", f.CTID, f.Resource, f.New)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
