package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ctpanel/ctpanel/backup"
)

// The backup benchmark: the panel's engine (restic, as a backup
// operation runs it: a full first backup, then a second one of the tree
// after a small change, then a restore with every file verified) next to
// plain `tar | zstd` of the same tree and its extraction, in the same run.
// The tree is -backup-mib of files: half random (incompressible), half
// text. The freeze window of a running container is what the backup
// test prints (TestBackupAndRestoreThroughTheAPI) and runFreezeBench
// measures next to a whole copy made while frozen.

type backupOptions struct {
	mib       int
	freezeMiB int
}

func registerBackupFlags(fs *flag.FlagSet, o *backupOptions) {
	fs.IntVar(&o.mib, "backup-mib", 256, "backup benchmark: MiB of files backed up")
	fs.IntVar(&o.freezeMiB, "freeze-mib", 1024, "backup benchmark: MiB of data in the running container whose freeze window is measured; 0 skips it")
}

func runBackupBench(ctx context.Context, o backupOptions, out io.Writer) error {
	if o.mib < 1 {
		return fmt.Errorf("-backup-mib must be at least 1")
	}
	tmp, err := os.MkdirTemp("", "ctpanel-backup-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	tree := filepath.Join(tmp, "tree")
	if err := makeTree(tree, o.mib); err != nil {
		return err
	}
	size := float64(o.mib) * (1 << 20)
	mbps := func(d time.Duration) float64 { return size / (1 << 20) / d.Seconds() }

	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	repo := backup.Repo{URL: filepath.Join(tmp, "repo"), Password: fmt.Sprintf("%x", pw)}
	if err := repo.Init(ctx); err != nil {
		return err
	}
	t0 := time.Now()
	first, err := repo.Backup(ctx, tree, "", []string{"bench"}, nil)
	if err != nil {
		return err
	}
	full := time.Since(t0)
	afterFirst := dirSize(repo.URL)
	// A small change: 1% of the files rewritten.
	if err := os.WriteFile(filepath.Join(tree, "text-0"), randomText(o.mib<<20/100), 0o644); err != nil {
		return err
	}
	t0 = time.Now()
	second, err := repo.Backup(ctx, tree, first.SnapshotID, []string{"bench"}, nil)
	if err != nil {
		return err
	}
	delta := time.Since(t0)
	afterSecond := dirSize(repo.URL)
	t0 = time.Now()
	if err := repo.Restore(ctx, second.SnapshotID, filepath.Join(tmp, "restored")); err != nil {
		return err
	}
	restore := time.Since(t0)

	archive := filepath.Join(tmp, "tree.tar.zst")
	t0 = time.Now()
	if err := sh(ctx, fmt.Sprintf("tar -C %s -cf - . | zstd -q -T0 -o %s", tree, archive)); err != nil {
		return err
	}
	tarTime := time.Since(t0)
	st, err := os.Stat(archive)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "untarred"), 0o755); err != nil {
		return err
	}
	t0 = time.Now()
	if err := sh(ctx, fmt.Sprintf("zstd -q -d -c %s | tar -C %s -xf -", archive, filepath.Join(tmp, "untarred"))); err != nil {
		return err
	}
	untar := time.Since(t0)

	fmt.Fprintf(out, "\nBackups (%d MiB of files, half random, half text)\n", o.mib)
	fmt.Fprintf(out, "  %-46s %10s %12s\n", "", "MB/s", "on disk MiB")
	fmt.Fprintf(out, "  %-46s %10.1f %12.1f\n", "panel engine (restic), first backup", mbps(full), float64(afterFirst)/(1<<20))
	fmt.Fprintf(out, "  %-46s %10.1f %12.1f\n", "panel engine, second backup after a 1% change", mbps(delta), float64(afterSecond-afterFirst)/(1<<20))
	fmt.Fprintf(out, "  %-46s %10.1f %12s\n", "panel engine, restore with every file verified", mbps(restore), "")
	fmt.Fprintf(out, "  %-46s %10.1f %12.1f\n", "tar | zstd (plain tool), every time in full", mbps(tarTime), float64(st.Size())/(1<<20))
	fmt.Fprintf(out, "  %-46s %10.1f %12s\n", "zstd -d | tar -x", mbps(untar), "")
	if o.freezeMiB > 0 {
		return runFreezeBench(ctx, o.freezeMiB, out)
	}
	return nil
}

// dirSize is the bytes of the files below dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func sh(ctx context.Context, script string) error {
	if out, err := exec.CommandContext(ctx, "sh", "-c", script).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", script, err, out)
	}
	return nil
}

// makeTree writes mib MiB in 4 MiB files, half random, half text.
func makeTree(dir string, mib int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := 0; i*4 < mib; i++ {
		n := min(4, mib-i*4) << 20
		var data []byte
		name := "random-" + strconv.Itoa(i)
		if i%2 == 0 {
			data = make([]byte, n)
			_, _ = rand.Read(data)
		} else {
			name, data = "text-"+strconv.Itoa(i/2), randomText(n)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// randomText is n bytes of words, compressible as logs and code are.
func randomText(n int) []byte {
	words := []string{"container ", "backup ", "restore ", "freeze ", "thaw ", "snapshot ", "chunk ", "zstd\n", "ctpanel ", "2026-12-05 "}
	idx := make([]byte, n)
	_, _ = rand.Read(idx)
	out := make([]byte, 0, n+16)
	for i := 0; len(out) < n; i++ {
		out = append(out, words[int(idx[i%n])%len(words)]...)
	}
	return out[:n]
}
