package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// hungAfter is how long a forked copy of this process may live without
// exec'ing before the watchdog calls it hung. liblxc's forked children
// exec (rsync, say) or exit within milliseconds.
const hungAfter = 30 * time.Second

// watchdog finds children that liblxc forked from this process and that
// hang, and kills them. liblxc forks with the raw clone syscall, so in a
// child of a multi-threaded Go program glibc still believes in the
// parent's threads; a clone's child then calls setgid, which waits
// forever for a thread that was being created at the moment of the fork.
// The hung child holds the source container's lock, so every later clone
// of it, through the panel or not, would wait forever too. Killing the
// child makes that one clone fail instead of hanging; the run then
// redoes the step and the turn, and fails loudly at the end.
type watchdog struct {
	log    *slog.Logger
	self   int
	exe    string
	mu     sync.Mutex
	killed []int
}

func newWatchdog(log *slog.Logger) (*watchdog, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	return &watchdog{log: log, self: os.Getpid(), exe: exe}, nil
}

// run watches until ctx ends.
func (w *watchdog) run(ctx context.Context) {
	seen := map[int]time.Time{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		live := map[int]bool{}
		for _, pid := range w.forkedChildren() {
			live[pid] = true
			first, ok := seen[pid]
			if !ok {
				seen[pid] = now
				continue
			}
			if now.Sub(first) < hungAfter {
				continue
			}
			wchan, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/wchan")
			w.log.Error("killing a child liblxc forked from this process: it has not exec'd for "+hungAfter.String()+
				" (the setgid-after-raw-clone deadlock); the operation that forked it will fail",
				"pid", pid, "wchan", string(wchan))
			// Counted first: the step that forked it must see the count
			// when its failure reaches it.
			w.mu.Lock()
			w.killed = append(w.killed, pid)
			w.mu.Unlock()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				w.log.Warn("kill", "pid", pid, "err", err)
			}
			delete(seen, pid)
		}
		for pid := range seen {
			if !live[pid] {
				delete(seen, pid)
			}
		}
	}
}

// forkedChildren lists this process's children that still run this
// process's executable, that is, forked and never exec'd.
func (w *watchdog) forkedChildren() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == w.self {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(w.self) {
			continue
		}
		if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil && exe == w.exe {
			pids = append(pids, pid)
		}
	}
	return pids
}

// kills counts the children killed so far.
func (w *watchdog) kills() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.killed)
}
