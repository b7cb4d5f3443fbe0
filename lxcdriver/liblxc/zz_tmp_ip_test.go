package liblxc_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

func TestTmpIP(t *testing.T) {
	if os.Getenv("CTP_IP") == "" {
		t.Skip()
	}
	d, name := startBusybox(t,
		lxcdriver.ConfigItem{Key: "lxc.net.0.type", Value: ""},
		lxcdriver.ConfigItem{Key: "lxc.net.0.type", Value: "veth"},
		lxcdriver.ConfigItem{Key: "lxc.net.0.flags", Value: "up"},
		lxcdriver.ConfigItem{Key: "lxc.net.0.name", Value: "ctp0"},
		lxcdriver.ConfigItem{Key: "lxc.net.0.ipv4.address", Value: "192.0.2.10/24"},
		lxcdriver.ConfigItem{Key: "lxc.net.0.ipv4.address", Value: "192.0.2.11/24"},
		lxcdriver.ConfigItem{Key: "lxc.net.0.ipv6.address", Value: "2001:db8::10/64"},
		lxcdriver.ConfigItem{Key: "lxc.net.1.type", Value: "veth"},
		lxcdriver.ConfigItem{Key: "lxc.net.1.flags", Value: "up"},
		lxcdriver.ConfigItem{Key: "lxc.net.1.name", Value: "ctp1"},
		lxcdriver.ConfigItem{Key: "lxc.net.1.ipv6.address", Value: "2001:db8:1::ffff:c000:20a/64"},
	)
	time.Sleep(2 * time.Second) // DAD
	info, err := d.Info(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("driver: v4=%v v6=%v", info.IPv4, info.IPv6)
	out, err := exec.Command("lxc-info", "-P", d.LXCPath(), "-n", name, "-iH").CombinedOutput()
	t.Logf("lxc-info: %v %s", err, out)
	res, _ := d.Exec(t.Context(), name, []string{"ip", "addr"}, lxcdriver.ExecOptions{})
	t.Logf("%s", res.Stdout)
}
