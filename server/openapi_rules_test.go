package server

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/ctpanel/ctpanel/domain/policy"
)

// TestOpenAPIPasswordRulesAreThePolicy: every password field the API
// describes has the lengths domain/policy enforces, so the document cannot
// drift from the rule again.
func TestOpenAPIPasswordRulesAreThePolicy(t *testing.T) {
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"password": policy.MaxPanelPasswordBytes, "root_password": policy.MaxRootPasswordBytes}
	seen := 0
	for name, ref := range doc.Components.Schemas {
		if ref.Value == nil {
			continue
		}
		for prop, p := range ref.Value.Properties {
			most, ok := want[prop]
			if !ok || p.Value == nil {
				continue
			}
			s := p.Value
			seen++
			if s.MinLength != policy.MinPasswordBytes || s.MaxLength == nil || *s.MaxLength != most {
				t.Errorf("%s.%s: length %d to %v, the policy says %d to %d", name, prop, s.MinLength, maxOf(s), policy.MinPasswordBytes, most)
			}
		}
	}
	if seen < 3 {
		t.Fatalf("only %d password fields found in the document", seen)
	}
}

func maxOf(s *openapi3.Schema) any {
	if s.MaxLength == nil {
		return "unbounded"
	}
	return *s.MaxLength
}
