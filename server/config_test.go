package server

import (
	"flag"
	"testing"

	"github.com/ctpanel/ctpanel/hostnet"
)

// TestNetTag: CTPANEL_NET_TAG names the host side of the networks after
// the tag; a tag that would make bad interface names is refused.
func TestNetTag(t *testing.T) {
	load := func(tag string) (Config, error) {
		t.Setenv("CTPANEL_NET_TAG", tag)
		t.Setenv("CTPANEL_DATA_DIR", t.TempDir())
		var c Config
		c.RegisterFlags(flag.NewFlagSet("test", flag.ContinueOnError))
		return c, c.Validate()
	}
	c, err := load("ab1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (hostnet.Names{Host: "ab1v", Peer: "ab1c", Shaper: "ab1i", Table: "ctpanel_ab1", NeighProto: hostnet.RouteProtocol + 1}); c.NetNames != want {
		t.Errorf("names %+v, want %+v", c.NetNames, want)
	}
	for _, bad := range []string{"toolong", "a-b", "AB"} {
		if _, err := load(bad); err == nil {
			t.Errorf("CTPANEL_NET_TAG=%q accepted", bad)
		}
	}
	if c, err := load(""); err != nil || c.NetNames != (hostnet.Names{}) {
		t.Errorf("no tag: %+v, %v; want the default (zero) names", c.NetNames, err)
	}
}
