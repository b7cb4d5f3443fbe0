package liblxc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/cgroups"
)

// sysinfo(2) answers a process with the kernel's own figures: the host's
// memory, swap, uptime and process count. lxcfs reaches only what is read
// from /proc, so busybox's free and uptime, glibc's
// sysconf(_SC_PHYS_PAGES) and the runtimes sizing their heaps from it
// would see the host. In each container the driver starts, the sysinfo
// calls of its init and what init starts (not of attached processes: see
// startProfile) are sent to the driver (seccomp user notification, which liblxc's
// monitor forwards to a proxy socket: lxc.seccomp.notify.proxy), which
// writes the container's figures in the caller's buffer:
//   - total and free memory from its memory limit and usage, when it has
//     a limit below the host's memory;
//   - swap from its swap limit and usage likewise;
//   - uptime since its init started; its number of tasks.
// Loads stay the host's (lxcfs's per-container loadavg is keyed on the
// reading process, which the driver is not); so do figures of a container
// with no memory limit. A call the driver cannot answer (another
// architecture, a container it cannot find) goes on to the kernel
// unchanged (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
//
// The proxy is a process of its own (the panel's binary run again with
// sysinfoProxyEnv set), one per lxcpath, in its own session: like liblxc's
// monitors it outlives a restart or crash of the panel, because while
// nobody serves the socket liblxc answers sysinfo with ENOSYS, which
// busybox and glibc's sysconf(_SC_PHYS_PAGES) do not check. It holds a
// lock beside its socket (so only one serves), and leaves once no
// monitor has been connected for sysinfoProxyIdle: a container's monitor
// stays connected while it runs. The driver starts it when nothing
// answers on the socket, when created and at each Start.
//
// The wire format is liblxc's (src/lxc/lxcseccomp.h): a header of 32
// bytes (reserved u64, monitor pid, init pid, the kernel's struct sizes,
// cookie length), struct seccomp_notif, struct seccomp_notif_resp, the
// cookie; with it come descriptors: the caller's /proc/<pid> and
// /proc/<pid>/mem, and in liblxc 5.0 the seccomp listener. The answer is the same header, notification and
// response, without the cookie.

// seccompNotifyAction is the seccomp policy line for sysinfo; the
// policy is liblxc's default (common.seccomp) with it appended.
const seccompNotifyAction = "\n[all]\nsysinfo notify\n"

// commonSeccomp is liblxc's default seccomp policy, which common.conf
// sets.
const commonSeccomp = "/usr/share/lxc/config/common.seccomp"

const (
	proxyHeaderSize  = 32
	notifyFlagGoOn   = 1 // SECCOMP_USER_NOTIF_FLAG_CONTINUE
	auditArchX86_64  = 0xc000003e
	sysSysinfoX86_64 = 99
	userHZ           = 100 // /proc/<pid>/stat's clock ticks

	// sysinfoProxyEnv, set to the socket's path, makes the binary the
	// proxy (see init).
	sysinfoProxyEnv  = "CTPANEL_SYSINFO_PROXY"
	sysinfoProxyIdle = 30 * time.Second
)

func init() {
	if sock := os.Getenv(sysinfoProxyEnv); sock != "" {
		os.Exit(runSysinfoProxy(sock))
	}
}

// SysinfoInterceptEnvVar set to 0 turns the interception off; it is on by
// default.
const SysinfoInterceptEnvVar = "CTPANEL_SYSINFO_INTERCEPT"

// SysinfoInterceptEnabled says whether the interception is on: unless
// CTPANEL_SYSINFO_INTERCEPT=0.
func SysinfoInterceptEnabled() bool { return os.Getenv(SysinfoInterceptEnvVar) != "0" }

// startProfile is the seccomp policy file a container is started with,
// in its own directory. It holds the sysinfo notify rule only while the
// container starts (liblxc reads it before the container is STARTING):
// once the container runs it is rewritten without, because lxc-attach
// reads the policy again from the path the running container reports,
// and liblxc 5.0.2's lxc-attach races on a policy with a notify rule
// where no LSM orders it (the attached process sends its seccomp
// listener on the socket the transient process is to send its pid on;
// when the listener comes first lxc-attach exits 1 while the command
// runs on unwatched). Processes the container's init starts (its
// services, sshd, the console's shell) keep the interception; attached
// ones (exec, web shells) have liblxc's default policy, where sysinfo
// gives the host's figures.
const startProfile = ".ctpanel-start.seccomp"

