package liblxc_test

import (
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
)

// TestSysinfoInterception: busybox's free asks sysinfo(2), which lxcfs
// cannot reach; in a shell the container's init started (the console's)
// it shows the plan's memory. And lxc-attach stays reliable beside the
// interception: liblxc 5.0.2 loses about one attach in twelve when the
// policy it reads for an attach has a notify rule, so many attaches at
// once must all come back with their command's output and exit code.
func TestSysinfoInterception(t *testing.T) {
	if !liblxc.SysinfoInterceptEnabled() {
		t.Fatalf("%s=0 in the environment: the interception is off", liblxc.SysinfoInterceptEnvVar)
	}
	d, name := startBusybox(t)
	ctx := t.Context()
	if err := d.SetLimits(ctx, name, lxcdriver.Limits{MemHard: u64(256 << 20)}); err != nil {
		t.Fatalf("limits: %v", err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 12 {
				want := fmt.Sprintf("attach-%d-%d", w, i)
				res, err := d.Exec(ctx, name, []string{"/bin/sh", "-c", "echo " + want + "; free -m >/dev/null; exit 7"}, lxcdriver.ExecOptions{})
				switch {
				case err != nil:
					errs <- fmt.Errorf("%s: %v", want, err)
				case res.ExitCode != 7 || string(res.Stdout) != want+"\n":
					errs <- fmt.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 7 and the line", want, res.ExitCode, res.Stdout, res.Stderr)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	term, err := d.Console(ctx, name, 0)
	if err != nil {
		t.Fatalf("console: %v", err)
	}
	defer term.Close()
	var mu sync.Mutex
	var out []byte
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := term.Read(buf)
			mu.Lock()
			out = append(out, buf[:n]...)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	// busybox init asks for Enter before it starts the console's shell.
	if _, err := term.Write([]byte("\rfree -m | awk '$1 == \"Mem:\" {print \"MEMTOTAL=\" $2}'\r")); err != nil {
		t.Fatal(err)
	}
	total := regexp.MustCompile(`MEMTOTAL=(\d+)\r?\n`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		m := total.FindSubmatch(out)
		seen := string(out)
		mu.Unlock()
		if m != nil {
			if string(m[1]) != "256" {
				t.Errorf("free -m in the console's shell: Mem total %s MiB, want the limit's 256; the console showed:\n%s", m[1], seen)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no free -m answer on the console within 20 s; it showed:\n%s", seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
