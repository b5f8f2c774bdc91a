// Package voltransfer moves a StatefulSet claim volume between nodes as a
// tar stream, and swaps the copy in atomically on the receiving node.
package voltransfer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Claim volumes move between agents as a tar stream: WriteTar on the node
// that holds the data, ExtractTar into a fresh directory on the node that
// will run the pod, then ReplaceDir swaps it in. The stream comes from
// another machine, so extraction trusts none of its names: nothing may
// land outside the directory, directly or through a symlink it created.

// WriteTar streams dir as a tar archive: "." first, then every entry by
// path, keeping modes, owners, modification times and symlinks (their
// targets as they are). Sockets, devices and pipes are skipped: a claim
// volume holds data, and they mean nothing on another machine.
func WriteTar(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		link := ""
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case info.Mode().IsRegular(), info.IsDir():
		default:
			return nil
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		// PAX keeps sub-second modification times (databases compare them).
		hdr.Format = tar.FormatPAX
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.CopyN(tw, f, info.Size()); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// ErrUnsafePath is returned for a tar entry that would land outside the
// extraction directory.
var ErrUnsafePath = errors.New("unsafe path in archive")

// ExtractTar unpacks a WriteTar stream into dir, which must exist and be
// empty. Owners are restored when this process may (as root); modes and
// modification times always, directories' last (so a read-only directory
// can still be filled).
//
// The stream is not trusted. Nothing lands outside dir: no absolute or
// ".." names, no path through a symlink, no directory entry over an
// earlier symlink, and modes are set through a descriptor opened without
// following links. Sparse entries, which WriteTar never writes and which
// expand to any size from a few bytes, are refused, and no entry may be
// larger than the space left on dir's filesystem.
func ExtractTar(r io.Reader, dir string) error {
	free, err := freeBytes(dir)
	if err != nil {
		return err
	}
	tr := tar.NewReader(r)
	type dirMeta struct {
		path  string
		mode  fs.FileMode
		mtime time.Time
	}
	var dirs []dirMeta
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		target, err := safeJoin(dir, hdr.Name)
		if err != nil {
			return err
		}
		if isSparse(hdr) {
			return fmt.Errorf("%w: %q is a sparse entry", ErrUnsafePath, hdr.Name)
		}
		mode := hdr.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if target != dir {
				if err := os.Mkdir(target, 0o700); errors.Is(err, fs.ErrExist) {
					// Only a directory may be named twice: an earlier
					// symlink of that name would have the final chmod
					// follow it out of dir.
					if fi, lerr := os.Lstat(target); lerr != nil || !fi.IsDir() {
						return fmt.Errorf("%w: directory %q over an entry that is not one", ErrUnsafePath, hdr.Name)
					}
				} else if err != nil {
					return err
				}
			}
			dirs = append(dirs, dirMeta{target, mode, hdr.ModTime})
		case tar.TypeReg:
			if hdr.Size > free {
				return fmt.Errorf("%s: %d bytes do not fit in the %d left on the volume's filesystem", hdr.Name, hdr.Size, free)
			}
			free -= hdr.Size
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if err == nil {
				err = f.Chmod(mode) // the file just made, not whatever the name now leads to
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", hdr.Name, err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unsupported entry type %q", hdr.Name, hdr.Typeflag)
		}
		lchown(target, hdr.Uid, hdr.Gid)
		if hdr.Typeflag != tar.TypeDir {
			if err := setMtime(target, hdr.ModTime); err != nil {
				return err
			}
		}
	}
	// Deepest first: setting a parent's time after its children's.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if err := chmodDir(d.path, d.mode); err != nil {
			return err
		}
		if err := setMtime(d.path, d.mtime); err != nil {
			return err
		}
	}
	return nil
}

// chmodDir sets a directory's mode through a descriptor opened without
// following a symlink, so the mode lands on that directory or nowhere.
func chmodDir(p string, mode fs.FileMode) error {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnsafePath, p, err)
	}
	defer f.Close()
	return f.Chmod(mode)
}

// isSparse reports a GNU sparse entry, old style or PAX.
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// freeBytes is the space an unprivileged writer has left on dir's
// filesystem.
func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("free space under %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// safeJoin resolves an archive name under dir, refusing absolute names,
// ".." and any path through a symlink (which could point anywhere).
func safeJoin(dir, name string) (string, error) {
	clean := path.Clean(strings.TrimSuffix(name, "/"))
	if clean == "." {
		return dir, nil
	}
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") || strings.ContainsRune(clean, 0) {
		return "", fmt.Errorf("%w: %q", ErrUnsafePath, name)
	}
	parts := strings.Split(clean, "/")
	cur := dir
	for _, p := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, p)
		fi, err := os.Lstat(cur)
		if err != nil {
			return "", fmt.Errorf("%w: %q: parent %s: %v", ErrUnsafePath, name, p, err)
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("%w: %q goes through %s, which is not a directory", ErrUnsafePath, name, p)
		}
	}
	return filepath.Join(dir, filepath.FromSlash(clean)), nil
}

// lchown restores an owner where permitted; a non-root agent (tests, a
// rootless setup) keeps its own, which is all it can do.
func lchown(p string, uid, gid int) {
	if os.Geteuid() == 0 {
		_ = os.Lchown(p, uid, gid)
	}
}

// setMtime sets a path's times without following a symlink.
func setMtime(p string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

// FetchInto fills a new directory next to dest with fill, then swaps it in
// for dest in one step, so dest holds either the old data or the whole new
// data, never a mix; a fill that fails leaves dest as it was. Leftovers of
// an earlier, interrupted fetch are removed first.
func FetchInto(dest string, fill func(tmp string) error) error {
	parent, base := filepath.Split(filepath.Clean(dest))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	prefix := "." + base + ".fetch-"
	if old, _ := filepath.Glob(filepath.Join(parent, prefix+"*")); len(old) > 0 {
		for _, o := range old {
			_ = os.RemoveAll(o)
		}
	}
	tmp, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return err
	}
	if err := fill(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	return ReplaceDir(tmp, dest)
}

// ReplaceDir puts directory src in dest's place: an atomic exchange when
// dest exists (renameat2 RENAME_EXCHANGE, then the old data is removed),
// a rename otherwise.
func ReplaceDir(src, dest string) error {
	if _, err := os.Lstat(dest); errors.Is(err, fs.ErrNotExist) {
		return os.Rename(src, dest)
	}
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dest, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		// A filesystem without exchange: move the old data aside first.
		aside := src + ".old"
		if err := os.Rename(dest, aside); err != nil {
			return err
		}
		if err := os.Rename(src, dest); err != nil {
			return err
		}
		return os.RemoveAll(aside)
	}
	if err != nil {
		_ = os.RemoveAll(src)
		return fmt.Errorf("swap %s into place: %w", dest, err)
	}
	return os.RemoveAll(src) // now holds the old data
}
