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
