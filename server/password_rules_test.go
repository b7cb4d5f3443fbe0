package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// TestPasswordLengthRulesAgree: a panel password is 8 to 72 bytes (bcrypt
// hashes no more) and a container's root password 8 to 128, in the API and
// in the OpenAPI document alike. The document once said 128 for panel
// passwords.
func TestPasswordLengthRulesAgree(t *testing.T) {
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	schemas := doc.Components.Schemas
	for _, tc := range []struct {
		schema, property string
		min, max         uint64
	}{
		{"CreateCustomerRequest", "password", 8, 72},
		{"PatchCustomerRequest", "password", 8, 72},
		{"PanelPassword", "", 8, 72},
		{"RootPassword", "", 8, 128},
	} {
		s := schemas[tc.schema].Value
		if tc.property != "" {
			s = s.Properties[tc.property].Value
		}
		if s.MinLength != tc.min || s.MaxLength == nil || *s.MaxLength != tc.max {
			t.Errorf("%s %s: length %d to %v, want %d to %d", tc.schema, tc.property, s.MinLength, s.MaxLength, tc.min, tc.max)
		}
	}

	p := newTestPanel(t, lxcdriver.NewFake(), "")
	for i, tc := range []struct {
		n      int
		status int
	}{{7, 422}, {8, 201}, {72, 201}, {73, 422}} {
		body := map[string]any{"username": "user" + string(rune('a'+i)), "password": strings.Repeat("p", tc.n)}
		// Out-of-range lengths break the document's rules too, on purpose.
		do := p.do
		if tc.status != http.StatusCreated {
			do = p.doMalformed
		}
		r := do(p.admin, "POST", "/api/v1/customers", body)
		if r.Status != tc.status {
			t.Errorf("a %d-byte panel password: %d, want %d: %s", tc.n, r.Status, tc.status, r.Body)
		}
		if tc.status == 422 && r.errorField(t, "password") == "" {
			t.Errorf("a %d-byte panel password: the refusal does not name password: %s", tc.n, r.Body)
		}
	}
}
