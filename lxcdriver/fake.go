package lxcdriver

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	pathpkg "path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fake is an in-memory Driver for fast unit tests. It follows the liblxc
// driver's state machine and errors (the drivertest suite holds both to
// that) but runs nothing: Exec interprets a handful of commands, see Exec.
// A Fake is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	cts     map[string]*fakeContainer
	nextPID int
	// consoles are the ttys ("name/tty") a Console terminal holds.
	consoles map[string]bool
}

type fakeContainer struct {
	state   State
	initPID int
	config  map[string]string
	// started are the extra items of the last start.
	started []ConfigItem
	files   map[string][]byte
	// origin is the container a snapshot clone was made from; liblxc
	// refuses to destroy an origin while such clones exist, and so do we.
	origin string
	clones int
	// limits are the saved limits; live are those in force while it
	// runs (saved ones at start, then changed live by SetLimits).
	limits Limits
	live   Limits
	usage  map[string]fakeUsage
	disk   *fakeDisk // nil: a directory rootfs
	idmap  *IDMap    // nil: privileged
}

// NewFake returns an empty Fake.
func NewFake() *Fake {
	return &Fake{cts: make(map[string]*fakeContainer), nextPID: 1000}
}

var _ Driver = (*Fake)(nil)

// get returns the container or ErrNotFound; f.mu must be held.
func (f *Fake) get(op, name string) (*fakeContainer, error) {
	ct, ok := f.cts[name]
	if !ok {
		return nil, fmt.Errorf("fake: %s %s: %w", op, name, ErrNotFound)
	}
	return ct, nil
}