// sysinfoProxy is the driver's side: where the proxy listens.
type sysinfoProxy struct {
	sock string
	mu   sync.Mutex
}

func newSysinfoProxy(lxcpath string) *sysinfoProxy {
	sock := filepath.Join(lxcpath, ".sysinfo.sock")
	if len(sock) > 100 { // sun_path holds 108 bytes
		sum := sha256.Sum256([]byte(lxcpath))
		sock = filepath.Join(os.TempDir(), "ctpanel-sysinfo-"+hex.EncodeToString(sum[:8])+".sock")
	}
	return &sysinfoProxy{sock: sock}
}

// startItems are the config items lxc-start is given (--define) so that
// the sysinfo calls of the container in dir come to the proxy, nil when
// it cannot serve (the container then starts with liblxc's default
// policy). They are not saved in the config: a container started by
// hand, without the panel, must not depend on it. settle must follow
// the start.
func (p *sysinfoProxy) startItems(name, dir string) []lxcdriver.ConfigItem {
	if !SysinfoInterceptEnabled() {
		return nil
	}
	profile := filepath.Join(dir, startProfile)
	err := p.ensure()
	if err == nil {
		err = writeProfile(profile, true)
	}
	if err != nil {
		slog.Warn("liblxc: sysinfo proxy unavailable; the container's sysinfo(2) shows the host's figures", "container", name, "error", err)
		return nil
	}
	return []lxcdriver.ConfigItem{
		{Key: "lxc.seccomp.profile", Value: profile},
		{Key: "lxc.seccomp.notify.proxy", Value: "unix:" + p.sock},
		{Key: "lxc.seccomp.notify.cookie", Value: name},
	}
}

// settle rewrites the start policy of the container in dir without the
// notify rule, if it has one, for the attaches to come (see
// startProfile). Called once the container runs, and by New for what a
// panel that died in between left.
func settle(dir string) error {
	profile := filepath.Join(dir, startProfile)
	have, err := os.ReadFile(profile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !bytes.HasSuffix(have, []byte(seccompNotifyAction)) {
		return nil
	}
	return writeProfile(profile, false)
}

// ensure makes sure a proxy answers on the socket, starting one if not.
func (p *sysinfoProxy) ensure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	answers := func() bool {
		c, err := net.DialTimeout("unixpacket", p.sock, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	if answers() {
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	setsid, err := exec.LookPath("setsid")
	if err != nil {
		return fmt.Errorf("setsid (util-linux) is needed to start the sysinfo proxy: %w", err)
	}
	// A proxy on its way out (idle) still holds the lock for a moment:
	// start another one until one answers.
	var lastErr error
	deadline, spawned := time.Now().Add(5*time.Second), time.Time{}
	for ; time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if answers() {
			return nil
		}
		if time.Since(spawned) < time.Second {
			continue
		}
		spawned = time.Now()
		cmd := exec.Command(setsid, "-f", self)
		cmd.Dir = "/"
		cmd.Env = append(os.Environ(), sysinfoProxyEnv+"="+p.sock)
		// No pipes: the proxy would hold them open, and Run wait on it.
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
		if err := cmd.Run(); err != nil {
			lastErr = fmt.Errorf("start the sysinfo proxy: %w", err)
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("no sysinfo proxy answers on %s", p.sock)
	}
	return lastErr
}

// writeProfile writes liblxc's default policy to path, with the sysinfo
// notify rule when notify.
func writeProfile(path string, notify bool) error {
	want, err := os.ReadFile(commonSeccomp)
	if err != nil {
		return fmt.Errorf("liblxc's seccomp policy: %w", err)
	}
	if notify {
		want = append(want, seccompNotifyAction...)
	}
	if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, want) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, want, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// runSysinfoProxy is the proxy process: it serves sock until idle and
// returns its exit code.
func runSysinfoProxy(sock string) int {
	lock, err := os.OpenFile(sock+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return 1
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return 0 // another proxy serves
	}
	_ = lock.Truncate(0)
	_, _ = lock.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	_ = os.Remove(sock)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		return 1
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return 1
	}
	srv := &proxyServer{layout: cgroups.HostLayout(), last: time.Now(), peers: map[int]int{}}
	go func() {
		for range time.Tick(time.Second) {
			srv.mu.Lock()
			idle := srv.active == 0 && time.Since(srv.last) > sysinfoProxyIdle
			srv.mu.Unlock()
			if idle {
				ln.Close() // removes the socket; the lock goes at exit
				return
			}
		}
	}()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			return 0
		}
		peer := peerPid(c)
		srv.mu.Lock()
		srv.active++
		srv.peers[peer]++
		srv.last = time.Now()
		srv.mu.Unlock()
		go func() {
			srv.conn(c)
			srv.mu.Lock()
			srv.active--
			if srv.peers[peer]--; srv.peers[peer] <= 0 {
				delete(srv.peers, peer)
			}
			srv.last = time.Now()
			srv.mu.Unlock()
		}()
	}
}

