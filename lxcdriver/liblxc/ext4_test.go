package liblxc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

func needRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("mounts filesystems; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root to attach loop devices and mount them")
	}
}

// TestExt4Arithmetic: what the superblock says df would show is what
// statfs shows once mounted, for filesystems of 1 KiB and 4 KiB blocks,
// fresh and resized both ways to the size blocksFor picks, which is then
// the asked size to the block.
func TestExt4Arithmetic(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	image := filepath.Join(t.TempDir(), "img")
	check := func(what string) *ext4Super {
		t.Helper()
		sb, err := readExt4Super(image)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		mnt, cleanup, err := mountImage(image, true)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		size, used, inodes, iused, err := statfsUsage(mnt)
		if cerr := cleanup(); cerr != nil {
			t.Errorf("%s: %v", what, cerr)
		}
		if err != nil {
			t.Fatal(err)
		}
		want := lxcdriver.DiskUsage{SizeBytes: size, UsedBytes: used, Inodes: inodes, InodesUsed: iused, Loop: true}
		if u := sb.usage(); u != want {
			t.Errorf("%s (%d blocks of %d): superblock says %+v, statfs %+v", what, sb.blocks, sb.blockSize, u, want)
		}
		return sb
	}
	for _, mb := range []uint64{16, 64, 700, 3000} {
		if err := os.WriteFile(image, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(image, int64(mb<<20)); err != nil {
			t.Fatal(err)
		}
		if err := mkfs(ctx, image); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("fresh %d MiB", mb))
		for _, want := range []uint64{mb << 20, mb << 21, mb << 19, mb<<20 + 12345678} {
			if want < lxcdriver.MinDiskBytes {
				continue
			}
			if err := fitImage(ctx, image, want); err != nil {
				t.Fatalf("fit %d MiB to %d: %v", mb, want, err)
			}
			sb := check(fmt.Sprintf("%d MiB resized to %d", mb, want))
			// blocksFor rounds up to whole blocks; no more.
			if got := sb.fsBytes(); got < want || got >= want+sb.blockSize {
				t.Errorf("%d MiB resized to %d: df would say %d", mb, want, got)
			}
			fi, err := os.Stat(image)
			if err != nil {
				t.Fatal(err)
			}
			if uint64(fi.Size()) != sb.blocks*sb.blockSize {
				t.Errorf("image of %d bytes holds %d blocks of %d", fi.Size(), sb.blocks, sb.blockSize)
			}
		}
	}
	if devs, err := attachedTo(image); err != nil || len(devs) > 0 {
		t.Errorf("loop devices left on %s: %v %v", image, devs, err)
	}
}

// TestLiveLoop: a running container's root is found as the loop device
// on its image, and that device takes the image's new size: the steps of
// a live grow before the ext4 ioctl (which needs CAP_SYS_RESOURCE).
func TestLiveLoop(t *testing.T) {
	needRoot(t)
	ctx := t.Context()
	lxcpath := t.TempDir()
	if err := os.Chmod(filepath.Dir(lxcpath), 0o711); err != nil {
		t.Fatal(err)
	}
	d, err := New(lxcpath)
	if err != nil {
		t.Fatal(err)
	}
	const name = "9liveloop"
	t.Cleanup(func() {
		_ = d.Stop(context.Background(), name)
		if err := d.Destroy(context.Background(), name); err != nil {
			t.Errorf("destroy: %v", err)
		}
	})
	err = d.Create(ctx, name, lxcdriver.CreateOptions{
		Template: "busybox",
		Config:   []lxcdriver.ConfigItem{{Key: "lxc.net.0.type", Value: "empty"}},
		Disk:     &lxcdriver.DiskOptions{SizeBytes: 32 << 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	info, err := d.Info(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	image := filepath.Join(d.LXCPath(), name, "rootdev")
	dev, err := liveLoop(info.InitPID, image)
	if err != nil {
		t.Fatalf("live loop: %v", err)
	}
	if devs, _ := attachedTo(image); len(devs) != 1 || devs[0] != dev {
		t.Errorf("live loop %s, attached to the image: %v", dev, devs)
	}
	if _, err := liveLoop(info.InitPID, image+".other"); err == nil {
		t.Errorf("live loop accepted an image that is not the container's")
	}
	sectors := func() uint64 {
		b, err := os.ReadFile("/sys/block/" + filepath.Base(dev) + "/size")
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := sectors()
	fi, err := os.Stat(image)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(image, fi.Size()+8<<20); err != nil {
		t.Fatal(err)
	}
	if err := setLoopCapacity(dev); err != nil {
		t.Fatal(err)
	}
	if after := sectors(); after != before+8<<20/512 {
		t.Errorf("loop device of %d sectors became %d, want %d", before, after, before+8<<20/512)
	}
	// The superblock in the image agrees with statfs once synced.
	root := fmt.Sprintf("/proc/%d/root", info.InitPID)
	if err := syncfs(root); err != nil {
		t.Fatal(err)
	}
	sb, err := readExt4Super(image)
	if err != nil {
		t.Fatal(err)
	}
	size, _, inodes, _, err := statfsUsage(root)
	if err != nil {
		t.Fatal(err)
	}
	if sb.fsBytes() != size || sb.inodes != inodes {
		t.Errorf("superblock of the running disk says %d bytes, %d inodes; statfs %d, %d", sb.fsBytes(), sb.inodes, size, inodes)
	}
	if LiveDiskGrowSupported() {
		if err := growLive(info.InitPID, image, 48<<20); err != nil {
			t.Fatalf("grow live: %v", err)
		}
		if size, _, _, _, _ := statfsUsage(root); !near(size, 48<<20) {
			t.Errorf("grown live to %d bytes, want 48 MiB", size)
		}
	} else {
		err := resizeMounted(root, sb.blocks+1024)
		t.Logf("no CAP_SYS_RESOURCE: the online resize itself is not tested (the kernel says %v)", err)
	}
}
