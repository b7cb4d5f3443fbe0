package liblxc_test

import (
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/drivertest"
)

// TestConsoleDriver runs the terminal conformance suite on real busybox
// containers: lxc-attach shells and the console through liblxc.
func TestConsoleDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("the liblxc suite starts real containers; skipped with -short")
	}
	requireLiblxc(t)
	drivertest.ExerciseConsole(t, func(t *testing.T) lxcdriver.Driver { return newDriver(t) })
}
