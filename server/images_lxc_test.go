package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/hostnet/hostnettest"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// waitSystem waits for systemd in a container to finish booting and
// returns what `systemctl is-system-running` says then (running,
// degraded...), with the failed units when it is not running.
func waitSystem(t *testing.T, drv lxcdriver.Driver, name string, limit time.Duration) (state, failed string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		res, err := drv.Exec(context.Background(), name, []string{"systemctl", "is-system-running"}, lxcdriver.ExecOptions{})
		state = strings.TrimSpace(string(res.Stdout))
		if err == nil && state != "" && state != "starting" && state != "initializing" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: systemd still %q after %s (%v)", name, state, limit, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if state != "running" {
		res, _ := drv.Exec(context.Background(), name, []string{"systemctl", "--failed", "--no-legend", "--plain"}, lxcdriver.ExecOptions{})
		failed = string(res.Stdout)
	}
	return state, failed
}

// sshInto runs cmd over SSH from the client namespace as root with key,
// trusting only hostKey (the container's own ed25519 host key).
func sshInto(t *testing.T, client hostnettest.Client, dir, key, addr, hostKey, cmd string) (string, error) {
	t.Helper()
	f := strings.Fields(hostKey)
	known := filepath.Join(dir, "known_hosts-"+strconv.FormatInt(time.Now().UnixNano(), 10))
	if err := os.WriteFile(known, []byte(addr+" "+f[0]+" "+f[1]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := client.Exec("ssh", "-i", key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile="+known, "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", "root@"+addr, cmd)
	return string(out), err
}

// TestDebianImageThroughTheAPI: Debian 12 built from the archive by the
// panel; a VPS of it, unprivileged, with addresses from pools and a plan's
// memory, boots systemd to running and lets root in over SSH from the
// client namespace with the key given at create, its own host key, and
// shows the hostname, addresses, resolver and memory the panel set. A
// reinstall to a new version of the image keeps CTID, addresses and
// limits and gives new host keys.
func TestDebianImageThroughTheAPI(t *testing.T) {
	lxcpath := requireLXC(t)
	for _, tool := range []string{"debootstrap", "zstd", "gpgv", "ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: make test installs it (scripts/install-deps.sh)", tool)
		}
	}
	client := hostnettest.NewClient(t)
	p := newTestPanel(t, nil, lxcpath)

	began := time.Now()
	task := p.expect(p.do(p.admin, "POST", "/api/v1/image-builds", map[string]any{"recipe": "debian-12"}), http.StatusAccepted).json(t)
	seen := map[string]bool{}
	deadline := time.Now().Add(20 * time.Minute)
	for task["status"] == "running" {
		seen[fmt.Sprint(task["progress"])] = true
		if time.Now().After(deadline) {
			t.Fatalf("build still running: %v", task)
		}
		time.Sleep(time.Second)
		task = p.expect(p.do(p.admin, "GET", "/api/v1/image-tasks/"+task["id"].(string), nil), 200).json(t)
	}
	if task["status"] != "succeeded" {
		t.Fatalf("build: %v", task)
	}
	t.Logf("debian-12 built from %v in %s (%d progress steps seen)", task["params"].(map[string]any)["mirror"], time.Since(began).Round(time.Second), len(seen))
	if len(seen) < 3 {
		t.Errorf("the build showed %d progress steps: %v", len(seen), seen)
	}
	img := p.expect(p.do(p.admin, "GET", "/api/v1/templates/debian-12", nil), 200).json(t)
	v1 := fmt.Sprint(img["version"])
	if img["origin"] != "built" || img["distribution"] != "debian" || img["release"] != "12" {
		t.Fatalf("image: %v", img)
	}

	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test@client", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")

	p.expect(p.do(p.admin, "POST", "/api/v1/ip-pools", map[string]any{"name": "deb-v4", "cidr": "198.18.70.0/24", "default": true,
		"nameservers": []string{"198.18.70.53"}}), http.StatusCreated)
	p.expect(p.do(p.admin, "POST", "/api/v1/ip-pools", map[string]any{"name": "deb-v6", "cidr": "2001:db8:10:100::/56", "default": true}), http.StatusCreated)
	p.expect(p.do(p.admin, "POST", "/api/v1/plans", map[string]any{"name": "vps-256", "limits": map[string]any{"physpages": "256M", "numproc": "512"}}), http.StatusCreated)
	_, alice := p.customer("alice")
	created := time.Now()
	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "debian-12", "hostname": "vps1.example.com",
		"plan": "vps-256", "owner": "alice", "ip_addresses": []string{"auto", "auto6"}, "ssh_keys": []string{strings.TrimSpace(string(pub))},
		"root_password": "correct horse battery", "start": true})
	state, failed := waitSystem(t, p.app.Drv, "101", 3*time.Minute)
	t.Logf("create and start to is-system-running=%s: %s", state, time.Since(created).Round(100*time.Millisecond))
	if state != "running" {
		t.Fatalf("systemd is %s; failed units:\n%s", state, failed)
	}
	ct := p.expect(p.do(alice, "GET", "/api/v1/containers/101", nil), 200).json(t)
	addrs := fmt.Sprint(ct["ip_addresses"])
	if addrs != "[198.18.70.1 2001:db8:10:100::/64]" || ct["image_version"] != v1 || ct["guest_os"] != "debian 12 (ifupdown)" || ct["privileged"] != false {
		t.Fatalf("container: %v", ct)
	}
	// Unprivileged: its init is a host id of its own block, not root.
	info, err := p.app.Drv.Info(context.Background(), "101")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat("/proc/" + strconv.Itoa(info.InitPID)); err != nil || fi.Sys().(*syscall.Stat_t).Uid < 100_000_000 {
		t.Fatalf("init %d runs as host uid %v (%v), want one of the container's own block", info.InitPID, fi.Sys().(*syscall.Stat_t).Uid, err)
	}

	readKey := func() string {
		b, err := p.app.Drv.(lxcdriver.FileReader).ReadFile(context.Background(), "101", "/etc/ssh/ssh_host_ed25519_key.pub")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	hostKey := readKey()
	script := "hostname; ip -o addr show dev eth0; cat /etc/resolv.conf; free -b | awk '/^Mem:/{print \"memtotal=\" $2}'; systemctl is-system-running"
	var out string
	for i := 0; ; i++ {
		if out, err = sshInto(t, client, dir, key, "198.18.70.1", hostKey, script); err == nil || i == 20 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("ssh root@198.18.70.1: %v: %s", err, out)
	}
	t.Logf("over SSH:\n%s", out)
	for _, want := range []string{"vps1.example.com\n", "inet 198.18.70.1/32", "inet6 2001:db8:10:100::1/128", "nameserver 198.18.70.53", "\nrunning"} {
		if !strings.Contains(out, want) {
			t.Errorf("over SSH: no %q in:\n%s", want, out)
		}
	}
	var mem int64
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "memtotal="); ok {
			mem, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if mem < 250<<20 || mem > 260<<20 {
		t.Errorf("free shows %d bytes of memory, want the plan's 256M", mem)
	}
	if err := client.Ping("2001:db8:10:100::1"); err != nil {
		t.Errorf("IPv6 from the guest's own files: %v", err)
	}
	limitsBefore := fmt.Sprint(p.expect(p.do(alice, "GET", "/api/v1/containers/101/limits", nil), 200).json(t))

	// A new version of the image: the built archive uploaded again.
	file := filepath.Join(p.app.Cfg.TemplateCacheDir(), "images", "debian-12", v1+".tar.zst")
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	v2 := p.expect(p.doWith(http.Header{"Content-Type": {"application/octet-stream"}}, p.admin, "POST", "/api/v1/templates/debian-12/versions", string(body)),
		http.StatusCreated).json(t)["version"].(string)
	p.ok(alice, "POST", "/api/v1/containers/101/reinstall", map[string]any{"template": "debian-12", "ssh_keys": []string{strings.TrimSpace(string(pub))}})
	if state, failed := waitSystem(t, p.app.Drv, "101", 3*time.Minute); state != "running" {
		t.Fatalf("after reinstall systemd is %s; failed units:\n%s", state, failed)
	}
	ct = p.expect(p.do(alice, "GET", "/api/v1/containers/101", nil), 200).json(t)
	if ct["ctid"] != float64(101) || fmt.Sprint(ct["ip_addresses"]) != addrs || ct["image_version"] != v2 {
		t.Fatalf("after reinstall: %v", ct)
	}
	if after := fmt.Sprint(p.expect(p.do(alice, "GET", "/api/v1/containers/101/limits", nil), 200).json(t)); after != limitsBefore {
		t.Errorf("limits after reinstall %s, before %s", after, limitsBefore)
	}
	newKey := readKey()
	if newKey == hostKey {
		t.Error("reinstall kept the SSH host key")
	}
	for i := 0; ; i++ {
		if out, err = sshInto(t, client, dir, key, "198.18.70.1", newKey, "hostname"); err == nil || i == 20 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil || strings.TrimSpace(out) != "vps1.example.com" {
		t.Fatalf("ssh after reinstall: %v: %s", err, out)
	}
	// The old host key no longer opens it.
	if out, err := sshInto(t, client, dir, key, "198.18.70.1", hostKey, "true"); err == nil {
		t.Errorf("the old host key still verifies: %s", out)
	}
	p.expect(p.do(p.admin, "DELETE", "/api/v1/templates/debian-12/versions/"+v2, nil), http.StatusConflict)
	p.expect(p.do(p.admin, "DELETE", "/api/v1/templates/debian-12/versions/"+v1, nil), http.StatusNoContent)
	p.ok(p.admin, "DELETE", "/api/v1/containers/101?force=true", nil)
}
