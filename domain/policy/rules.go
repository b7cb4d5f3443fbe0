package policy

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/mail"
	"net/netip"
	"strconv"
	"strings"
	"unicode"

	"github.com/GehirnInc/crypt"
	_ "github.com/GehirnInc/crypt/sha512_crypt" // registers SHA-512 crypt
	"golang.org/x/crypto/bcrypt"

	"github.com/ctpanel/ctpanel/domain"
)

// CTID bounds: below 101 is reserved, as in OpenVZ.
const (
	MinCTID = 101
	MaxCTID = 999999999
)

// Password lengths. Panel passwords are bcrypt hashes, and bcrypt reads
// no more than 72 bytes; root passwords are SHA-512 crypt hashes in the
// container's /etc/shadow.
const (
	MinPasswordBytes      = 8
	MaxPanelPasswordBytes = 72
	MaxRootPasswordBytes  = 128
)

// CheckCTID: CTIDs from 101 up.
func CheckCTID(f domain.FieldErrors, field string, id int) {
	switch {
	case id < MinCTID:
		f.Add(field, "CTIDs below 101 are reserved")
	case id > MaxCTID:
		f.Add(field, "must be at most 999999999")
	}
}

// CheckName: a container, plan, user or token name. A container's name is
// usable in place of its CTID and never reaches a path, so names keep to a
// safe alphabet and are never all digits.
func CheckName(f domain.FieldErrors, field, name string) {
	switch {
	case !checkNameLength(f, field, name):
	case IsAllDigits(name):
		f.Add(field, "must not be all digits (that would read as a CTID)")
	default:
		for _, r := range name {
			switch {
			case r == '/':
				f.Add(field, `must not contain "/"`)
			case unicode.IsSpace(r):
				f.Add(field, "must not contain spaces")
			case unicode.IsControl(r):
				f.Add(field, "must not contain control characters")
			case r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.'):
				f.Add(field, "may contain only letters, digits, '-', '_' and '.'")
			}
		}
		if name[0] == '-' || name[0] == '.' {
			f.Add(field, "must start with a letter or digit")
		}
	}
}

// checkNameLength is what every name must be: 1 to 63 characters, no
// "..". It says whether the name passed.
func checkNameLength(f domain.FieldErrors, field, name string) bool {
	switch {
	case name == "":
		f.Add(field, "must not be empty")
	case len(name) > 63:
		f.Add(field, "must be at most 63 characters")
	case strings.Contains(name, ".."):
		f.Add(field, `must not contain ".."`)
	default:
		return true
	}
	return false
}

// IsAllDigits: a container reference made of digits is a CTID.
func IsAllDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// CheckHostname follows RFC 1123; empty is allowed (the CTID is used).
func CheckHostname(f domain.FieldErrors, field, h string) {
	if h == "" {
		return
	}
	if len(h) > 253 {
		f.Add(field, "must be at most 253 characters")
		return
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			f.Add(field, "each dot-separated label must be 1 to 63 characters")
			return
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			f.Add(field, "labels must not start or end with '-'")
			return
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				f.Add(field, "may contain only letters, digits, '-' and '.'")
				return
			}
		}
	}
}

// CheckNameservers: up to three IP addresses, as the resolver reads.
func CheckNameservers(f domain.FieldErrors, field string, ns []string) {
	if len(ns) > 3 {
		f.Add(field, "at most 3 nameservers (the resolver reads no more)")
	}
	for i, s := range ns {
		if _, err := netip.ParseAddr(s); err != nil {
			f.Add(field, "entry "+strconv.Itoa(i)+" is not an IP address: "+strconv.Quote(s))
		}
	}
}

// CheckDescription: free text up to 1 KiB, no control characters but
// newlines and tabs.
func CheckDescription(f domain.FieldErrors, field, d string) {
	if len(d) > 1024 {
		f.Add(field, "must be at most 1024 characters")
	}
	for _, r := range d {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			f.Add(field, "must not contain control characters")
			return
		}
	}
}

// CheckPanelPassword: a password to sign in to the panel, 8 to 72 bytes
// (bcrypt's limit), no control characters.
func CheckPanelPassword(f domain.FieldErrors, field, pw string) {
	checkPassword(f, field, pw, MaxPanelPasswordBytes)
}

// CheckRootPassword: root's password in a container, 8 to 128 bytes, no
// control characters.
func CheckRootPassword(f domain.FieldErrors, field, pw string) {
	checkPassword(f, field, pw, MaxRootPasswordBytes)
}

