package lxcdriver_test

import (
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/drivertest"
)

func TestFakeConsole(t *testing.T) {
	drivertest.ExerciseConsole(t, func(t *testing.T) lxcdriver.Driver { return lxcdriver.NewFake() })
}