// proxyServer answers the monitors connected to the proxy.
type proxyServer struct {
	layout cgroups.Layout
	mu     sync.Mutex
	active int
	last   time.Time
	peers  map[int]int // connected processes (SO_PEERCRED) -> connections
}

// peerPid is the pid of the process at the other end of c, 0 if unknown.
func peerPid(c *net.UnixConn) int {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	pid := 0
	_ = raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid = int(cred.Pid)
		}
	})
	return pid
}

// monitorQuery asks the proxy whether a process (a container's monitor)
// is connected: liblxc reports a container RUNNING before its monitor
// connects, and an lxc-attach in between fails ("No seccomp proxy fd
// specified"). liblxc's messages start with 8 zero bytes; this does not.
const monitorQuery = "ctpanel-connected? "

// monitorConnected asks the proxy on sock whether pid is connected.
func monitorConnected(sock string, pid int) (bool, error) {
	c, err := net.DialTimeout("unixpacket", sock, time.Second)
	if err != nil {
		return false, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(monitorQuery + strconv.Itoa(pid))); err != nil {
		return false, err
	}
	buf := make([]byte, 8)
	n, err := c.Read(buf)
	if err != nil {
		return false, err
	}
	return string(buf[:n]) == "yes", nil
}

// conn answers one monitor's notifications, one at a time, as liblxc
// sends them.
func (p *proxyServer) conn(c *net.UnixConn) {
	defer c.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			return
		}
		fds := receivedFDs(oob[:oobn])
		if q, ok := strings.CutPrefix(string(buf[:n]), monitorQuery); ok && len(fds) == 0 {
			pid, _ := strconv.Atoi(q)
			p.mu.Lock()
			answer := "no"
			if pid > 0 && p.peers[pid] > 0 {
				answer = "yes"
			}
			p.mu.Unlock()
			if _, _, err := c.WriteMsgUnix([]byte(answer), nil, nil); err != nil {
				return
			}
			continue
		}
		out, ok := p.answer(buf[:n], fds)
		for _, fd := range fds {
			unix.Close(fd)
		}
		if !ok {
			return // not liblxc's format: drop the connection
		}
		if _, _, err := c.WriteMsgUnix(out, nil, nil); err != nil {
			return
		}
	}
}

func receivedFDs(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if r, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, r...)
		}
	}
	return fds
}

