// Temporary: compare clone paths.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"time"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
	lxc "github.com/lxc/go-lxc"
)

func main() {
	dir, _ := os.MkdirTemp("", "clonecmp-")
	d, err := liblxc.New(dir)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := d.Create(ctx, "base", lxcdriver.CreateOptions{Template: "busybox", Config: []lxcdriver.ConfigItem{{Key: "lxc.net.0.type", Value: "empty"}}}); err != nil {
		panic(err)
	}
	res := map[string][]time.Duration{}
	n := 0
	for r := 0; r < 15; r++ {
		for _, kind := range []string{"lxc-copy", "go-lxc", "driver"} {
			n++
			name := strconv.Itoa(1000 + n)
			t0 := time.Now()
			switch kind {
			case "lxc-copy":
				if out, err := exec.Command("lxc-copy", "-P", dir, "-n", "base", "-N", name, "-B", "dir").CombinedOutput(); err != nil {
					panic(string(out))
				}
			case "go-lxc":
				c, _ := lxc.NewContainer("base", dir)
				if err := c.Clone(name, lxc.CloneOptions{Backend: lxc.Directory, ConfigPath: dir}); err != nil {
					panic(err)
				}
				c.Release()
			case "driver":
				if err := d.Clone(ctx, "base", name, lxcdriver.CloneOptions{}); err != nil {
					panic(err)
				}
			}
			res[kind] = append(res[kind], time.Since(t0))
			if err := d.Destroy(ctx, name); err != nil {
				panic(err)
			}
		}
	}
	for k, v := range res {
		slices.Sort(v)
		var sum time.Duration
		for _, x := range v {
			sum += x
		}
		fmt.Printf("%-9s mean %v p50 %v min %v max %v\n", k, sum/time.Duration(len(v)), v[len(v)/2], v[0], v[len(v)-1])
	}
	_ = d.Destroy(ctx, "base")
	os.Remove(dir)
}
