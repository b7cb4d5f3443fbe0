package policy_test

import (
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
)

func TestPasswordRules(t *testing.T) {
	cases := []struct {
		name   string
		check  func(domain.FieldErrors, string, string)
		pw     string
		wantOK bool
	}{
		{"panel 8", policy.CheckPanelPassword, strings.Repeat("a", 8), true},
		{"panel 7", policy.CheckPanelPassword, strings.Repeat("a", 7), false},
		{"panel 72", policy.CheckPanelPassword, strings.Repeat("a", 72), true},
		{"panel 73 (over bcrypt's limit)", policy.CheckPanelPassword, strings.Repeat("a", 73), false},
		{"panel control character", policy.CheckPanelPassword, "abcdefgh\x01", false},
		{"root 128", policy.CheckRootPassword, strings.Repeat("a", 128), true},
		{"root 129", policy.CheckRootPassword, strings.Repeat("a", 129), false},
		{"root 7", policy.CheckRootPassword, strings.Repeat("a", 7), false},
	}
	for _, tc := range cases {
		f := domain.FieldErrors{}
		tc.check(f, "password", tc.pw)
		if ok := len(f) == 0; ok != tc.wantOK {
			t.Errorf("%s: ok %v, want %v (%v)", tc.name, ok, tc.wantOK, f)
		}
	}
}

func TestNameRules(t *testing.T) {
	for name, ok := range map[string]bool{
		"web1": true, "web-1.example_2": true, "": false, "123": false, "a/b": false, "a b": false,
		"..": false, "-a": false, ".a": false, strings.Repeat("a", 64): false, "é": false,
	} {
		f := domain.FieldErrors{}
		policy.CheckName(f, "name", name)
		if got := len(f) == 0; got != ok {
			t.Errorf("CheckName(%q): ok %v, want %v (%v)", name, got, ok, f)
		}
	}
}

func TestSSHKeys(t *testing.T) {
	f := domain.FieldErrors{}
	keys := policy.CheckSSHKeys(f, "ssh_keys", []string{"  ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== admin@x  "})
	if len(f) != 0 || len(keys) != 1 || keys[0] != "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== admin@x" {
		t.Fatalf("a valid key: %v %v", keys, f)
	}
	for _, bad := range []string{"ssh-ed25519", "rsa AAAA", "ssh-rsa not*base64", "ssh-rsa AAAA\nssh-rsa AAAA"} {
		f := domain.FieldErrors{}
		if keys := policy.CheckSSHKeys(f, "ssh_keys", []string{bad}); len(keys) != 0 || f["ssh_keys"] == "" {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRootPasswordIsHashedNotKept(t *testing.T) {
	f := domain.FieldErrors{}
	pw := "correct horse"
	c := policy.CheckCredentials(f, &pw, nil)
	if len(f) != 0 || !strings.HasPrefix(c.RootHash, "$6$") || strings.Contains(c.RootHash, pw) {
		t.Fatalf("hash %q, errors %v", c.RootHash, f)
	}
}

func TestOperationErrorsHideHostPathsFromCustomers(t *testing.T) {
	msg := `reinstall: template "deb12": stat /var/lib/ctpanel/templates/cache/deb12.tar.gz: no such file or directory (the container is unchanged)`
	uid := int64(7)
	customer := db.Principal{Role: db.RoleCustomer, UserID: &uid}
	got := policy.ErrorFor(customer, msg)
	if strings.Contains(got, "/var/lib") || !strings.Contains(got, "no such file or directory") || !strings.Contains(got, "deb12") {
		t.Fatalf("a customer reads %q", got)
	}
	if staff := policy.ErrorFor(db.Principal{Role: db.RoleStaff}, msg); staff != msg {
		t.Fatalf("staff read %q, want it whole", staff)
	}
}
