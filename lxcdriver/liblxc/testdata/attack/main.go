// Command attack is the attack suite's helper (attack_test.go): run inside
// a container, it tries one thing busybox has no applet for and exits 0
// only if the kernel let it. What the kernel answered goes to stderr.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: attack keyctl|open-by-handle|userns-map|ptrace MARKER|init-module")
	}
	switch os.Args[1] {
	case "keyctl":
		// The caller's user keyring, which on the host is root's.
		id, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_USER_KEYRING, 0, 0, 0)
		check("keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING)", err)
		fmt.Println("user keyring", id)
	case "open-by-handle":
		// The "shocker" escape: a file handle (inode 2, the root of most
		// filesystems) opened without a path, past the mount namespace.
		h, mount, err := unix.NameToHandleAt(unix.AT_FDCWD, "/", 0)
		if err != nil {
			h = unix.NewFileHandle(1, []byte{2, 0, 0, 0, 0, 0, 0, 0})
		}
		_ = mount
		fd, err := unix.OpenByHandleAt(unix.AT_FDCWD, h, unix.O_RDONLY)
		check("open_by_handle_at", err)
		unix.Close(fd)
	case "userns-map":
		// A nested user namespace mapping ids the container does not
		// have: its id 70000 (past its 65536), and its whole block plus
		// one. Either would reach host ids outside the container's block.
		var errs []string
		ok := false
		for _, m := range []syscall.SysProcIDMap{{ContainerID: 0, HostID: 70000, Size: 1}, {ContainerID: 0, HostID: 0, Size: 65537}} {
			cmd := exec.Command("/bin/true")
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER,
				UidMappings: []syscall.SysProcIDMap{m}, GidMappings: []syscall.SysProcIDMap{m}}
			if err := cmd.Run(); err != nil {
				errs = append(errs, fmt.Sprintf("map %d..%d: %v", m.HostID, m.HostID+m.Size-1, err))
			} else {
				ok = true
				errs = append(errs, fmt.Sprintf("map %d..%d: allowed", m.HostID, m.HostID+m.Size-1))
			}
		}
		fmt.Fprintln(os.Stderr, strings.Join(errs, "; "))
		if !ok {
			os.Exit(1)
		}
	case "ptrace":
		// The test process on the host carries MARKER in its command
		// line; attach to it if it can be seen at all.
		if len(os.Args) < 3 {
			fail("ptrace needs the marker")
		}
		pid := 0
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			n, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if strings.Contains(string(b), os.Args[2]) {
				pid = n
			}
		}
		if pid == 0 {
			fail("no process with " + os.Args[2] + " in this pid namespace: ESRCH (No such process)")
		}
		check(fmt.Sprintf("ptrace(PTRACE_ATTACH, %d)", pid), unix.PtraceAttach(pid))
		_ = unix.PtraceDetach(pid)
	case "init-module":
		// A module that is not one: past the permission check the
		// kernel would answer ENOEXEC; EPERM is the refusal.
		err := unix.InitModule([]byte("not a module"), "")
		fmt.Fprintln(os.Stderr, "init_module:", err)
		if err == unix.EPERM || err == unix.ENOSYS {
			os.Exit(1)
		}
	default:
		fail("unknown attack " + os.Args[1])
	}
}

func check(what string, err error) {
	if err != nil {
		fail(fmt.Sprintf("%s: %v", what, err))
	}
	fmt.Fprintln(os.Stderr, what+": allowed")
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(1)
}
