package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Target is where a repository is kept: a folder on this host (Kind
// "dir"), or a folder on an SFTP server reached with a key, whose host key
// must be the one given (nothing else is trusted).
type Target struct {
	Kind, Path string
	Host       string
	Port       int
	User       string
	PrivateKey string
	// HostKey is the server's key as a known_hosts line without the host:
	// "ssh-ed25519 AAAA...".
	HostKey  string
	Password string
}

// Open is t's repository, and what to call when done with it (an SFTP
// target's key and known_hosts files are removed).
func Open(t Target) (Repo, func(), error) {
	none := func() {}
	switch t.Kind {
	case "dir":
		if err := os.MkdirAll(t.Path, 0o700); err != nil {
			return Repo{}, none, err
		}
		return Repo{URL: t.Path, Password: t.Password}, none, nil
	case "sftp":
	default:
		return Repo{}, none, fmt.Errorf("backup target kind %q", t.Kind)
	}
	dir, err := os.MkdirTemp("", "ctpanel-sftp-")
	if err != nil {
		return Repo{}, none, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	key, known := filepath.Join(dir, "key"), filepath.Join(dir, "known_hosts")
	host := t.Host
	if t.Port != 22 {
		host = "[" + t.Host + "]:" + strconv.Itoa(t.Port)
	}
	if err := os.WriteFile(key, []byte(strings.TrimSpace(t.PrivateKey)+"\n"), 0o600); err != nil {
		cleanup()
		return Repo{}, none, err
	}
	if err := os.WriteFile(known, []byte(host+" "+strings.TrimSpace(t.HostKey)+"\n"), 0o600); err != nil {
		cleanup()
		return Repo{}, none, err
	}
	cmd := fmt.Sprintf("ssh -i %s -p %d -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s -o ConnectTimeout=10 %s@%s -s sftp",
		key, t.Port, known, t.User, t.Host)
	return Repo{URL: "sftp:" + t.User + "@" + t.Host + ":" + t.Path, Password: t.Password, SFTPCommand: cmd}, cleanup, nil
}
