package liblxc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/subprocess"
)

// ext4Super is what the driver needs from an ext2/3/4 superblock: enough
// to say what statfs (and so df) would report for the filesystem at its
// current block count or at another one, without mounting it.
//
// df's size is the block count less the kernel's "overhead" (superblock
// and descriptor backups, reserved GDT blocks, bitmaps, inode tables, the
// journal), which the kernel computes at mount time the way overhead does
// below (fs/ext4/super.c, ext4_calculate_overhead). A disk of SizeBytes is
// an image large enough that size less overhead is SizeBytes.
type ext4Super struct {
	blocks, freeBlocks   uint64
	inodes, freeInodes   uint64
	firstDataBlock       uint64
	blockSize            uint64
	blocksPerGroup       uint64
	inodesPerGroup       uint64
	inodeSize            uint64
	reservedGDT          uint64
	descSize             uint64
	firstMetaBG          uint64
	journalBlocks        uint64
	backupBGs            [2]uint64
	sparseSuper, sparse2 bool
	metaBG, bigalloc     bool
	needsRecovery        bool
}

const (
	ext4Magic = 0xEF53

	ext4CompatHasJournal    = 0x4
	ext4CompatSparseSuper2  = 0x200
	ext4IncompatRecover     = 0x4
	ext4IncompatMetaBG      = 0x10
	ext4Incompat64Bit       = 0x80
	ext4RoCompatSparseSuper = 0x1
	ext4RoCompatBigalloc    = 0x200
)

// readExt4Super reads the primary superblock of the filesystem in image.
func readExt4Super(image string) (*ext4Super, error) {
	f, err := os.Open(image)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, 1024)
	if _, err := f.ReadAt(b, 1024); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: too small for an ext4 filesystem", image)
		}
		return nil, err
	}
	return parseExt4Super(b, image)
}

func parseExt4Super(b []byte, image string) (*ext4Super, error) {
	le := binary.LittleEndian
	u32 := func(off int) uint64 { return uint64(le.Uint32(b[off:])) }
	u16 := func(off int) uint64 { return uint64(le.Uint16(b[off:])) }
	if u16(0x38) != ext4Magic {
		return nil, fmt.Errorf("%s: no ext2/3/4 filesystem", image)
	}
	compat, incompat, roCompat := u32(0x5C), u32(0x60), u32(0x64)
	s := &ext4Super{
		inodes:         u32(0x00),
		blocks:         u32(0x04),
		freeBlocks:     u32(0x0C),
		freeInodes:     u32(0x10),
		firstDataBlock: u32(0x14),
		blockSize:      1024 << u32(0x18),
		blocksPerGroup: u32(0x20),
		inodesPerGroup: u32(0x28),
		inodeSize:      128,
		reservedGDT:    u16(0xCE),
		descSize:       32,
		firstMetaBG:    u32(0x104),
		backupBGs:      [2]uint64{u32(0x24C), u32(0x250)},
		sparseSuper:    roCompat&ext4RoCompatSparseSuper != 0,
		sparse2:        compat&ext4CompatSparseSuper2 != 0,
		metaBG:         incompat&ext4IncompatMetaBG != 0,
		bigalloc:       roCompat&ext4RoCompatBigalloc != 0,
		needsRecovery:  incompat&ext4IncompatRecover != 0,
	}
	if u32(0x4C) >= 1 { // EXT2_DYNAMIC_REV
		s.inodeSize = u16(0x58)
	}
	if incompat&ext4Incompat64Bit != 0 {
		s.blocks |= u32(0x150) << 32
		s.freeBlocks |= u32(0x158) << 32
		if d := u16(0xFE); d >= 32 {
			s.descSize = d
		}
	}
	if compat&ext4CompatHasJournal != 0 && u32(0xE0) != 0 {
		// s_jnl_blocks keeps a copy of the journal inode's size in
		// its last two words (high, low); the kernel counts the
		// journal as size / block size.
		if b[0xFD] != 1 { // EXT3_JNL_BACKUP_BLOCKS
			return nil, fmt.Errorf("%s: no backup of the journal inode in the superblock", image)
		}
		size := u32(0x10C+15*4)<<32 | u32(0x10C+16*4)
		s.journalBlocks = size / s.blockSize
	}
	if s.blockSize > 64<<10 || s.blocksPerGroup == 0 || s.inodeSize == 0 || s.blocks == 0 {
		return nil, fmt.Errorf("%s: implausible ext4 superblock", image)
	}
	if s.bigalloc {
		// Cluster accounting is not modelled; mke2fs never turns it on
		// by default.
		return nil, fmt.Errorf("%s: bigalloc filesystems are not supported", image)
	}
	return s, nil
}

