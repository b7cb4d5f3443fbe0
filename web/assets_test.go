package web

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestCheckAssets: the binary's own files pass (make builds them first);
// a tree without them, or with an empty one, is refused naming each file
// and how to build a binary that has them.
func TestCheckAssets(t *testing.T) {
	if err := CheckAssets(FS); err != nil {
		t.Fatalf("the embedded files: %v", err)
	}
	partial := fstest.MapFS{}
	for _, p := range Vendored[1:] {
		partial[p] = &fstest.MapFile{Data: []byte("x")}
	}
	partial[Vendored[1]] = &fstest.MapFile{} // empty
	err := CheckAssets(partial)
	if err == nil {
		t.Fatal("a tree without xterm.js passed")
	}
	for _, want := range []string{Vendored[0], Vendored[1], "make build", "scripts/build-web.sh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v: does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), Vendored[2]) {
		t.Errorf("%v: names a file that is there", err)
	}
}