// Create implements Driver. Only the "busybox" template is known; a
// RootfsTarball must name an existing regular file.
func (f *Fake) Create(ctx context.Context, name string, opts CreateOptions) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: create %s: %w", name, err)
	}
	if (opts.Template == "") == (opts.RootfsTarball == "") {
		return fmt.Errorf("fake: create %s: exactly one of template and rootfs tarball must be set", name)
	}
	if opts.Template != "" && opts.Template != "busybox" {
		return fmt.Errorf("fake: create %s: unknown template %q", name, opts.Template)
	}
	if opts.RootfsTarball != "" {
		fi, err := os.Stat(opts.RootfsTarball)
		if err != nil {
			return fmt.Errorf("fake: create %s: rootfs tarball: %w", name, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("fake: create %s: rootfs tarball %s is not a regular file", name, opts.RootfsTarball)
		}
		// Where the liblxc driver's tar would fail: not compressed at all.
		if err := checkGzipMagic(opts.RootfsTarball); err != nil {
			return fmt.Errorf("fake: create %s: rootfs tarball: %w", name, err)
		}
	}
	var files map[string][]byte
	if opts.RootfsTarball != "" {
		files = smallFilesOf(opts.RootfsTarball)
	}

	disk, err := newFakeDisk(opts.Disk)
	if err != nil {
		return fmt.Errorf("fake: create %s: %w", name, err)
	}
	if opts.IDMap != nil {
		if err := opts.IDMap.Validate(); err != nil {
			return fmt.Errorf("fake: create %s: %w", name, err)
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.cts[name]; ok {
		return fmt.Errorf("fake: create %s: %w", name, ErrExists)
	}
	ct := &fakeContainer{
		disk:  disk,
		state: StateStopped,
		config: map[string]string{
			"lxc.uts.name":    name,
			"lxc.rootfs.path": "/fake/" + name + "/rootfs",
		},
		files: make(map[string][]byte),
		idmap: cloneIDMap(opts.IDMap),
	}
	for p, data := range files {
		ct.files[p] = data
	}
	applyFakeConfig(ct, opts.Config)
	f.cts[name] = ct
	return nil
}

// smallFilesOf reads the regular files of up to 64 KiB of a gzip rootfs
// tarball (os-release, network files), so that what the panel reads and
// writes in a guest can be tested on the fake. Other archives give none.
func smallFilesOf(tarball string) map[string][]byte {
	out := map[string][]byte{}
	fh, err := os.Open(tarball)
	if err != nil {
		return out
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		return out
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			return out
		}
		if h.Typeflag == tar.TypeReg && h.Size <= 64<<10 {
			if b, err := io.ReadAll(tr); err == nil {
				out[pathpkg.Clean("/"+h.Name)] = b
			}
		}
	}
}

func cloneIDMap(m *IDMap) *IDMap {
	if m == nil {
		return nil
	}
	c := *m
	return &c
}

// IDMapOf implements Driver.
func (f *Fake) IDMapOf(ctx context.Context, name string) (*IDMap, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("id map", name)
	if err != nil {
		return nil, err
	}
	return cloneIDMap(ct.idmap), nil
}

// Unprivilege implements Driver.
func (f *Fake) Unprivilege(ctx context.Context, name string, m IDMap) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("fake: unprivilege %s: %w", name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("unprivilege", name)
	if err != nil {
		return err
	}
	if ct.state != StateStopped {
		return fmt.Errorf("fake: unprivilege %s: %w", name, ErrRunning)
	}
	if ct.idmap != nil && *ct.idmap != m {
		return fmt.Errorf("fake: unprivilege %s: already unprivileged with host ids %d+%d", name, ct.idmap.HostID, ct.idmap.Size)
	}
	if ct.origin != "" {
		return fmt.Errorf("fake: unprivilege %s: a snapshot clone's overlay cannot be idmapped, make a full clone first: %w", name, ErrUnsupported)
	}
	ct.idmap = cloneIDMap(&m)
	return nil
}

func checkGzipMagic(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	magic := make([]byte, 6)
	n, _ := io.ReadFull(f, magic)
	for _, m := range [][]byte{{0x1f, 0x8b}, {0xfd, '7', 'z', 'X', 'Z', 0}, {0x28, 0xb5, 0x2f, 0xfd}} {
		if n >= len(m) && bytes.Equal(magic[:len(m)], m) {
			return nil
		}
	}
	return fmt.Errorf("%s is not a gzip, xz or zstd-compressed archive", path)
}

// applyFakeConfig mimics liblxc's set_config_item for the keys ctpanel
// uses: the last value wins and an empty value clears the key.
func applyFakeConfig(ct *fakeContainer, items []ConfigItem) {
	for _, it := range items {
		if it.Value == "" {
			delete(ct.config, it.Key)
			continue
		}
		ct.config[it.Key] = it.Value
	}
}

// Clone implements Driver. Like liblxc, the clone's lxc.uts.name becomes
// dst before opts.Config is applied.
func (f *Fake) Clone(ctx context.Context, src, dst string, opts CloneOptions) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: clone %s to %s: %w", src, dst, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.get("clone", src)
	if err != nil {
		return err
	}
	if s.state != StateStopped {
		return fmt.Errorf("fake: clone %s to %s: %w", src, dst, ErrRunning)
	}
	if _, ok := f.cts[dst]; ok {
		return fmt.Errorf("fake: clone %s to %s: %w", src, dst, ErrExists)
	}
	disk, err := cloneFakeDisk(s, opts)
	if err != nil {
		return fmt.Errorf("fake: clone %s to %s: %w", src, dst, err)
	}
	if opts.Snapshot && s.idmap != nil {
		return fmt.Errorf("fake: clone %s to %s: snapshot clone of an unprivileged container: an overlayfs mount cannot be idmapped, make a full clone: %w", src, dst, ErrUnsupported)
	}
	if opts.IDMap != nil {
		if err := opts.IDMap.Validate(); err != nil {
			return fmt.Errorf("fake: clone %s to %s: %w", src, dst, err)
		}
	}
	ct := &fakeContainer{
		disk:   disk,
		state:  StateStopped,
		config: make(map[string]string, len(s.config)),
		files:  make(map[string][]byte, len(s.files)),
		// Limits live in the config, which a clone copies.
		limits: cloneLimits(s.limits),
		idmap:  cloneIDMap(opts.IDMap),
	}
	for k, v := range s.config {
		ct.config[k] = v
	}
	for k, v := range s.files {
		ct.files[k] = bytes.Clone(v)
	}
	ct.config["lxc.uts.name"] = dst
	if opts.Snapshot {
		// liblxc reports the overlay's lower and upper dirs but not the
		// "overlay:" type in front of them.
		ct.config["lxc.rootfs.path"] = s.config["lxc.rootfs.path"] + ":/fake/" + dst + "/overlay/delta"
		ct.origin = src
		s.clones++
	} else {
		ct.config["lxc.rootfs.path"] = "/fake/" + dst + "/rootfs"
	}
	applyFakeConfig(ct, opts.Config)
	f.cts[dst] = ct
	return nil
}