func (s *ext4Super) descPerBlock() uint64 { return s.blockSize / s.descSize }

func (s *ext4Super) groups(blocks uint64) uint64 {
	return (blocks - s.firstDataBlock + s.blocksPerGroup - 1) / s.blocksPerGroup
}

func (s *ext4Super) itablePerGroup() uint64 {
	return (s.inodesPerGroup*s.inodeSize + s.blockSize - 1) / s.blockSize
}

// hasSuper is ext4_bg_has_super.
func (s *ext4Super) hasSuper(g uint64) bool {
	if g == 0 {
		return true
	}
	if s.sparse2 {
		return g == s.backupBGs[0] || g == s.backupBGs[1]
	}
	if g <= 1 || !s.sparseSuper {
		return true
	}
	if g&1 == 0 {
		return false
	}
	isPower := func(n, base uint64) bool {
		for n%base == 0 {
			n /= base
		}
		return n == 1
	}
	return isPower(g, 3) || isPower(g, 5) || isPower(g, 7)
}

// baseMeta is ext4_num_base_meta_blocks for group g of a filesystem whose
// descriptors take gdb blocks with rsv reserved GDT blocks after them.
func (s *ext4Super) baseMeta(g, gdb, rsv uint64) uint64 {
	var n uint64
	if s.hasSuper(g) {
		n = 1
	}
	if !s.metaBG || g < s.firstMetaBG*s.descPerBlock() {
		if n > 0 {
			if s.metaBG {
				n += s.firstMetaBG
			} else {
				n += gdb
			}
			n += rsv
		}
		return n
	}
	first := g / s.descPerBlock() * s.descPerBlock()
	if g == first || g == first+1 || g == first+s.descPerBlock()-1 {
		n++
	}
	return n
}

// gdtAt is the descriptor blocks and reserved GDT blocks the filesystem
// has once resized to blocks: resize2fs and the kernel take new
// descriptor blocks from the reserved ones and resize2fs gives them back
// when shrinking (resize/resize2fs.c, adjust_fs_info).
func (s *ext4Super) gdtAt(blocks uint64) (gdb, rsv uint64) {
	dpb := s.descPerBlock()
	gdb = (s.groups(blocks) + dpb - 1) / dpb
	cur := (s.groups(s.blocks) + dpb - 1) / dpb
	r := int64(s.reservedGDT) + int64(cur) - int64(gdb)
	r = max(r, 0)
	r = min(r, int64(s.blockSize/4))
	if s.reservedGDT == 0 {
		r = 0
	}
	return gdb, uint64(r)
}

// overhead is ext4_calculate_overhead for the filesystem resized to
// blocks.
func (s *ext4Super) overhead(blocks uint64) uint64 {
	gdb, rsv := s.gdtAt(blocks)
	ngroups := s.groups(blocks)
	perGroup := 2 + s.itablePerGroup() // block and inode bitmaps, inode table
	o := s.firstDataBlock + s.journalBlocks + ngroups*perGroup
	if !s.sparseSuper && !s.sparse2 && !s.metaBG {
		return o + ngroups*(1+gdb+rsv)
	}
	for g := range ngroups {
		o += s.baseMeta(g, gdb, rsv)
	}
	return o
}

