package liblxc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// liblxc calls that fork must not run in this process. liblxc forks with
// fork() or the raw clone syscall and then, in the child, runs code that
// is not async-signal-safe before it execs anything: the child of a
// clone calls setresgid before it execs rsync; create's child sets up
// mounts and runs the template script; attach's child setns()es, drops
// privileges and sets up the environment; get_ips' child joins the
// container's network namespace and calls getifaddrs. In a multi-threaded
// Go program such a child can wait forever on something a thread of the
// parent held at the moment of the fork (glibc's setxid waits for a
// thread that was being created and never answers: ctpanel-bench hung in
// about 1 in 100 go-lxc Clones four at a time). So those operations run
// liblxc's own command-line tools (lxc-create, lxc-copy, lxc-attach,
// lxc-start) as subprocesses, which fork from a single-threaded process,
// and addresses are read without liblxc (netns.go). What the Driver
// still calls in-process only talks to the container's command socket or
// reads and writes files: NewContainer, Defined, State, InitPid, config
// items, Stop, Shutdown, Freeze, Unfreeze, Destroy (for the dir, overlay
// and loop rootfs ctpanel makes, without destroy hooks or an idmap).

// lxcTool is a command for one of liblxc's tools in a process group of
// its own, which a cancelled ctx kills whole: the template script or the
// rsync the tool forked dies with it, so nothing goes on writing into a
// half-made container while it is discarded.
func lxcTool(ctx context.Context, tool string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	// Should a daemonized grandchild keep our output pipe, do not wait
	// for it.
	cmd.WaitDelay = time.Second
	return cmd
}

// runLXCTool runs an lxcTool and returns its output, trimmed; on failure
// the error carries the tool's name and its last words.
func runLXCTool(ctx context.Context, tool string, args ...string) (string, error) {
	out, err := lxcTool(ctx, tool, args...).CombinedOutput()
	msg := strings.TrimSpace(string(out))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return msg, fmt.Errorf("%s: %w", tool, ctxErr)
		}
		return msg, fmt.Errorf("%s: %w: %s", tool, err, msg)
	}
	return msg, nil
}

// killGroup SIGKILLs the process group led by pid.
func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}
