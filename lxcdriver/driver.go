// Package lxcdriver is ctpanel's narrow view of liblxc. The interface here is
// implemented by lxcdriver/liblxc (the only package importing go-lxc) and by
// an in-memory Fake for fast unit tests; lxcdriver/drivertest holds the one
// conformance suite both must pass.
//
// Callers validate names and values before they reach a driver: a driver may
// assume a container name is a clean CTID-like string.
package lxcdriver

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// State is liblxc's container state in lower case.
type State string

// States reported by liblxc (lxc_state_t), lower-cased.
const (
	StateStopped  State = "stopped"
	StateStarting State = "starting"
	StateRunning  State = "running"
	StateStopping State = "stopping"
	StateAborting State = "aborting"
	StateFreezing State = "freezing"
	StateFrozen   State = "frozen"
	StateThawed   State = "thawed"
)

// Sentinel errors every implementation returns (wrapped) so callers can map
// them to HTTP status codes.
var (
	ErrNotFound   = errors.New("container does not exist")
	ErrExists     = errors.New("container already exists")
	ErrRunning    = errors.New("container is running")
	ErrNotRunning = errors.New("container is not running")
	ErrFrozen     = errors.New("container is frozen")
)

// ConfigItem is one lxc.* key and value, in the order they are applied.
type ConfigItem struct {
	Key   string
	Value string
}

// CreateOptions says where a new container's root filesystem comes from.
// Exactly one of Template and RootfsTarball is set.
type CreateOptions struct {
	// Template is a liblxc template script name such as "busybox".
	Template string
	// RootfsTarball is an absolute path to a .tar.gz rootfs (the OpenVZ
	// template cache way); it is unpacked into a dir-backed rootfs.
	RootfsTarball string
	// Config items are set and saved after the rootfs exists (for example
	// lxc.net.0.type = empty, lxc.uts.name).
	Config []ConfigItem
	// Disk, when set, puts the rootfs on a loop disk of its own of that
	// size instead of a directory (see DiskOptions).
	Disk *DiskOptions
	// IDMap makes the container unprivileged with these host ids. Every
	// container the panel makes has one; nil (a privileged container) is
	// left for tests that prove what an unprivileged one prevents.
	IDMap *IDMap
}

// CloneOptions controls Clone.
type CloneOptions struct {
	// Snapshot makes a copy-on-write overlay clone instead of a full copy.
	Snapshot bool
	// Config items are set and saved on the new container.
	Config []ConfigItem
	// Disk, when set, makes a full copy onto a new loop disk of that
	// size. A full clone of a container with a loop disk gets a loop disk
	// of the same size without it; a snapshot clone of one is refused.
	Disk *DiskOptions
	// IDMap is the clone's own id range (see CreateOptions.IDMap). A
	// snapshot clone of an unprivileged container is refused
	// (ErrUnsupported): an overlayfs mount cannot be idmapped.
	IDMap *IDMap
}

// IDMap is the block of host ids an unprivileged container runs as:
// container uid and gid n is host id HostID+n, for n below Size. Nothing
// else on the host, and no other container, has ids in the block.
type IDMap struct {
	HostID uint32
	Size   uint32
}

// Validate refuses a block that is empty, starts at host root or runs
// past the last id the kernel maps (4294967294).
func (m IDMap) Validate() error {
	if m.Size == 0 || m.HostID == 0 || uint64(m.HostID)+uint64(m.Size) > 1<<32-1 {
		return fmt.Errorf("id map %d+%d: want a non-empty block of host ids above 0 and below 4294967295", m.HostID, m.Size)
	}
	return nil
}

// Info is what a vzlist line needs from liblxc.
type Info struct {
	Name    string
	State   State
	InitPID int      // 0 unless running or frozen
	NProc   int      // tasks in the container's cgroup; 0 when stopped
	IPv4    []string // addresses inside the container, without loopback
	IPv6    []string
}

// ExecOptions for a one-shot command.
type ExecOptions struct {
	Env   []string // KEY=VALUE added to a minimal default environment
	Cwd   string
	Stdin []byte
}

// ExecResult is the outcome of a one-shot command.
type ExecResult struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// ContainersDir is the folder a driver keeps its containers in (its
// lxcpath), or "" for a driver with none on the host (the fake).
func ContainersDir(d Driver) string {
	if lp, ok := d.(interface{ LXCPath() string }); ok {
		return lp.LXCPath()
	}
	return ""
}

// Driver drives containers in one lxcpath. All methods are safe for
// concurrent use on different containers; callers serialise actions on one
// container.
type Driver interface {
	ResourceDriver
	ConsoleDriver
	// Create makes a new stopped container. On error nothing is left behind.
	Create(ctx context.Context, name string, opts CreateOptions) error
	// Clone copies a stopped container src to a new stopped container dst.
	// On error nothing of dst is left behind.
	Clone(ctx context.Context, src, dst string, opts CloneOptions) error
	// Start starts a stopped container and returns once it is running.
	// Starting a running container is not an error. The extra config
	// items apply to this start only and are not saved (the host side of
	// its network interface, which the panel makes before each start).
	Start(ctx context.Context, name string, extra ...ConfigItem) error
	// Stop kills a container (lxc-stop -k). Stopping a stopped container is
	// not an error. A frozen container is stopped too.
	Stop(ctx context.Context, name string) error
	// Shutdown asks init to power off and waits up to timeout; past it the
	// container is killed.
	Shutdown(ctx context.Context, name string, timeout time.Duration) error
	// Restart is a Shutdown with timeout followed by Start.
	Restart(ctx context.Context, name string, timeout time.Duration) error
	// Freeze freezes every task of a running container; freezing a frozen
	// one is not an error. ErrNotRunning when stopped.
	Freeze(ctx context.Context, name string) error
	// Unfreeze thaws a frozen container; thawing a running one is not an
	// error. ErrNotRunning when stopped.
	Unfreeze(ctx context.Context, name string) error
	// Destroy removes a stopped container and its rootfs. ErrRunning if it
	// is running or frozen. A name that is no container but what a create
	// cut short left behind (liblxc: a folder without config) is removed
	// too; ErrNotFound when there is nothing at all.
	Destroy(ctx context.Context, name string) error
	// State reports liblxc's state; ErrNotFound if it is not defined.
	State(ctx context.Context, name string) (State, error)
	// Info reports state, init pid, task count and addresses.
	Info(ctx context.Context, name string) (Info, error)
	// List returns the names of all defined containers, sorted.
	List(ctx context.Context) ([]string, error)
	// Exec runs a command inside a running container and waits for it.
	// A non-zero exit is not an error: it is in ExecResult.ExitCode.
	Exec(ctx context.Context, name string, cmd []string, opts ExecOptions) (ExecResult, error)
	// SetConfig sets and saves config items on a defined container.
	SetConfig(ctx context.Context, name string, items []ConfigItem) error
	// ConfigItem reads one config item ("" when unset).
	ConfigItem(ctx context.Context, name, key string) (string, error)
	// WriteFile writes a file inside the container's root filesystem,
	// running or not (for an overlay clone, into its own upper layer).
	// path is absolute inside the container.
	WriteFile(ctx context.Context, name, path string, data []byte, perm uint32) error
	// IDMapOf is the container's id map; nil for a privileged container.
	IDMapOf(ctx context.Context, name string) (*IDMap, error)
	// Unprivilege converts a stopped privileged container to run
	// unprivileged with m, keeping its files; converting it again with
	// the same map is not an error. ErrRunning unless stopped.
	Unprivilege(ctx context.Context, name string, m IDMap) error
}
