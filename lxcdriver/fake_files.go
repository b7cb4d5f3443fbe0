package lxcdriver

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
)

// ReadFile implements FileReader on files written with WriteFile.
func (f *Fake) ReadFile(ctx context.Context, name, path string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ct, err := f.get("read file", name)
	if err != nil {
		return nil, err
	}
	data, ok := ct.files[path]
	if !ok {
		return nil, fmt.Errorf("fake: read %s in %s: %w", path, name, fs.ErrNotExist)
	}
	return bytes.Clone(data), nil
}
