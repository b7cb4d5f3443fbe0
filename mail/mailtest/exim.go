// Package mailtest runs a real SMTP server for tests: Debian's Exim
// (exim4-daemon-light, installed by scripts/install-deps.sh), started by
// the test with a configuration of its own on a free loopback port,
// delivering every message to a Maildir the test reads. Nothing of the
// host's Exim configuration or service is used.
package mailtest

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Binary finds Exim: with CI=true a missing one fails the test, else it
// skips it.
func Binary(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"exim4", "exim"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		if p := "/usr/sbin/" + name; fileExists(p) {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no exim4 binary: install exim4-daemon-light (scripts/install-deps.sh)")
	}
	t.Skip("no exim4 binary: install exim4-daemon-light (scripts/install-deps.sh) to run the SMTP tests")
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Server is an Exim daemon of the test's own.
type Server struct {
	Port    int
	Dir     string // config, spool, log and Maildir
	Maildir string
	bin     string
	cmd     *exec.Cmd
	done    chan struct{}
}

// FreePort is a loopback port nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// New prepares a server on port (0: a free one) without starting it.
func New(t testing.TB, port int) *Server {
	t.Helper()
	bin := Binary(t)
	if port == 0 {
		port = FreePort(t)
	}
	dir, err := os.MkdirTemp("", "ctpanel-exim-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Port: port, Dir: dir, Maildir: filepath.Join(dir, "Maildir"), bin: bin}
	t.Cleanup(func() {
		s.Stop(t)
		os.RemoveAll(dir)
	})
	// Exim runs deliveries as a user of its own, never root: as root the
	// test hands the directory to Debian's Exim user, else Exim runs as
	// the test's user.
	runAs := ""
	if os.Geteuid() == 0 {
		runAs = "Debian-exim"
		if _, err := user.Lookup(runAs); err != nil {
			t.Fatalf("running as root, Exim needs its user %s (made by exim4-base): %v", runAs, err)
		}
	} else {
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		runAs = u.Username
	}
	for _, d := range []string{"spool", "log", "Maildir"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf(`# ctpanel test SMTP server
primary_hostname = smtp.ctpanel-test.invalid
exim_user = %[1]s
exim_group = %[1]s
spool_directory = %[2]s/spool
log_file_path = %[2]s/log/%%slog
pid_file_path = %[2]s/exim.pid
daemon_smtp_ports = %[3]d
local_interfaces = 127.0.0.1
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
keep_environment =
acl_smtp_rcpt = acl_rcpt

begin acl
acl_rcpt:
  deny    message = 550 no such user here
          local_parts = reject
  accept

begin routers
everyone:
  driver = accept
  transport = maildir

begin transports
maildir:
  driver = appendfile
  directory = %[2]s/Maildir
  maildir_format
  user = %[1]s
  group = %[1]s
  create_directory
  envelope_to_add
  return_path_add
`, runAs, dir, port)
	if err := os.WriteFile(filepath.Join(dir, "exim.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// The configuration stays the caller's (Exim refuses one its own
	// user could change); what Exim writes becomes its user's.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		for _, d := range []string{"spool", "log", "Maildir"} {
			if out, err := exec.Command("chown", "-R", runAs+":", filepath.Join(dir, d)).CombinedOutput(); err != nil {
				t.Fatalf("chown %s: %v: %s", d, err, out)
			}
		}
	}
	return s
}

// Start runs a prepared server on loopback and waits until it answers.
func Start(t testing.TB) *Server {
	t.Helper()
	s := New(t, 0)
	s.Start(t)
	return s
}

// Start runs the daemon (in the foreground, so its pid is the process
// the test stops) and waits until its port answers.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(s.bin, "-C", filepath.Join(s.Dir, "exim.conf"), "-bdf", "-oX", fmt.Sprintf("127.0.0.1:%d", s.Port))
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start exim: %v", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-s.done:
			t.Fatalf("exim exited at start: %s\n%s", stderr.String(), s.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("exim does not answer on port %d: %v\n%s", s.Port, err, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the daemon by its pid (and its delivery children, in its
// process group) and waits for it; a no-op when it is not running.
func (s *Server) Stop(t testing.TB) {
	if s.cmd == nil {
		return
	}
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-s.done
	}
	s.cmd = nil
}

// Log is Exim's main and reject logs, for failure messages.
func (s *Server) Log() string {
	var b strings.Builder
	for _, f := range []string{"mainlog", "rejectlog", "paniclog"} {
		if data, err := os.ReadFile(filepath.Join(s.Dir, "log", f)); err == nil {
			b.WriteString(f + ":\n" + string(data))
		}
	}
	return b.String()
}

// Message is one delivered message, decoded.
type Message struct {
	Header netmail.Header
	Text   string // the text/plain part
	HTML   string // the text/html part, if any
	Raw    []byte
}

// Messages reads what the Maildir holds, oldest first.
func (s *Server) Messages(t testing.TB) []Message {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.Maildir, "new"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	// In delivery order: Exim names a Maildir file
	// "<seconds>.M<microseconds>P<pid>.<host>", numbers not padded.
	key := func(name string) (sec, usec int64) {
		_, _ = fmt.Sscanf(name, "%d.M%dP", &sec, &usec)
		return sec, usec
	}
	sort.SliceStable(entries, func(i, j int) bool {
		si, ui := key(entries[i].Name())
		sj, uj := key(entries[j].Name())
		return si < sj || si == sj && ui < uj
	})
	var out []Message
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(s.Maildir, "new", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(raw)
		if err != nil {
			t.Fatalf("delivered message %s: %v\n%s", e.Name(), err, raw)
		}
		out = append(out, m)
	}
	return out
}

// Wait waits until n messages were delivered and returns them.
func (s *Server) Wait(t testing.TB, n int, within time.Duration) []Message {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if got := s.Messages(t); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages delivered within %s, want %d\n%s", len(s.Messages(t)), within, n, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Find is the message of msgs with subject, and whether there is one.
func Find(msgs []Message, subject string) (Message, bool) {
	for _, m := range msgs {
		if m.Header.Get("Subject") == subject {
			return m, true
		}
	}
	return Message{}, false
}

// Parse decodes a message: its header and its text and HTML parts.
func Parse(raw []byte) (Message, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, err
	}
	m := Message{Header: msg.Header, Raw: raw}
	err = walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &m)
	return m, err
}

func walk(ctype, encoding string, body io.Reader, m *Message) error {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("content type %q: %w", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, m); err != nil {
				return err
			}
		}
	}
	var r io.Reader = body
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = newBase64(body)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	switch mt {
	case "text/plain":
		m.Text = string(data)
	case "text/html":
		m.HTML = string(data)
	}
	return nil
}
