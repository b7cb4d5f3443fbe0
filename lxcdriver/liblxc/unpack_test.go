package liblxc

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ctpanel/ctpanel/subprocess"
)

// TestUnpackRootfsKeepsOwnersModesAndXattrs: a root file system comes out
// of its tarball with numeric owners, modes and extended attributes (file
// capabilities are security.* ones) as they went in.
func TestUnpackRootfsKeepsOwnersModesAndXattrs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (owners and xattrs); make test runs as root")
	}
	ctx := context.Background()
	src, dst := t.TempDir(), t.TempDir()
	file := filepath.Join(src, "bin-ping")
	if err := os.WriteFile(file, []byte("#!/bin/sh\n"), 0o4755); err != nil {
		t.Fatal(err)
	}
	// chown first: it clears the setuid bit.
	if err := os.Chown(file, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setxattr(file, "user.ctpanel", []byte("kept"), 0); err != nil {
		t.Fatalf("this filesystem takes no user xattrs: %v", err)
	}
	tarball := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	if _, err := subprocess.Output(ctx, "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-czpf", tarball, "-C", src, "."); err != nil {
		t.Fatal(err)
	}
	if _, err := unpackRootfs(ctx, tarball, dst); err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(dst, "bin-ping")
	fi, err := os.Stat(got)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 1234 || st.Gid != 5678 || fi.Mode()&os.ModeSetuid == 0 || fi.Mode().Perm() != 0o755 {
		t.Fatalf("unpacked %v uid %d gid %d; want setuid 0755 1234:5678", fi.Mode(), st.Uid, st.Gid)
	}
	buf := make([]byte, 16)
	n, err := syscall.Getxattr(got, "user.ctpanel", buf)
	if err != nil || string(buf[:n]) != "kept" {
		t.Fatalf("xattr user.ctpanel: %q %v", buf[:n], err)
	}
}
