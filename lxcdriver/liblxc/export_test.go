package liblxc

import (
	"os"
	"strconv"
	"strings"
)

// LoopDevicesUnder lets the tests check that nothing is left attached.
var LoopDevicesUnder = loopDevicesUnder

// SysinfoProxyPid is the pid of the proxy serving the driver's lxcpath.
func SysinfoProxyPid(d *Driver) (int, error) {
	b, err := os.ReadFile(d.sysinfo.sock + ".lock")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// MonitorConnected says whether the container's monitor is connected to
// the driver's sysinfo proxy.
func MonitorConnected(d *Driver, initPid int) (bool, error) {
	return monitorConnected(d.sysinfo.sock, parentOf(initPid))
}

// MountImage mounts a loop disk image as a create does to fill it.
var MountImage = mountImage
