package guestos

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// FirstBoot gives a freshly made guest what no two containers may share:
// an empty machine-id (systemd makes a new one at boot) and SSH host keys
// of its own (ed25519, ECDSA P-256 and RSA 3072), when the guest has
// OpenSSH's folder. Run at create and reinstall, it makes new keys each
// time.
func FirstBoot(f FS, comment string) (Result, error) {
	var res Result
	w := &writer{fs: f, res: &res}
	if ok, _ := Exists(f, "/etc/machine-id"); ok {
		if err := w.whole("/etc/machine-id", nil, 0o444); err != nil {
			return res, err
		}
	}
	if ok, _ := Exists(f, "/var/lib/dbus/machine-id"); ok {
		if err := w.whole("/var/lib/dbus/machine-id", nil, 0o444); err != nil {
			return res, err
		}
	}
	if ok, _ := Exists(f, "/etc/ssh"); !ok {
		return res, nil
	}
	keys, err := HostKeys(comment)
	if err != nil {
		return res, err
	}
	for _, k := range keys {
		if err := w.whole("/etc/ssh/ssh_host_"+k.Type+"_key", k.Private, 0o600); err != nil {
			return res, err
		}
		if err := w.whole("/etc/ssh/ssh_host_"+k.Type+"_key.pub", k.Public, 0o644); err != nil {
			return res, err
		}
	}
	return res, nil
}

// HostKey is one SSH host key pair in OpenSSH's file formats.
type HostKey struct {
	Type    string // ed25519, ecdsa, rsa
	Private []byte // OpenSSH private key PEM
	Public  []byte // authorized_keys line
}

// HostKeys makes a new set of host keys.
func HostKeys(comment string) ([]HostKey, error) {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		return nil, err
	}
	var out []HostKey
	for _, k := range []struct {
		typ string
		key any
	}{{"ed25519", edKey}, {"ecdsa", ecKey}, {"rsa", rsaKey}} {
		block, err := ssh.MarshalPrivateKey(k.key, comment)
		if err != nil {
			return nil, fmt.Errorf("host key %s: %w", k.typ, err)
		}
		signer, err := ssh.NewSignerFromKey(k.key)
		if err != nil {
			return nil, fmt.Errorf("host key %s: %w", k.typ, err)
		}
		pub := ssh.MarshalAuthorizedKey(signer.PublicKey())
		if comment != "" {
			pub = append(pub[:len(pub)-1], []byte(" "+comment+"\n")...)
		}
		out = append(out, HostKey{Type: k.typ, Private: pem.EncodeToMemory(block), Public: pub})
	}
	return out, nil
}
