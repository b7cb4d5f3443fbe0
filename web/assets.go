package web

import (
	"fmt"
	"io/fs"
	"strings"
)

// Vendored are the front-end library files the pages load from
// static/vendor/ (the console's terminal, the charts), which
// scripts/build-web.sh copies from npm before the Go build.
var Vendored = []string{
	"static/vendor/xterm/xterm.js",
	"static/vendor/xterm/xterm.css",
	"static/vendor/xterm/addon-fit.js",
	"static/vendor/uplot/uPlot.iife.min.js",
	"static/vendor/uplot/uPlot.min.css",
}

// CheckAssets says which of the front-end files are missing from fsys
// (FS, for the binary's own) and how to build a binary that has them: a
// plain `go build` without scripts/build-web.sh first makes pages whose
// console and charts cannot work.
func CheckAssets(fsys fs.FS) error {
	var missing []string
	for _, p := range Vendored {
		if fi, err := fs.Stat(fsys, p); err != nil || fi.Size() == 0 {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("this binary was built without its front-end files (%s): build it with `make build` "+
		"(or run scripts/build-web.sh before go build), which copies xterm.js and uPlot from npm into web/static/vendor",
		strings.Join(missing, ", "))
}
