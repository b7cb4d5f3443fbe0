// Package web holds the panel's pages and their assets, embedded into the
// binary: html/template pages under templates/, and under static/ what the
// browser loads, including front-end libraries that scripts/build-web.sh
// copies from npm into static/vendor/ before the Go build.
package web

import "embed"

// FS is templates/ and static/.
//
//go:embed templates static
var FS embed.FS
