package liblxc_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

func TestTmpExecCtx(t *testing.T) {
	if os.Getenv("CTP_CTX") == "" {
		t.Skip()
	}
	d, name := startBusybox(t)
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithTimeout(t.Context(), time.Duration(i*3)*time.Millisecond)
		_, err := d.Exec(ctx, name, []string{"sleep", "600"}, lxcdriver.ExecOptions{})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("exec sleep past its deadline: error %v", err)
		}
		res, err := d.Exec(t.Context(), name, []string{"pidof", "sleep"}, lxcdriver.ExecOptions{})
		if err != nil {
			t.Fatalf("exec pidof: %v", err)
		}
		if res.ExitCode == 0 {
			out, _ := exec.Command("sh", "-c", "ps -eo pid,ppid,pgid,stat,cmd | grep 'sleep 600' | grep -v grep").CombinedOutput()
			t.Errorf("%d: sleep still running: pid %s\n%s", i, res.Stdout, out)
			time.Sleep(200 * time.Millisecond)
			out, _ = exec.Command("sh", "-c", "ps -eo pid,ppid,pgid,stat,cmd | grep 'sleep 600' | grep -v grep").CombinedOutput()
			t.Logf("later:\n%s", out)
		}
	}
}
