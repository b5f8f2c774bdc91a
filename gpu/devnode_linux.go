package gpu

import (
	"errors"
	"io/fs"

	"golang.org/x/sys/unix"
)

// statDevice reads a device node's type and numbers, following symlinks
// (some distributions link /dev/nvidia* elsewhere). Anything but a char or
// block device is an error: the container would get a useless cgroup rule.
func statDevice(path string) (devNode, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return devNode{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return devNode{}, &fs.PathError{Op: "stat", Path: path, Err: errors.New("not a device node")}
	}
	rdev := uint64(st.Rdev) //nolint:unconvert // uint32 on some architectures
	return devNode{
		typ:   typ,
		major: int64(unix.Major(rdev)),
		minor: int64(unix.Minor(rdev)),
		mode:  fs.FileMode(st.Mode & 0o777),
	}, nil
}
