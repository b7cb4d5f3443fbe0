package ops

// DecodeAction is decodeAction, for the package's tests.
var DecodeAction = decodeAction
