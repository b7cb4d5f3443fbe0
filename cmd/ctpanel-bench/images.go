package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ctpanel/ctpanel/images"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
)

// The image benchmark: Debian 12 built by the panel (a build task
// through the API: debootstrap, clean, tar | zstd, check, hash) next to
// the plain tools doing the same debootstrap and tar | zstd in the same
// run; then a Debian VPS created and started through the API until
// `systemctl is-system-running` answers, next to raw liblxc making and
// starting a container from the same archive.

type imageOptions struct {
	rounds int
	plain  bool
}

func registerImageFlags(fs *flag.FlagSet, o *imageOptions) {
	fs.IntVar(&o.rounds, "image-rounds", 5, "image benchmark: Debian VPSes created and started each way")
	fs.BoolVar(&o.plain, "image-plain", true, "image benchmark: also time plain debootstrap | tar | zstd for the build")
}

func runImageBench(ctx context.Context, o imageOptions, out io.Writer) (err error) {
	if o.rounds < 1 {
		return errors.New("-image-rounds must be at least 1")
	}
	bp, tmp, done, err := startTempBenchPanel(ctx, "ctpanel-image-bench-", "bi")
	if err != nil {
		return err
	}
	defer done()
	app, cfg, c := bp.app, bp.cfg, bp.c

	// The build through the panel.
	t0 := time.Now()
	var task struct {
		ID, Status, Error, Progress string
		Version                     *string
	}
	if err := c.call(ctx, "POST", "/api/v1/image-builds", map[string]any{"recipe": "debian-12"}, http.StatusAccepted, &task); err != nil {
		return err
	}
	for task.Status == "running" {
		time.Sleep(500 * time.Millisecond)
		if err := c.call(ctx, "GET", "/api/v1/image-tasks/"+task.ID, nil, http.StatusOK, &task); err != nil {
			return err
		}
	}
	if task.Status != "succeeded" {
		return fmt.Errorf("build: %s", task.Error)
	}
	panelBuild := time.Since(t0)
	file := filepath.Join(cfg.TemplateCacheDir(), "images", "debian-12", *task.Version+".tar.zst")
	st, err := os.Stat(file)
	if err != nil {
		return err
	}

	// The same with the plain tools.
	var plainBuild time.Duration
	if o.plain {
		r := images.Recipes["debian-12"]
		root := filepath.Join(tmp, "plain-rootfs")
		t0 = time.Now()
		if out, err := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--keyring="+r.Keyring,
			"--include="+strings.Join(r.Packages, ","), r.Suite, root, images.DefaultMirror()).CombinedOutput(); err != nil {
			return fmt.Errorf("debootstrap: %w: %s", err, tailOf(out))
		}
		if err := sh(ctx, fmt.Sprintf("tar --numeric-owner --xattrs --acls -C %s -cpf - . | zstd -q -T0 -10 -o %s", root, filepath.Join(tmp, "plain.tar.zst"))); err != nil {
			return err
		}
		plainBuild = time.Since(t0)
		_ = os.RemoveAll(root)
	}

	// Create and start to is-system-running: the panel.
	var pool struct{ ID int }
	if err := c.call(ctx, "POST", "/api/v1/ip-pools", map[string]any{"name": "bench", "cidr": "198.18.210.0/24", "default": true}, http.StatusCreated, &pool); err != nil {
		return err
	}
	var panelTimes, rawTimes []time.Duration
	panelStates, rawStates := map[string]int{}, map[string]int{}
	for i := range o.rounds {
		ctid := 4100 + i
		t0 = time.Now()
		if _, err := c.op(ctx, "POST", "/api/v1/containers", map[string]any{"ctid": ctid, "template": "debian-12",
			"ip_addresses": []string{"auto"}, "start": true}); err != nil {
			return err
		}
		state, err := systemUp(ctx, app.Drv, strconv.Itoa(ctid))
		if err != nil {
			return err
		}
		panelTimes = append(panelTimes, time.Since(t0))
		panelStates[state]++
		if _, err := c.op(ctx, "DELETE", "/api/v1/containers/"+strconv.Itoa(ctid)+"?force=true", nil); err != nil {
			return err
		}
	}

	// Raw liblxc, the same archive, unprivileged, no network.
	drv, err := liblxc.New(filepath.Join(tmp, "lxc-raw"))
	if err != nil {
		return err
	}
	for i := range o.rounds {
		name := strconv.Itoa(4200 + i)
		t0 = time.Now()
		if err := drv.Create(ctx, name, lxcdriver.CreateOptions{RootfsTarball: file,
			IDMap:  &lxcdriver.IDMap{HostID: 3_800_000_000, Size: 65536},
			Config: []lxcdriver.ConfigItem{{Key: "lxc.net.0.type", Value: "empty"}}}); err != nil {
			return err
		}
		if err := drv.Start(ctx, name); err != nil {
			return err
		}
		state, err := systemUp(ctx, drv, name)
		if err != nil {
			return err
		}
		rawTimes = append(rawTimes, time.Since(t0))
		rawStates[state]++
		dctx := context.WithoutCancel(ctx)
		_ = drv.Stop(dctx, name)
		if err := drv.Destroy(dctx, name); err != nil {
			return err
		}
	}

	fmt.Fprintf(out, "\nImages (Debian 12 from %s)\n", images.DefaultMirror())
	fmt.Fprintf(out, "  %-52s %10s\n", "", "seconds")
	fmt.Fprintf(out, "  %-52s %10.1f   (%.0f MB .tar.zst)\n", "build through the panel (task: debootstrap, clean, pack)", panelBuild.Seconds(), float64(st.Size())/1e6)
	if o.plain {
		fmt.Fprintf(out, "  %-52s %10.1f\n", "plain debootstrap | tar | zstd (same packages)", plainBuild.Seconds())
	}
	fmt.Fprintf(out, "\n  create and start to is-system-running (%d each)     %10s %10s   states\n", o.rounds, "median s", "p95 s")
	fmt.Fprintf(out, "  %-52s %10.2f %10.2f   %v\n", "panel: API create+start, addresses, first boot", median(panelTimes).Seconds(), p95(panelTimes).Seconds(), panelStates)
	fmt.Fprintf(out, "  %-52s %10.2f %10.2f   %v\n", "raw liblxc: create from the archive, start", median(rawTimes).Seconds(), p95(rawTimes).Seconds(), rawStates)
	return nil
}

// systemUp waits until systemd in the container has finished booting and
// returns its state.
func systemUp(ctx context.Context, drv lxcdriver.Driver, name string) (string, error) {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		res, err := drv.Exec(ctx, name, []string{"systemctl", "is-system-running"}, lxcdriver.ExecOptions{})
		state := strings.TrimSpace(string(res.Stdout))
		if err == nil && state != "" && state != "starting" && state != "initializing" {
			return state, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("container %s: systemd did not finish booting in 3 minutes", name)
}

func p95(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*95 + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

func tailOf(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 500 {
		s = s[len(s)-500:]
	}
	return s
}
