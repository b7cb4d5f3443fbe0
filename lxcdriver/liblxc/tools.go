package liblxc

import (
	"context"
	"os/exec"

	"github.com/ctpanel/ctpanel/subprocess"
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

// lxcTool is a command for one of liblxc's tools (subprocess.Command): a
// cancelled ctx kills it with the template script or rsync it forked, so
// nothing goes on writing into a half-made container while it is
// discarded.
func lxcTool(ctx context.Context, tool string, args ...string) *exec.Cmd {
	return subprocess.Command(ctx, tool, args...)
}

// runLXCTool runs an lxcTool and returns its output, trimmed; on failure
// the error carries the tool's name and its last words.
func runLXCTool(ctx context.Context, tool string, args ...string) (string, error) {
	return subprocess.Output(ctx, tool, args...)
}

// unpackRootfs extracts a rootfs tarball (.tar.gz, .tar.xz or .tar.zst:
// tar recognises the compression) into dir with numeric
// owners (the container's /etc/passwd, not the host's, says who uid 1000
// is), permissions, extended attributes (file capabilities among them) and
// ACLs kept. The create from a template and the loop disk both use it.
func unpackRootfs(ctx context.Context, tarball, dir string) (string, error) {
	return subprocess.Output(ctx, "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls",
		"-xpf", tarball, "-C", dir)
}