func checkPassword(f domain.FieldErrors, field, pw string, most int) {
	switch {
	case len(pw) < MinPasswordBytes || len(pw) > most:
		f.Add(field, fmt.Sprintf("must be %d to %d bytes", MinPasswordBytes, most))
	case strings.IndexFunc(pw, unicode.IsControl) >= 0:
		f.Add(field, "must not contain control characters")
	}
}

// HashPanelPassword is how panel passwords are stored (bcrypt).
func HashPanelPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	return string(h), err
}

// HashRootPassword is the SHA-512 crypt(3) hash written to the
// container's /etc/shadow: the password itself is stored nowhere.
func HashRootPassword(pw string) (string, error) {
	return crypt.SHA512.New().Generate([]byte(pw), nil)
}

// NewRootPassword makes a random 16-character password.
func NewRootPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// MaxSSHKeys bounds the keys given to root at once.
const MaxSSHKeys = 20

// CheckSSHKeys returns the OpenSSH public key lines of keys, trimmed,
// adding a field error for each that is not one.
func CheckSSHKeys(f domain.FieldErrors, field string, keys []string) []string {
	if len(keys) > MaxSSHKeys {
		f.Add(field, fmt.Sprintf("at most %d keys", MaxSSHKeys))
	}
	var out []string
	for i, k := range keys {
		k = strings.TrimSpace(k)
		parts := strings.Fields(k)
		ok := len(parts) >= 2 && len(k) <= 16384 && !strings.ContainsAny(k, "\n\r\x00") &&
			(strings.HasPrefix(parts[0], "ssh-") || strings.HasPrefix(parts[0], "ecdsa-sha2-") || strings.HasPrefix(parts[0], "sk-"))
		if ok {
			_, err := base64.StdEncoding.DecodeString(parts[1])
			ok = err == nil
		}
		if !ok {
			f.Add(field, fmt.Sprintf("entry %d is not an OpenSSH public key line (type base64 [comment])", i))
			continue
		}
		out = append(out, k)
	}
	return out
}

// Credentials are root's password hash and SSH keys for a container.
type Credentials struct {
	RootHash string
	SSHKeys  []string
}

// CheckCredentials validates a root password (nil: none) and SSH keys for
// the fields root_password and ssh_keys, and hashes the password.
func CheckCredentials(f domain.FieldErrors, password *string, keys []string) Credentials {
	var c Credentials
	if password != nil {
		n := len(f)
		CheckRootPassword(f, "root_password", *password)
		if len(f) == n {
			hash, err := HashRootPassword(*password)
			if err != nil {
				f.Add("root_password", "could not be hashed")
			}
			c.RootHash = hash
		}
	}
	c.SSHKeys = CheckSSHKeys(f, "ssh_keys", keys)
	return c
}

// CheckEmail: empty, or one plain address.
func CheckEmail(f domain.FieldErrors, field, e string) {
	if e == "" {
		return
	}
	if a, err := mail.ParseAddress(e); err != nil || a.Address != e || len(e) > 254 {
		f.Add(field, "must be an e-mail address such as alice@example.com")
	}
}

// CheckExternalID: a billing system's own id for a customer.
func CheckExternalID(f domain.FieldErrors, field, id string) {
	if id == "" || len(id) > 128 || strings.IndexFunc(id, unicode.IsControl) >= 0 {
		f.Add(field, "must be 1 to 128 printable characters")
	}
}

// CheckTemplateName: a template name becomes a file name in the template
// cache, so it is kept to OpenVZ's usual alphabet (debian-12-x86_64).
func CheckTemplateName(f domain.FieldErrors, field, name string) {
	switch {
	case !checkNameLength(f, field, name):
	case name[0] == '-' || name[0] == '.' || name[0] == '_':
		f.Add(field, "must start with a letter or digit")
	case strings.HasSuffix(name, ".tar.gz"):
		f.Add(field, "is the template's name, without .tar.gz")
	default:
		for _, c := range name {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				f.Add(field, "may contain only letters, digits, '-', '_' and '.'")
				return
			}
		}
	}
}

// TemplateNameProblem says what is wrong with a template name, or "".
func TemplateNameProblem(name string) string {
	f := domain.FieldErrors{}
	CheckTemplateName(f, "name", name)
	return f["name"]
}

// Roles a token may have.
func CheckRole(f domain.FieldErrors, field, role string) {
	switch role {
	case "admin", "staff", "billing", "customer":
	default:
		f.Add(field, "must be admin, staff, billing or customer")
	}
}
