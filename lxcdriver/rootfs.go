package lxcdriver

import "context"

// RootfsStore is a driver whose containers' root filesystems can be read
// by a backup and replaced by a restore, whatever holds them (a directory,
// or a disk of their own).
type RootfsStore interface {
	// OpenRootfs shows the container's root filesystem on the host, read
	// only, running or stopped, until Release.
	OpenRootfs(ctx context.Context, name string) (RootfsView, error)
	// StageRootfs makes an empty root filesystem for the container beside
	// its own (a directory on the same filesystem, or a disk of the same
	// size), after finishing backwards what an interrupted restore left.
	StageRootfs(ctx context.Context, name string) (RootfsStage, error)
}

// RootfsView is a container's root filesystem as a backup reads it.
type RootfsView struct {
	// Dir shows the files, at the same path at every backup of the
	// container (restic finds the backup before by its path).
	Dir string
	// IDBase is the host id the container's root owns its files as in
	// Dir: 0 when they carry the owners the container sees (a directory
	// rootfs, idmapped when it starts, or a privileged container), the
	// container's first host id on a disk of its own.
	IDBase uint32
	// Release lets go of Dir.
	Release func() error
	// RebootAsked, after Release, says whether the guest rebooted while
	// Dir was held and its start was refused (a disk's image must not be
	// mounted twice): the caller starts it again.
	RebootAsked func() bool
}

// RootfsStage is an empty root filesystem a restore fills, then puts in
// the place of its container's.
type RootfsStage struct {
	// Dir is the new filesystem's root, to fill.
	Dir string
	// Swap puts the filled filesystem in place of the stopped container's,
	// its owners moved from the block at fromBase (RootfsView.IDBase of
	// where they were read) to the container's. The old one is kept.
	Swap func(ctx context.Context, fromBase uint32) error
	// Revert, after Swap, puts the old filesystem back and removes the
	// restored one.
	Revert func() error
	// Commit, after Swap, removes the old filesystem.
	Commit func() error
	// Discard removes the staged filesystem when it was not swapped in;
	// after Swap it does nothing.
	Discard func() error
}