// fsBytes is statfs's f_blocks × f_bsize: df's size.
func (s *ext4Super) fsBytes() uint64 {
	return (s.blocks - s.overhead(s.blocks)) * s.blockSize
}

// usage is what statfs would say of the filesystem as the superblock
// last recorded it (exact for a cleanly unmounted filesystem).
func (s *ext4Super) usage() lxcdriver.DiskUsage {
	size := s.fsBytes()
	free := min(s.freeBlocks*s.blockSize, size)
	return lxcdriver.DiskUsage{
		SizeBytes:  size,
		UsedBytes:  size - free,
		Inodes:     s.inodes,
		InodesUsed: s.inodes - min(s.freeInodes, s.inodes),
		Loop:       true,
	}
}

// blocksFor returns the block count at which df's size is at least want
// bytes, with a last block group large enough that neither resize2fs nor
// the kernel drops it.
func (s *ext4Super) blocksFor(want uint64) uint64 {
	wantBlocks := (want + s.blockSize - 1) / s.blockSize
	n := wantBlocks + s.overhead(wantBlocks)
	// Overhead grows with the block count in steps; a few rounds reach
	// the fixed point.
	for range 16 {
		next := wantBlocks + s.overhead(n)
		if next <= n {
			break
		}
		n = next
	}
	rem := (n - s.firstDataBlock) % s.blocksPerGroup
	if rem != 0 {
		gdb, rsv := s.gdtAt(n)
		last := s.groups(n) - 1
		need := s.baseMeta(last, gdb, rsv) + 2 + s.itablePerGroup() + 50
		if rem < need {
			n += need - rem
		}
	}
	return n
}

// ext4Tools are the e2fsprogs commands the driver runs.
var ext4Tools = []string{"mkfs.ext4", "e2fsck", "resize2fs", "tune2fs"}

// runTool runs an e2fsprogs command and returns its combined output.
func runTool(ctx context.Context, name string, args ...string) (string, error) {
	cmd := subprocess.Command(ctx, name, args...)
	// A predictable language for the messages matched below.
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return subprocess.Run(ctx, cmd)
}

// mkfs makes an ext4 filesystem on image, a fresh sparse file, without
// reserved blocks: the container's root is its only user, and df inside
// should show all of the disk as available, as OpenVZ's quota did. The
// journal is not zeroed (lazy_journal_init): the file's holes read as
// zeros already, and zeroing would write 64 MiB for a 5G disk, 1 GiB for
// a 1T one.
func mkfs(ctx context.Context, image string) error {
	_, err := runTool(ctx, "mkfs.ext4", "-F", "-q", "-m", "0", "-E", "lazy_journal_init=1", image)
	return err
}

// fsck runs e2fsck -f -p, which resize2fs wants first. Exit status 1 is
// "errors corrected". Once started it runs to its end whatever ctx says:
// a repair killed half-way is worse than a late answer.
func fsck(ctx context.Context, image string) error {
	_, err := runTool(context.WithoutCancel(ctx), "e2fsck", "-f", "-p", image)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check filesystem: %w", err)
	}
	return nil
}

// resize2fs resizes an unmounted filesystem to blocks. It refuses (and
// changes nothing) when the files would not fit. Like fsck it is not
// cancelled: a shrink killed while moving blocks ruins the filesystem.
func resize2fs(ctx context.Context, image string, blocks uint64) error {
	out, err := runTool(context.WithoutCancel(ctx), "resize2fs", image, strconv.FormatUint(blocks, 10))
	if err != nil {
		if strings.Contains(out, "smaller than minimum") || strings.Contains(out, "No space left") {
			return fmt.Errorf("%w: %s", lxcdriver.ErrDiskTooSmall, lastLine(out))
		}
		return err
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
