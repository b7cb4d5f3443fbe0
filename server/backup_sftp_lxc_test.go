package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/hostnet/hostnettest"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// sftpServer is Debian's sshd in a network namespace of the test's own,
// serving SFTP to a key made for the test.
type sftpServer struct {
	Addr, User, PrivateKey, HostKey, Root string
}

func newSFTPServer(t *testing.T) sftpServer {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		t.Fatal("sshd (Debian package openssh-server) is needed: run make test")
	}
	id := strconv.Itoa(os.Getpid() % 100000)
	ns, dev := "ctpt-sftp-"+id, "tf"+id
	k := os.Getpid() % 16384 * 4
	hostAddr, srvAddr := fmt.Sprintf("198.18.%d.%d", 128+k>>8%64, k&255+1), fmt.Sprintf("198.18.%d.%d", 128+k>>8%64, k&255+2)
	hostnettest.Run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", dev).Run()
		_ = exec.Command("ip", "netns", "del", ns).Run()
	})
	hostnettest.Run(t, "ip", "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns", ns)
	hostnettest.Run(t, "ip", "addr", "add", hostAddr+"/30", "dev", dev)
	hostnettest.Run(t, "ip", "link", "set", dev, "up")
	hostnettest.Run(t, "ip", "netns", "exec", ns, "ip", "addr", "add", srvAddr+"/30", "dev", "eth0")
	hostnettest.Run(t, "ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
	hostnettest.Run(t, "ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

	dir := t.TempDir()
	hostnettest.Run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "host"))
	hostnettest.Run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "client"))
	pub, _ := os.ReadFile(filepath.Join(dir, "client.pub"))
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`ListenAddress %s
Port 22
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
`, srvAddr, filepath.Join(dir, "host"), filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"))), 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd wants its privilege separation folder.
	if _, err := os.Stat("/run/sshd"); os.IsNotExist(err) {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Remove("/run/sshd") })
	}
	cmd := exec.Command("ip", "netns", "exec", ns, "/usr/sbin/sshd", "-D", "-e", "-f", conf)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", srvAddr+":22", time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd in %s does not answer: %v: %s", ns, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	key, _ := os.ReadFile(filepath.Join(dir, "client"))
	hostPub, _ := os.ReadFile(filepath.Join(dir, "host.pub"))
	fields := strings.Fields(string(hostPub))
	root := filepath.Join(t.TempDir(), "sftp-root")
	return sftpServer{Addr: srvAddr, User: "root", PrivateKey: string(key), HostKey: fields[0] + " " + fields[1], Root: root}
}

// TestBackupToSFTP: backups to another host over SFTP (Debian's sshd in a
// network namespace), restored from there; a server that does not answer,
// or answers with another host key, fails the backup with its reason.
func TestBackupToSFTP(t *testing.T) {
	lxcpath := requireLXC(t)
	srv := newSFTPServer(t)
	p := newTestPanel(t, nil, lxcpath)
	target := map[string]any{"name": "remote", "kind": "sftp", "host": srv.Addr, "user": srv.User, "path": srv.Root,
		"private_key": srv.PrivateKey, "host_key": srv.HostKey}
	bad := map[string]any{"name": "bad", "kind": "sftp", "host": "-oProxyCommand=x", "user": "Root!", "path": "rel",
		"private_key": "no", "host_key": "nope", "port": 70000}
	r := p.expect(p.doMalformed(p.admin, "POST", "/api/v1/backup-targets", string(mustMarshal(t, bad))), http.StatusUnprocessableEntity).json(t)
	for _, f := range []string{"host", "user", "path", "private_key", "host_key", "port"} {
		if !strings.Contains(string(mustMarshal(t, r)), `"`+f+`"`) {
			t.Errorf("bad sftp target: %s not named in %v", f, r)
		}
	}
	if v := p.expect(p.do(p.admin, "POST", "/api/v1/backup-targets", target), http.StatusCreated).json(t); v["host"] != srv.Addr || v["private_key"] != nil {
		t.Fatalf("target: %v", v)
	}
	wrongKey := map[string]any{"name": "spoofed", "kind": "sftp", "host": srv.Addr, "user": srv.User, "path": srv.Root,
		"private_key": srv.PrivateKey, "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"}
	p.expect(p.do(p.admin, "POST", "/api/v1/backup-targets", wrongKey), http.StatusCreated)
	closed := map[string]any{"name": "closed", "kind": "sftp", "host": srv.Addr, "port": 2222, "user": srv.User, "path": srv.Root,
		"private_key": srv.PrivateKey, "host_key": srv.HostKey}
	p.expect(p.do(p.admin, "POST", "/api/v1/backup-targets", closed), http.StatusCreated)

	p.ok(p.admin, "POST", "/api/v1/containers", map[string]any{"ctid": 101, "template": "busybox", "start": true})
	exec := func(script string) string {
		t.Helper()
		res, err := p.app.Drv.Exec(context.Background(), "101", []string{"/bin/sh", "-c", script}, lxcdriver.ExecOptions{})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("%s: %v %s %s", script, err, res.Stdout, res.Stderr)
		}
		return string(res.Stdout)
	}
	exec("echo kept-remotely > /root/note")
	for name, why := range map[string]string{"spoofed": "Host key verification failed", "closed": "Connection refused"} {
		r := p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/backups", map[string]any{"target": name}), http.StatusAccepted).json(t)
		op := p.finished(p.admin, "/api/v1/operations/"+r["operation"].(map[string]any)["id"].(string))
		if op["status"] != "failed" || !strings.Contains(fmt.Sprint(op["error"]), why) {
			t.Errorf("backup to %s: %v, want failed saying %q", name, op, why)
		}
		t.Logf("backup to %s: %v", name, op["error"])
	}
	r = p.expect(p.do(p.admin, "POST", "/api/v1/containers/101/backups", map[string]any{"target": "remote"}), http.StatusAccepted).json(t)
	p.waitOp(r["operation"].(map[string]any)["id"].(string))
	id := r["backup"].(map[string]any)["id"].(string)
	if entries, err := os.ReadDir(filepath.Join(srv.Root, "snapshots")); err != nil || len(entries) != 1 {
		t.Errorf("the repository on the server: %v %v", entries, err)
	}
	exec("echo changed > /root/note")
	r = p.expect(p.do(p.admin, "POST", "/api/v1/backups/"+id+"/restore", map[string]any{}), http.StatusAccepted).json(t)
	p.waitOp(r["id"].(string))
	if got := strings.TrimSpace(exec("cat /root/note")); got != "kept-remotely" {
		t.Errorf("restored from the server: %q", got)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
