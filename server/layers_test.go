package server

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/ctpanel/ctpanel/"

// layers says which of the module's packages each layer may not import:
// data flows down (front ends -> domain -> operations -> driver and
// store), and the two front ends never call each other.
var layers = []struct {
	pkg       string // a package, or a prefix ending in /
	forbidden []string
}{
	{"handlers/api", []string{"handlers/pages", "server"}},
	{"handlers/pages", []string{"handlers/api", "server"}},
	{"handlers/auth", []string{"handlers/api", "handlers/pages", "domain/", "ops", "server"}},
	{"domain/", []string{"handlers/", "server", "cmd/"}},
	{"ops", []string{"domain/", "handlers/", "server", "webhooks"}},
	{"webhooks", []string{"domain/", "handlers/", "ops", "server"}},
	{"monitor", []string{"domain/", "handlers/", "ops", "server", "mail"}},
	{"mail", []string{"domain/", "handlers/", "ops", "server", "monitor", "webhooks"}},
	{"console", []string{"domain/", "handlers/", "ops", "server"}},
	{"ubc", []string{"db", "domain/", "handlers/", "ops", "server"}},
	{"db", []string{"domain/", "handlers/", "ops", "server", "lxcdriver/liblxc"}},
	{"lxcdriver/", []string{"db", "domain/", "handlers/", "ops", "server", "monitor", "console"}},
	{"hostnet/", []string{"db", "domain/", "handlers/", "ops", "server", "monitor", "console"}},
	{"subprocess", []string{"db", "domain/", "handlers/", "ops", "server", "lxcdriver/", "monitor", "console"}},
}

func matches(pkg, pattern string) bool {
	if strings.HasSuffix(pattern, "/") {
		return strings.HasPrefix(pkg, pattern) || pkg == strings.TrimSuffix(pattern, "/")
	}
	return pkg == pattern
}

// TestNoPackageImportsALayerAboveIt reads the module's import graph (go
// list) and fails on any import against the layering.
func TestNoPackageImportsALayerAboveIt(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "../...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkg := strings.TrimPrefix(p.ImportPath, module)
		for _, l := range layers {
			if !matches(pkg, l.pkg) {
				continue
			}
			seen++
			for _, imp := range p.Imports {
				dep, ok := strings.CutPrefix(imp, module)
				if !ok {
					continue
				}
				for _, f := range l.forbidden {
					if matches(dep, f) {
						t.Errorf("%s imports %s, a layer above it or beside it", pkg, dep)
					}
				}
			}
		}
	}
	if seen < 10 {
		t.Fatalf("only %d packages checked: the layer table is out of date", seen)
	}
}
