package liblxc

// LoopDevicesUnder lets the tests check that nothing is left attached.
var LoopDevicesUnder = loopDevicesUnder

// MountImage mounts a loop disk image as a create does to fill it.
var MountImage = mountImage
