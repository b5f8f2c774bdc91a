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
// extraction directory, or act on something through a symlink.
var ErrUnsafePath = errors.New("unsafe path in archive")

// ErrTooLarge is returned for an archive over one of the caps: MaxEntries,
// MaxBytes, or the space left on the destination's filesystem.
var ErrTooLarge = errors.New("archive over a cap")

// The caps on one ExtractTar. A claim volume is data a pod wrote, but the
// stream comes from another machine: these bound what it can cost the
// receiving node however it is made. Tests lower them.
var (
	// MaxBytes caps the file content one extraction writes, in bytes. The
	// space left on the destination's filesystem caps it too, whichever
	// is lower.
	MaxBytes int64 = 1 << 40
	// MaxEntries caps the entries (files, directories, symlinks, the
	// top directory included) of one archive: each costs an inode.
	MaxEntries = 1_000_000
)

// ExtractTar unpacks a WriteTar stream into dir, which must exist and be
// empty. Owners are restored when this process may (as root); modes and
// modification times always, directories' last (so a read-only directory
// can still be filled).
//
// The stream is not trusted. Every operation is resolved inside an os.Root
// opened on dir, so no name and no symlink (from the archive or not) leads
// outside it. Beyond that: absolute and ".." names are refused, and so is
// any name through something other than a directory of the archive (such
// as an earlier symlink), a name given twice unless both are directories,
// hard links, devices and pipes. Symlinks are kept as data, whatever they
// point at, and never followed: modes, owners and times are set on the
// entry itself through a descriptor or an AT_SYMLINK_NOFOLLOW call. Sparse
// entries, which WriteTar never writes and which expand to any size from a
// few bytes, are refused, and so is an archive with more than MaxEntries
// entries or more file content than MaxBytes or the space left on dir's
// filesystem.
func ExtractTar(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	x, err := newExtractor(root)
	if err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
	return x.finishDirs()
}

// extractor is one ExtractTar's state.
type extractor struct {
	root    *os.Root
	chown   bool            // restore owners: only root may
	budget  int64           // bytes of file content left: min(free, MaxBytes)
	byFree  bool            // budget is the free space, not MaxBytes
	entries int             // entries seen
	isDir   map[string]bool // the directories made, by clean name; "." is dir
	dirs    []dirMeta       // directory entries, in archive order
}

type dirMeta struct {
	name     string // clean, relative to the root
	mode     fs.FileMode
	uid, gid int
	mtime    time.Time
}

func newExtractor(root *os.Root) (*extractor, error) {
	free, err := freeBytes(root)
	if err != nil {
		return nil, err
	}
	x := &extractor{
		root:   root,
		chown:  os.Geteuid() == 0,
		budget: min(free, MaxBytes),
		byFree: free < MaxBytes,
		isDir:  map[string]bool{".": true},
	}
	return x, nil
}

// entry checks one archive entry against the caps and the rules, then
// creates it.
func (x *extractor) entry(hdr *tar.Header, tr io.Reader) error {
	x.entries++
	if x.entries > MaxEntries {
		return fmt.Errorf("%w: %q is entry %d, over the cap of %d entries (MaxEntries)", ErrTooLarge, hdr.Name, x.entries, MaxEntries)
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if isSparse(hdr) {
		return fmt.Errorf("%w: %q is a sparse entry", ErrUnsafePath, hdr.Name)
	}
	if parent := path.Dir(name); !x.isDir[parent] {
		return fmt.Errorf("%w: %q goes through %q, which is not a directory of the archive", ErrUnsafePath, hdr.Name, parent)
	}
	mode := hdr.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = x.mkdir(name)
		x.dirs = append(x.dirs, dirMeta{name, mode, hdr.Uid, hdr.Gid, hdr.ModTime})
	case tar.TypeReg:
		err = x.file(name, hdr, mode, tr)
	case tar.TypeSymlink:
		err = x.symlink(name, hdr)
	case tar.TypeLink:
		// WriteTar never writes one, and a link shares its inode (mode,
		// owner, content) with whatever it names.
		return fmt.Errorf("%w: %q is a hard link (to %q), which is refused", ErrUnsafePath, hdr.Name, hdr.Linkname)
	default:
		return fmt.Errorf("%s: unsupported entry type %q", hdr.Name, hdr.Typeflag)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", hdr.Name, err)
	}
	return nil
}

// cleanName is an archive name relative to the extraction root, or an
// error for an absolute name, one with "..", or one with a NUL.
func cleanName(name string) (string, error) {
	clean := path.Clean(strings.TrimSuffix(name, "/"))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") || strings.ContainsRune(clean, 0) {
		return "", fmt.Errorf("%w: %q", ErrUnsafePath, name)
	}
	return clean, nil
}

