package subprocess

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary run again with this set is a stand-in for the panel:
// it starts `sleep 300` with Start, prints its pid, ends threads of its
// own (goroutines that exit locked to their thread), says so, and waits
// to be killed.
const helperEnv = "CTPANEL_SUBPROCESS_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		cmd := Command(context.Background(), "sleep", "300")
		if err := Start(cmd); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(cmd.Process.Pid)
		done := make(chan struct{})
		for range 64 {
			go func() {
				runtime.LockOSThread()
				done <- struct{}{} // exits locked: its thread ends
			}()
			<-done
		}
		fmt.Println("threads-ended")
		select {}
	}
	os.Exit(m.Run())
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// TestChildrenDieWithThePanel: a child started with Start outlives
// threads of the parent ending (the forking thread is held), and dies
// when the parent is killed with SIGKILL.
func TestChildrenDieWithThePanel(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(self, "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() })
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		t.Fatal("helper said nothing")
	}
	child, err := strconv.Atoi(lines.Text())
	if err != nil {
		t.Fatalf("helper: %s", lines.Text())
	}
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	if !lines.Scan() || lines.Text() != "threads-ended" {
		t.Fatalf("helper: %q", lines.Text())
	}
	time.Sleep(100 * time.Millisecond)
	if !alive(child) {
		t.Fatal("the child died when other threads of its parent ended")
	}
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for alive(child) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d still running 5 s after its parent was killed", child)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
