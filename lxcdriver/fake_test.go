package lxcdriver_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/drivertest"
)

func TestFake(t *testing.T) {
	// The Fake only checks that the tarball is gzip; an empty one will do.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	if err := os.WriteFile(tarball, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	drivertest.Exercise(t, func(t *testing.T) lxcdriver.Driver {
		return lxcdriver.NewFake()
	}, drivertest.WithRootfsTarball(tarball))
}

func TestFakeContextCanceled(t *testing.T) {
	f := lxcdriver.NewFake()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Create(ctx, "101", lxcdriver.CreateOptions{Template: "busybox"}); err == nil {
		t.Fatal("create with a canceled context succeeded")
	}
	if _, err := f.State(context.Background(), "101"); err == nil {
		t.Fatal("canceled create left a container behind")
	}
}
