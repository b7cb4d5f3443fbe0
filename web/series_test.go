package web

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestChartSeries runs web/series_test.js with node: the container page's
// chart series (static/series.js) keeps points in time order whatever
// order history and live points arrive in (the stray diagonal line of an
// out-of-order point), within an hour's window, rates between neighbours.
func TestChartSeries(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node is needed (Debian's nodejs, installed by scripts/install-deps.sh): %v", err)
		}
		t.Skip("no node")
	}
	out, err := exec.Command(node, "series_test.js").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "series ok") {
		t.Fatalf("series_test.js: %v\n%s", err, out)
	}
}
