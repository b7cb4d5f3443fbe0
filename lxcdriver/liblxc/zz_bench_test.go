package liblxc_test

import (
	"context"
	"os"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
	lxc "github.com/lxc/go-lxc"
)

func BenchmarkZZBeancounters(b *testing.B) {
	path := os.Getenv("ZZ_LXCPATH")
	if path == "" {
		b.Skip()
	}
	d, err := liblxc.New(path)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := d.Beancounters(context.Background(), "9exp"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkZZNewContainer(b *testing.B) {
	path := os.Getenv("ZZ_LXCPATH")
	if path == "" {
		b.Skip()
	}
	for b.Loop() {
		c, _ := lxc.NewContainer("9exp", path)
		c.Release()
	}
}

func BenchmarkZZInitPid(b *testing.B) {
	path := os.Getenv("ZZ_LXCPATH")
	if path == "" {
		b.Skip()
	}
	c, _ := lxc.NewContainer("9exp", path)
	defer c.Release()
	for b.Loop() {
		c.InitPid()
	}
}
