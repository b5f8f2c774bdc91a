// Package atomicfile replaces a file in one step, so a reader or a crash
// sees either the old content or the new, never a part.
package atomicfile

import (
	"fmt"
	"os"
)

// Write writes b to path through a temporary file beside it and a rename.
// A temporary file left by an earlier crash is removed first, so the new
// file gets perm even when that one had another mode (secrets are 0600).
func Write(path string, b []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(tmp, b, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
