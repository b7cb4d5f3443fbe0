package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// The freeze window: how long a running container is frozen for a
// consistent backup. The panel freezes only for its second pass (what
// changed since the first, taken while the container ran); a whole copy
// made while frozen, as Incus does on a plain directory, is measured in
// the same run on the same container: freeze, tar | zstd the rootfs,
// thaw.

func runFreezeBench(ctx context.Context, mib int, out io.Writer) error {
	tmp, err := os.MkdirTemp("", "ctpanel-freeze-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil { // the private PostgreSQL runs as postgres
		return err
	}
	bp, err := startBenchPanel(ctx, tmp, "bz")
	if err != nil {
		return err
	}
	defer bp.close()
	c, drv := bp.c, bp.app.Drv
	var target struct{ Name string }
	if err := c.call(ctx, "POST", "/api/v1/backup-targets", map[string]any{"name": "local", "kind": "dir", "path": filepath.Join(tmp, "repo")},
		http.StatusCreated, &target); err != nil {
		return err
	}
	const ctid = 4300
	name := strconv.Itoa(ctid)
	if _, err := c.op(ctx, "POST", "/api/v1/containers", map[string]any{"ctid": ctid, "template": "busybox", "start": true}); err != nil {
		return err
	}
	defer func() {
		_, _ = c.op(context.WithoutCancel(ctx), "DELETE", "/api/v1/containers/"+name+"?force=true", nil)
	}()
	inside := func(script string) error {
		res, err := drv.Exec(ctx, name, []string{"/bin/sh", "-c", script}, lxcdriver.ExecOptions{})
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("%s: exit %d: %s", script, res.ExitCode, res.Stderr)
		}
		return err
	}
	if err := inside(fmt.Sprintf("dd if=/dev/urandom of=/root/data bs=1M count=%d 2>/dev/null", mib)); err != nil {
		return err
	}
	// A writer, as a busy VPS has: a line every 10 ms.
	if err := inside("(while true; do date >> /root/log; usleep 10000; done) </dev/null >/dev/null 2>&1 &"); err != nil {
		return err
	}
	type result struct {
		FreezeMS    *int   `json:"freeze_ms"`
		SizeBytes   *int64 `json:"size_bytes"`
		StoredBytes *int64 `json:"stored_bytes"`
	}
	backupOnce := func() (result, error) {
		var r struct {
			Backup    struct{ ID string }
			Operation operation
		}
		var b result
		if err := c.call(ctx, "POST", "/api/v1/containers/"+name+"/backups", map[string]any{"target": "local"}, http.StatusAccepted, &r); err != nil {
			return b, err
		}
		op := r.Operation
		for !op.done() {
			if err := c.call(ctx, "GET", "/api/v1/operations/"+op.ID+"/wait?timeout=60", nil, http.StatusOK, &op); err != nil {
				return b, err
			}
		}
		if op.Status != "succeeded" {
			return b, fmt.Errorf("backup: %s", op.Error)
		}
		if err := c.call(ctx, "GET", "/api/v1/backups/"+r.Backup.ID, nil, http.StatusOK, &b); err != nil {
			return b, err
		}
		if b.FreezeMS == nil || b.SizeBytes == nil || b.StoredBytes == nil {
			return b, fmt.Errorf("backup %s lacks its figures", r.Backup.ID)
		}
		return b, nil
	}
	t0 := time.Now()
	first, err := backupOnce()
	if err != nil {
		return err
	}
	firstWall := time.Since(t0)
	if err := inside("dd if=/dev/urandom of=/root/changed bs=1M count=10 2>/dev/null"); err != nil {
		return err
	}
	t0 = time.Now()
	second, err := backupOnce()
	if err != nil {
		return err
	}
	secondWall := time.Since(t0)
	t0 = time.Now()
	third, err := backupOnce()
	if err != nil {
		return err
	}
	thirdWall := time.Since(t0)

	// The whole copy while frozen.
	rootfs := filepath.Join(bp.cfg.LXCPath, name, "rootfs")
	if err := drv.Freeze(ctx, name); err != nil {
		return err
	}
	t0 = time.Now()
	copyErr := sh(ctx, fmt.Sprintf("tar --numeric-owner -C %s -cf - . | zstd -q -T0 -o %s", rootfs, filepath.Join(tmp, "whole.tar.zst")))
	whole := time.Since(t0)
	if err := drv.Unfreeze(context.WithoutCancel(ctx), name); err != nil {
		return err
	}
	if copyErr != nil {
		return copyErr
	}

	fmt.Fprintf(out, "\nFreeze window (a running busybox VPS with %d MiB of data, writing every 10 ms)\n", mib)
	fmt.Fprintf(out, "  %-58s %10s %10s %14s\n", "", "frozen ms", "backup s", "added MiB (%)")
	row := func(label string, b result, wall time.Duration) {
		fmt.Fprintf(out, "  %-58s %10d %10.1f %8.1f (%.1f%%)\n", label, *b.FreezeMS, wall.Seconds(),
			float64(*b.StoredBytes)/(1<<20), 100*float64(*b.StoredBytes)/float64(max(1, *b.SizeBytes)))
	}
	row("panel, first backup (first pass running, second frozen)", first, firstWall)
	row("panel, next backup after 10 MiB changed", second, secondWall)
	row("panel, next backup, nothing changed but the log", third, thirdWall)
	fmt.Fprintf(out, "  %-58s %10d\n", "whole copy while frozen (tar | zstd; Incus on a directory)", whole.Milliseconds())
	return nil
}