// Start implements Driver. A frozen container gives ErrFrozen, as in the
// liblxc driver: starting it would not make it run.
func (f *Fake) Start(ctx context.Context, name string, extra ...ConfigItem) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: start %s: %w", name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("start", name)
	if err != nil {
		return err
	}
	switch ct.state {
	case StateRunning:
		return nil
	case StateFrozen:
		return fmt.Errorf("fake: start %s: %w", name, ErrFrozen)
	}
	f.nextPID++
	ct.state, ct.initPID = StateRunning, f.nextPID
	ct.started = append([]ConfigItem(nil), extra...)
	// A fresh start: the saved limits apply and every counter, failcnt
	// included, begins again.
	ct.live, ct.usage = cloneLimits(ct.limits), nil
	return nil
}

// Stop implements Driver.
func (f *Fake) Stop(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: stop %s: %w", name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("stop", name)
	if err != nil {
		return err
	}
	ct.state, ct.initPID = StateStopped, 0
	ct.usage = nil
	return nil
}

// Shutdown implements Driver; the fake's init always obeys at once.
func (f *Fake) Shutdown(ctx context.Context, name string, timeout time.Duration) error {
	return f.Stop(ctx, name)
}

// Restart implements Driver.
func (f *Fake) Restart(ctx context.Context, name string, timeout time.Duration) error {
	if err := f.Shutdown(ctx, name, timeout); err != nil {
		return err
	}
	return f.Start(ctx, name)
}

// Freeze implements Driver.
func (f *Fake) Freeze(ctx context.Context, name string) error {
	return f.setFrozen(ctx, "freeze", name, StateFrozen)
}

// Unfreeze implements Driver.
func (f *Fake) Unfreeze(ctx context.Context, name string) error {
	return f.setFrozen(ctx, "unfreeze", name, StateRunning)
}

func (f *Fake) setFrozen(ctx context.Context, op, name string, to State) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: %s %s: %w", op, name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get(op, name)
	if err != nil {
		return err
	}
	if ct.state == StateStopped {
		return fmt.Errorf("fake: %s %s: %w", op, name, ErrNotRunning)
	}
	ct.state = to
	return nil
}

// Destroy implements Driver. An origin of snapshot clones cannot be
// destroyed until they are, as with liblxc.
func (f *Fake) Destroy(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: destroy %s: %w", name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("destroy", name)
	if err != nil {
		return err
	}
	if ct.state != StateStopped {
		return fmt.Errorf("fake: destroy %s: %w", name, ErrRunning)
	}
	if ct.clones > 0 {
		return fmt.Errorf("fake: destroy %s: it has %d snapshot clone(s)", name, ct.clones)
	}
	if o, ok := f.cts[ct.origin]; ok {
		o.clones--
	}
	delete(f.cts, name)
	return nil
}

// State implements Driver.
func (f *Fake) State(ctx context.Context, name string) (State, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("fake: state %s: %w", name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("state", name)
	if err != nil {
		return "", err
	}
	return ct.state, nil
}

// Info implements Driver. A running fake has exactly one task, its init,
// and no addresses.
func (f *Fake) Info(ctx context.Context, name string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("fake: info %s: %w", name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("info", name)
	if err != nil {
		return Info{}, err
	}
	info := Info{Name: name, State: ct.state, InitPID: ct.initPID}
	if ct.state != StateStopped {
		info.NProc = 1
	}
	return info, nil
}

// List implements Driver.
func (f *Fake) List(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fake: list: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.cts))
	for n := range f.cts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// fakeDefaultEnv mirrors the liblxc driver's minimal environment.
var fakeDefaultEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"USER=root",
	"TERM=xterm",
}

