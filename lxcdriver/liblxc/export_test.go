package liblxc

// LoopDevicesUnder lets the tests check that nothing is left attached.
var LoopDevicesUnder = loopDevicesUnder
