package lxcdriver

import "context"

// FileReader reads files inside a container, running or not. Both drivers
// implement it; a missing file is an error wrapping fs.ErrNotExist.
type FileReader interface {
	ReadFile(ctx context.Context, name, path string) ([]byte, error)
}
