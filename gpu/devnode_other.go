//go:build !linux

package gpu

import (
	"errors"
	"io/fs"
)

// statDevice: device nodes in OCI specs are a Linux matter.
func statDevice(path string) (devNode, error) {
	return devNode{}, &fs.PathError{Op: "stat", Path: path, Err: errors.ErrUnsupported}
}