// Exec implements Driver by interpreting a few commands, just enough for
// the drivertest suite and handler tests:
//
//	echo ARGS...     prints ARGS
//	true, false      exit 0, exit 1
//	cat [FILE...]    prints files written with WriteFile, or stdin
//	hostname         prints lxc.uts.name
//	df [-k|-i] [/]   prints DiskUsage the way busybox df does
//	pwd, env         print opts.Cwd (default /) and the environment
//	sh -c 'exit N'   exits N
//
// Anything else exits 127 with a message on stderr, like a shell.
func (f *Fake) Exec(ctx context.Context, name string, cmd []string, opts ExecOptions) (ExecResult, error) {
	if err := ctx.Err(); err != nil {
		return ExecResult{}, fmt.Errorf("fake: exec %s: %w", name, err)
	}
	if len(cmd) == 0 {
		return ExecResult{}, fmt.Errorf("fake: exec %s: empty command", name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("exec", name)
	if err != nil {
		return ExecResult{}, err
	}
	switch ct.state {
	case StateFrozen:
		return ExecResult{}, fmt.Errorf("fake: exec %s: %w", name, ErrFrozen)
	case StateStopped:
		return ExecResult{}, fmt.Errorf("fake: exec %s: %w", name, ErrNotRunning)
	}

	var stdout, stderr bytes.Buffer
	code := 0
	args := cmd[1:]
	switch cmd[0] {
	case "echo":
		stdout.WriteString(strings.Join(args, " ") + "\n")
	case "true":
	case "false":
		code = 1
	case "cat":
		if len(args) == 0 {
			stdout.Write(opts.Stdin)
		}
		for _, p := range args {
			data, ok := ct.files[pathpkg.Clean(p)]
			if !ok {
				fmt.Fprintf(&stderr, "cat: can't open '%s': No such file or directory\n", p)
				code = 1
				continue
			}
			stdout.Write(data)
		}
	case "hostname":
		stdout.WriteString(ct.config["lxc.uts.name"] + "\n")
	case "df":
		out, c := fakeDF(ct, args)
		stdout.WriteString(out)
		code = c
	case "pwd":
		cwd := opts.Cwd
		if cwd == "" {
			cwd = "/"
		}
		stdout.WriteString(cwd + "\n")
	case "env":
		for _, kv := range mergeEnv(fakeDefaultEnv, opts.Env) {
			stdout.WriteString(kv + "\n")
		}
	case "sh":
		n, ok := parseShExit(args)
		if !ok {
			fmt.Fprintf(&stderr, "fake: sh %q: only sh -c 'exit N' is supported\n", strings.Join(args, " "))
			code = 2
			break
		}
		code = n
	default:
		fmt.Fprintf(&stderr, "sh: %s: not found\n", cmd[0])
		code = 127
	}
	return ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: code}, nil
}

// mergeEnv appends extra to base, a later KEY replacing an earlier one in
// place, as setenv does.
func mergeEnv(base, extra []string) []string {
	env := slices.Clone(base)
	for _, kv := range extra {
		key, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(env, func(e string) bool { return strings.HasPrefix(e, key+"=") })
		if i >= 0 {
			env[i] = kv
			continue
		}
		env = append(env, kv)
	}
	return env
}

func parseShExit(args []string) (int, bool) {
	if len(args) != 2 || args[0] != "-c" {
		return 0, false
	}
	f := strings.Fields(args[1])
	if len(f) != 2 || f[0] != "exit" {
		return 0, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 0 || n > 255 {
		return 0, false
	}
	return n, true
}

// SetConfig implements Driver.
func (f *Fake) SetConfig(ctx context.Context, name string, items []ConfigItem) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: set config %s: %w", name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("set config", name)
	if err != nil {
		return err
	}
	applyFakeConfig(ct, items)
	return nil
}

// ConfigItem implements Driver.
func (f *Fake) ConfigItem(ctx context.Context, name, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("fake: config item %s: %w", name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("config item", name)
	if err != nil {
		return "", err
	}
	return ct.config[key], nil
}

// errFakeBadPath is what WriteFile says about a path the liblxc driver
// would refuse too.
var errFakeBadPath = errors.New("path must be absolute and free of \"..\"")

// WriteFile implements Driver.
func (f *Fake) WriteFile(ctx context.Context, name, path string, data []byte, perm uint32) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: write %s in %s: %w", path, name, err)
	}
	if !strings.HasPrefix(path, "/") || slices.Contains(strings.Split(path, "/"), "..") {
		return fmt.Errorf("fake: write %q in %s: %w", path, name, errFakeBadPath)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("write file", name)
	if err != nil {
		return err
	}
	p := pathpkg.Clean(path)
	// Like write(2) on a full filesystem: what fits is written.
	if n := ct.fitFile(p, data); n < len(data) {
		ct.files[p] = bytes.Clone(data[:n])
		return fmt.Errorf("fake: write %s in %s: %w", path, name, errFakeNoSpace(p))
	}
	ct.files[p] = bytes.Clone(data)
	return nil
}

var _ ResourceDriver = (*Fake)(nil)

// fakeUsage is what SetHeld says a resource holds.
type fakeUsage struct {
	held, maxHeld, failCnt uint64
}

// Held values of a freshly started fake, so rows look like an idle
// busybox container: init alone, 1 MiB of memory, 512 KiB of kernel
// memory.
var fakeDefaultHeld = map[string]uint64{
	ResNumProc:   1,
	ResPhysPages: 256,
	ResKmemSize:  512 << 10,
}

// fakePageSize is cgroups.PageSize (the fake cannot import it).
const fakePageSize = 4096

func cloneLimits(l Limits) Limits {
	for _, p := range []**uint64{&l.NumProc, &l.MemSoft, &l.MemHard, &l.Swap, &l.KmemSize, &l.TCPBuf, &l.CPUUnits, &l.CPULimitPc} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	return l
}

// fakeLimited says p holds a real limit (not nil, not Unlimited).
func fakeLimited(p *uint64) bool { return p != nil && *p < 1<<62 }

// mergeFakeLimits is cgroups.Merge on a v1 host: the fields req sets
// replace those in inForce, and removing the memory limit without a word
// about swap removes the swap limit too.
func mergeFakeLimits(inForce, req Limits) Limits {
	out := cloneLimits(inForce)
	set := func(dst **uint64, src *uint64) {
		if src != nil {
			v := *src
			*dst = &v
		}
	}
	set(&out.NumProc, req.NumProc)
	set(&out.MemSoft, req.MemSoft)
	set(&out.MemHard, req.MemHard)
	set(&out.Swap, req.Swap)
	set(&out.KmemSize, req.KmemSize)
	set(&out.TCPBuf, req.TCPBuf)
	set(&out.CPUUnits, req.CPUUnits)
	set(&out.CPULimitPc, req.CPULimitPc)
	if req.Swap == nil && req.MemHard != nil && !fakeLimited(req.MemHard) && out.Swap != nil {
		u := Unlimited
		out.Swap = &u
	}
	return out
}

// SetLimits implements ResourceDriver like the liblxc driver on this
// project's cgroup v1 host with a recent kernel: a kernel memory limit is
// unsupported, and a swap limit needs a physpages limit (swap is limited
// as memory+swap).
func (f *Fake) SetLimits(ctx context.Context, name string, l Limits) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: set limits %s: %w", name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("set limits", name)
	if err != nil {
		return err
	}
	if fakeLimited(l.KmemSize) {
		return fmt.Errorf("fake: set limits %s: kmemsize: the kernel ignores memory.kmem.limit_in_bytes: %w", name, ErrUnsupported)
	}
	check := func(inForce Limits) error {
		hard := l.MemHard
		if hard == nil {
			hard = inForce.MemHard
		}
		if fakeLimited(l.Swap) && !fakeLimited(hard) {
			return fmt.Errorf("fake: set limits %s: swappages: cgroup v1 limits swap as memory+swap, so a swap limit needs a physpages limit: %w", name, ErrUnsupported)
		}
		return nil
	}
	if err := check(ct.limits); err != nil {
		return err
	}
	running := ct.state != StateStopped
	if running {
		if err := check(ct.live); err != nil {
			return err
		}
	}
	ct.limits = mergeFakeLimits(ct.limits, l)
	if running {
		ct.live = mergeFakeLimits(ct.live, l)
	}
	return nil
}

