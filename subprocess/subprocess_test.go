package subprocess

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCancelKillsTheWholeGroup: a program that forked a child of its own
// is gone, child and all, soon after its context is cancelled.
func TestCancelKillsTheWholeGroup(t *testing.T) {
	pidFile := t.TempDir() + "/child"
	ctx, cancel := context.WithCancel(context.Background())
	cmd := Command(ctx, "sh", "-c", "sleep 60 & echo $! > "+pidFile+"; wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var child int
	for deadline := time.Now().Add(5 * time.Second); child == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(pidFile)
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if child == 0 {
		t.Fatal("the grandchild never started")
	}
	cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after the cancel")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if err := syscall.Kill(child, 0); errors.Is(err, syscall.ESRCH) {
			break
		}
		// A zombie still answers until it is reaped by init: look at its state.
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(child) + "/stat"); err == nil && strings.Contains(string(b), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still alive after its group was cancelled", child)
		}
	}
}

func TestRunReportsFailureAndOutput(t *testing.T) {
	ctx := context.Background()
	out, err := Output(ctx, "sh", "-c", "echo fine")
	if err != nil || out != "fine" {
		t.Fatalf("output %q, %v", out, err)
	}
	_, err = Output(ctx, "sh", "-c", "echo broken >&2; exit 3")
	var se *Error
	var ee *exec.ExitError
	if !errors.As(err, &se) || !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("a failing program: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := Output(cctx, "sleep", "10"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a program past its deadline: %v", err)
	}
}
