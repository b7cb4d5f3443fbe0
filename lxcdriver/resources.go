package lxcdriver

import (
	"context"
	"errors"
	"math"
)

// Unlimited is a limit that does not limit, printed as OpenVZ prints it
// (LONG_MAX).
const Unlimited uint64 = math.MaxInt64

// Counter is one beancounter row read from a running container's cgroups,
// in the units /proc/user_beancounters uses: pages for physpages and
// swappages, bytes for kmemsize and tcpsndbuf, tasks for numproc. The cpu
// row has held/maxheld in milliseconds of CPU time, barrier = cpuunits,
// limit = cpulimit in percent of one CPU (Unlimited when none) and failcnt =
// throttled periods; the oom row has only failcnt (OOM kills).
type Counter struct {
	Resource string
	Held     uint64
	MaxHeld  uint64
	Barrier  uint64
	Limit    uint64
	FailCnt  uint64
	// Instance tells apart the runs of a container: it is the same on
	// every row of one run and greater for a later run (the liblxc driver
	// uses its init's start time in milliseconds since the epoch); 0 when
	// unknown. The kernel's counters begin again at each run.
	Instance int64
}

// Resource names, in the order rows are reported.
const (
	ResNumProc   = "numproc"
	ResPhysPages = "physpages"
	ResSwapPages = "swappages"
	ResKmemSize  = "kmemsize"
	ResTCPSndBuf = "tcpsndbuf"
	ResTCPRcvBuf = "tcprcvbuf"
	ResCPU       = "cpu"
	ResOOM       = "oom"
)

// Limits are what SetLimits applies, in kernel units; a nil field is left
// as it is, Unlimited removes the limit.
type Limits struct {
	NumProc    *uint64 // pids.max
	MemSoft    *uint64 // bytes: memory.soft_limit_in_bytes / memory.high
	MemHard    *uint64 // bytes: memory.limit_in_bytes / memory.max
	Swap       *uint64 // bytes of swap on top of memory: memsw - memory / memory.swap.max
	KmemSize   *uint64 // bytes: memory.kmem.limit_in_bytes (v1 only, where the kernel allows)
	TCPBuf     *uint64 // bytes: memory.kmem.tcp.limit_in_bytes (v1 only)
	CPUUnits   *uint64 // relative weight, vzctl's cpuunits (1000 = default)
	CPULimitPc *uint64 // percent of one CPU; 0 or Unlimited = no cap
}

// ResourceDriver reads beancounters and applies limits, disk sizes
// included. Both Driver implementations provide it.
type ResourceDriver interface {
	DiskDriver
	// Beancounters reads the rows of a running (or frozen) container; a
	// resource the host cannot account is absent. ErrNotRunning when
	// stopped.
	Beancounters(ctx context.Context, name string) ([]Counter, error)
	// SetLimits saves limits in the container's config (so they survive a
	// restart) and, when it runs, writes them to its cgroups live. An
	// error wrapping ErrUnsupported names a limit the host cannot apply.
	SetLimits(ctx context.Context, name string, l Limits) error
}

// ErrUnsupported says the host's kernel cannot apply or account something.
var ErrUnsupported = errors.New("not supported by this host")