// SetHeld makes a running fake container's resource hold held (in the
// row's units) and count failcnt failures, for tests of what reads
// beancounters. maxheld follows the highest held. It lasts until the
// container stops.
func (f *Fake) SetHeld(name, resource string, held, failcnt uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("set held", name)
	if err != nil {
		return err
	}
	if ct.state == StateStopped {
		return fmt.Errorf("fake: set held %s: %w", name, ErrNotRunning)
	}
	if ct.usage == nil {
		ct.usage = make(map[string]fakeUsage)
	}
	u := ct.usage[resource]
	u.held, u.failCnt = held, failcnt
	u.maxHeld = max(u.maxHeld, held, fakeDefaultHeld[resource])
	ct.usage[resource] = u
	return nil
}

// Beancounters implements ResourceDriver with the rows the liblxc driver
// reports on a cgroup v1 host: every resource but tcprcvbuf, limits from
// SetLimits, held values from SetHeld (or those of an idle container).
func (f *Fake) Beancounters(ctx context.Context, name string) ([]Counter, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fake: beancounters %s: %w", name, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("beancounters", name)
	if err != nil {
		return nil, err
	}
	if ct.state == StateStopped {
		return nil, fmt.Errorf("fake: beancounters %s: %w", name, ErrNotRunning)
	}
	l := ct.live
	lim := func(p *uint64, unit uint64) uint64 {
		if !fakeLimited(p) {
			return Unlimited
		}
		return *p / unit
	}
	row := func(res string, barrier, limit uint64) Counter {
		u, ok := ct.usage[res]
		if !ok {
			u.held = fakeDefaultHeld[res]
			u.maxHeld = u.held
		}
		return Counter{Resource: res, Held: u.held, MaxHeld: u.maxHeld, Barrier: barrier, Limit: limit, FailCnt: u.failCnt,
			Instance: int64(ct.initPID)}
	}
	numproc := lim(l.NumProc, 1)
	swap := Unlimited
	if fakeLimited(l.Swap) && fakeLimited(l.MemHard) {
		swap = *l.Swap / fakePageSize
	}
	units := uint64(1000)
	if l.CPUUnits != nil {
		units = *l.CPUUnits
	}
	cpuLimit := lim(l.CPULimitPc, 1)
	if cpuLimit == 0 {
		cpuLimit = Unlimited
	}
	tcp := lim(l.TCPBuf, 1)
	oom := row(ResOOM, Unlimited, Unlimited)
	oom.Held, oom.MaxHeld = 0, 0
	return []Counter{
		row(ResNumProc, numproc, numproc),
		row(ResPhysPages, min(lim(l.MemSoft, fakePageSize), lim(l.MemHard, fakePageSize)), lim(l.MemHard, fakePageSize)),
		row(ResSwapPages, swap, swap),
		row(ResKmemSize, Unlimited, Unlimited),
		row(ResTCPSndBuf, tcp, tcp),
		row(ResCPU, units, cpuLimit),
		oom,
	}, nil
}

// StartedWith returns the extra config items name was last started with.
func (f *Fake) StartedWith(name string) ([]ConfigItem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("started with", name)
	if err != nil {
		return nil, err
	}
	return append([]ConfigItem(nil), ct.started...), nil
}