// answer builds the reply to one forwarded notification.
func (p *proxyServer) answer(msg []byte, fds []int) ([]byte, bool) {
	if len(msg) < proxyHeaderSize {
		return nil, false
	}
	le := binary.LittleEndian
	initPid := int(int32(le.Uint32(msg[12:])))
	notifSize := int(le.Uint16(msg[16:]))
	respSize := int(le.Uint16(msg[18:]))
	cookieLen := le.Uint64(msg[24:])
	if notifSize < 64 || respSize < 24 || cookieLen > 4096 || len(msg) != proxyHeaderSize+notifSize+respSize+int(cookieLen) {
		return nil, false
	}
	out := append([]byte(nil), msg[:proxyHeaderSize+notifSize+respSize]...)
	le.PutUint64(out[0:], 0)
	req := out[proxyHeaderSize : proxyHeaderSize+notifSize]
	resp := out[proxyHeaderSize+notifSize:]
	clear(resp)
	copy(resp[0:8], req[0:8]) // id
	nr := le.Uint32(req[16:])
	arch := le.Uint32(req[20:])
	addr := le.Uint64(req[32:]) // args[0]
	goOn := func() ([]byte, bool) {
		le.PutUint32(resp[20:], notifyFlagGoOn)
		return out, true
	}
	// liblxc sends the caller's /proc/<pid>, /proc/<pid>/mem and (5.0)
	// the seccomp listener: the one to write to is told by its name.
	memFD := -1
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err == nil && strings.HasSuffix(l, "/mem") {
			memFD = fd
		}
	}
	if nr != sysSysinfoX86_64 || arch != auditArchX86_64 || memFD < 0 {
		return goOn()
	}
	info, err := containerSysinfo(p.layout, initPid)
	if err != nil {
		return goOn()
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&info)), unsafe.Sizeof(info))
	if _, err := unix.Pwrite(memFD, b, int64(addr)); err != nil {
		errno := -int32(unix.EFAULT)
		le.PutUint32(resp[16:], uint32(errno))
		return out, true
	}
	return out, true
}

// containerSysinfo is sysinfo(2) as the container whose init is initPid
// should see it.
func containerSysinfo(layout cgroups.Layout, initPid int) (unix.Sysinfo_t, error) {
	var info unix.Sysinfo_t
	if err := unix.Sysinfo(&info); err != nil {
		return info, err
	}
	if initPid <= 0 {
		return info, errors.New("no init pid")
	}
	p, err := layout.Locate(initPid)
	if err != nil {
		return info, err
	}
	started, err := startTicks(initPid)
	if err != nil {
		return info, err
	}
	info.Uptime = max(info.Uptime-int64(started/userHZ), 0)
	unit := uint64(max(info.Unit, 1))
	row := func(res string) (lxcdriver.Counter, bool) {
		for _, c := range cgroups.Read(p) {
			if c.Resource == res {
				return c, true
			}
		}
		return lxcdriver.Counter{}, false
	}
	if c, ok := row(lxcdriver.ResNumProc); ok {
		info.Procs = uint16(min(c.Held, 65535))
	}
	mem, ok := row(lxcdriver.ResPhysPages)
	if !ok || mem.Limit == lxcdriver.Unlimited || mem.Limit*cgroups.PageSize >= info.Totalram*unit {
		return info, nil
	}
	total := mem.Limit * cgroups.PageSize
	used := min(mem.Held*cgroups.PageSize, total)
	info.Totalram = total / unit
	info.Freeram = (total - used) / unit
	info.Sharedram, info.Bufferram = 0, 0
	info.Totalhigh, info.Freehigh = 0, 0
	if sw, ok := row(lxcdriver.ResSwapPages); ok && sw.Limit != lxcdriver.Unlimited {
		total := min(sw.Limit*cgroups.PageSize, info.Totalswap*unit)
		info.Totalswap = total / unit
		info.Freeswap = (total - min(sw.Held*cgroups.PageSize, total)) / unit
	}
	return info, nil
}

// startTicks is when pid started, in clock ticks since boot (field 22 of
// /proc/<pid>/stat).
func startTicks(pid int) (uint64, error) {
	f, err := statField(pid, 22)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(f, 10, 64)
}

// statField is field n (from 1, as proc(5) counts) of /proc/<pid>/stat,
// read after the command name, which may hold spaces.
func statField(pid, n int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || n < 3 {
		return "", errors.New("bad stat")
	}
	f := strings.Fields(s[i+1:]) // from field 3
	if len(f) < n-2 {
		return "", errors.New("bad stat")
	}
	return f[n-3], nil
}

// waitMonitor waits until the monitor of the container whose init is
// initPid has connected to the proxy (see monitorQuery), for up to
// timeout. A container that is past it starts anyway; its sysinfo
// answers come once the monitor connects.
func (p *sysinfoProxy) waitMonitor(ctx context.Context, initPid int, timeout time.Duration) error {
	monitor := parentOf(initPid)
	if monitor == 0 {
		return fmt.Errorf("no parent (monitor) for init %d", initPid)
	}
	deadline := time.Now().Add(timeout)
	for {
		ok, err := monitorConnected(p.sock, monitor)
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("monitor %d not connected after %v", monitor, timeout)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