// mkdir makes a directory entry's directory. Only a directory may be named
// twice: over anything else (an earlier symlink above all) the final chmod
// would act on what that is.
func (x *extractor) mkdir(name string) error {
	if name == "." {
		return nil
	}
	err := x.root.Mkdir(name, 0o700)
	if errors.Is(err, fs.ErrExist) {
		if fi, lerr := x.root.Lstat(name); lerr != nil || !fi.IsDir() || !x.isDir[name] {
			return fmt.Errorf("%w: a directory over an entry that is not one", ErrUnsafePath)
		}
		return nil
	}
	if err != nil {
		return err
	}
	x.isDir[name] = true
	return nil
}

// file writes a regular file entry. O_CREATE|O_EXCL never follows a
// symlink (os.Root's either), so the file is new; owner and mode are set
// through its descriptor, the owner first (a chown clears set-id bits).
func (x *extractor) file(name string, hdr *tar.Header, mode fs.FileMode, tr io.Reader) error {
	if hdr.Size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrUnsafePath, hdr.Size)
	}
	if hdr.Size > x.budget {
		return x.overBytes(hdr.Size)
	}
	x.budget -= hdr.Size
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.CopyN(f, tr, hdr.Size)
	if err == nil && x.chown {
		err = f.Chown(hdr.Uid, hdr.Gid)
	}
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return x.setMtime(name, hdr.ModTime)
}

func (x *extractor) overBytes(size int64) error {
	if x.byFree {
		return fmt.Errorf("%w: %d bytes do not fit in the %d left on the volume's filesystem", ErrTooLarge, size, x.budget)
	}
	return fmt.Errorf("%w: %d bytes do not fit in the %d left under the cap of %d bytes (MaxBytes)", ErrTooLarge, size, x.budget, MaxBytes)
}

// symlink makes a symlink entry as it is: its target is data, never
// followed here (os.Root would not follow it out of the tree either).
func (x *extractor) symlink(name string, hdr *tar.Header) error {
	if err := x.root.Symlink(hdr.Linkname, name); err != nil {
		return err
	}
	if x.chown {
		if err := x.root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	return x.setMtime(name, hdr.ModTime)
}

// finishDirs sets the directories' owners, modes and times, deepest first
// (in reverse archive order, which has parents first): a parent's time
// after its children's, a read-only mode after its content.
func (x *extractor) finishDirs() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		err := x.inParent(d.name, func(dirfd int, base string) error {
			fd, err := unix.Openat(dirfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrUnsafePath, err)
			}
			defer unix.Close(fd)
			if x.chown {
				if err := unix.Fchown(fd, d.uid, d.gid); err != nil {
					return err
				}
			}
			if err := unix.Fchmod(fd, uint32(d.mode.Perm())|setIDBits(d.mode)); err != nil {
				return err
			}
			return utimesAt(dirfd, base, d.mtime)
		})
		if err != nil {
			return fmt.Errorf("directory %s: %w", d.name, err)
		}
	}
	return nil
}

// setIDBits is mode's set-user-ID, set-group-ID and sticky bits as
// chmod(2) wants them.
func setIDBits(mode fs.FileMode) uint32 {
	var m uint32
	if mode&fs.ModeSetuid != 0 {
		m |= unix.S_ISUID
	}
	if mode&fs.ModeSetgid != 0 {
		m |= unix.S_ISGID
	}
	if mode&fs.ModeSticky != 0 {
		m |= unix.S_ISVTX
	}
	return m
}

// setMtime sets an entry's times without following it if it is a symlink.
func (x *extractor) setMtime(name string, t time.Time) error {
	return x.inParent(name, func(dirfd int, base string) error {
		return utimesAt(dirfd, base, t)
	})
}

// inParent calls f with a descriptor of name's parent directory, opened
// inside the root, and name's last element. os.Root resolves the parent;
// the *at calls f makes on the last element then never follow it, which
// Root.Chmod, Chown and Chtimes would (inside the root) if it were a
// symlink. For "." the parent is the root and the element ".".
func (x *extractor) inParent(name string, f func(dirfd int, base string) error) error {
	parent, base := path.Dir(name), path.Base(name)
	d, err := x.root.OpenFile(parent, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	rc, err := d.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd), base) }); err != nil {
		return err
	}
	return ferr
}

// utimesAt sets base's access and modification times, relative to dirfd,
// on base itself if it is a symlink.
func utimesAt(dirfd int, base string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	return unix.UtimesNanoAt(dirfd, base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
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

// freeBytes is the space an unprivileged writer has left on root's
// filesystem.
func freeBytes(root *os.Root) (int64, error) {
	f, err := root.Open(".")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return 0, fmt.Errorf("free space under %s: %w", root.Name(), err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
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
