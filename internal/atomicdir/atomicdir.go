// Package atomicdir keeps a directory's files in step with a payload the
// way kubelet's AtomicWriter does for ConfigMap, Secret and downward API
// volumes, so that a reader never sees a mix of two versions:
//
//	<dir>/..2026_01_02_15_04_05.123456/   one version's files, written whole
//	<dir>/..data -> ..2026_01_02_15_04_05.123456
//	<dir>/app.conf -> ..data/app.conf      what users see: top-level names
//	<dir>/conf -> ..data/conf              (a directory of the payload)
//
// A new version is written into a new timestamped directory; then ..data
// is pointed at it with rename(2), which replaces the link in one step;
// then the top-level links are added or removed and the old version is
// deleted. A reader that resolves ..data once (opening it as a
// directory, or through a link) reads one version throughout; the paths
// through the top-level links always lead to a complete file.
//
// One writer per directory: callers serialize writes to the same dir.
package atomicdir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

const (
	// DataLink names the link to the current version.
	DataLink = "..data"
	tmpLink  = "..data_tmp"
	// versionPrefix starts every timestamped version directory's name
	// (and no name of a payload).
	versionPrefix = ".."
	dirMode       = 0o755
)

// File is one file of a payload: a slash-separated relative path, its
// content and its permission bits.
type File struct {
	Path string
	Data []byte
	Mode fs.FileMode
}

// Write makes dir show exactly files, which must have distinct, relative,
// clean paths, none starting with ".." (those names are the writer's).
// gid, when 0 or more, becomes the group of everything in the version (a
// pod's fsGroup). Nothing is written when dir shows these files already;
// changed reports whether a new version was made.
func Write(dir string, files []File, gid int) (changed bool, err error) {
	if err := check(files); err != nil {
		return false, fmt.Errorf("write %s: %w", dir, err)
	}
	old, err := current(dir)
	if err != nil {
		return false, fmt.Errorf("write %s: %w", dir, err)
	}
	if old != "" && same(filepath.Join(dir, old), files, gid) && linked(dir, files) {
		return false, nil
	}
	if err := write(dir, old, files, gid); err != nil {
		return false, fmt.Errorf("write %s: %w", dir, err)
	}
	return true, nil
}

// check refuses payloads that could escape dir, collide with the
// writer's own names, or name one path twice (or as both a file and a
// directory).
func check(files []File) error {
	seen := map[string]bool{}
	for _, f := range files {
		p := f.Path
		switch {
		case p == "" || p == "." || path.IsAbs(p) || path.Clean(p) != p:
			return fmt.Errorf("path %q: must be a clean relative path", p)
		case slices.Contains(strings.Split(p, "/"), ".."):
			return fmt.Errorf("path %q: must not contain '..'", p)
		case strings.HasPrefix(p, ".."):
			return fmt.Errorf("path %q: must not start with '..'", p)
		case f.Mode&^fs.ModePerm != 0:
			return fmt.Errorf("path %q: mode %v is not permission bits", p, f.Mode)
		case seen[p]:
			return fmt.Errorf("path %q: given twice", p)
		}
		seen[p] = true
	}
	for p := range seen {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if seen[d] {
				return fmt.Errorf("path %q: %q is a file", p, d)
			}
		}
	}
	return nil
}

// current returns the name of the version ..data points at, "" if none.
func current(dir string) (string, error) {
	target, err := os.Readlink(filepath.Join(dir, DataLink))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if strings.Contains(target, "/") || !strings.HasPrefix(target, versionPrefix) {
		return "", fmt.Errorf("%s points at %q, not a version of this directory", DataLink, target)
	}
	return target, nil
}

// same reports whether version directory v holds exactly files, with
// their modes (and group).
func same(v string, files []File, gid int) bool {
	want := map[string]File{}
	for _, f := range files {
		want[f.Path] = f
	}
	n := 0
	err := filepath.WalkDir(v, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(v, p)
		f, ok := want[filepath.ToSlash(rel)]
		if !ok || !d.Type().IsRegular() {
			return errDiffers
		}
		n++
		fi, err := d.Info()
		if err != nil || fi.Mode().Perm() != f.Mode || (gid >= 0 && groupOf(fi) != gid) {
			return errDiffers
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.Data) {
			return errDiffers
		}
		return nil
	})
	return err == nil && n == len(files)
}

var errDiffers = errors.New("differs")

func groupOf(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Gid)
	}
	return -1
}

// linked reports whether every top-level name of files has its link.
func linked(dir string, files []File) bool {
	for _, name := range topLevel(files) {
		if t, err := os.Readlink(filepath.Join(dir, name)); err != nil || t != path.Join(DataLink, name) {
			return false
		}
	}
	return true
}

func topLevel(files []File) []string {
	var names []string
	for _, f := range files {
		name, _, _ := strings.Cut(f.Path, "/")
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// write makes a new version, swaps ..data to it and tidies up after.
func write(dir, old string, files []File, gid int) error {
	v, err := newVersion(dir, files, gid)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, tmpLink)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Symlink(v, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, DataLink)); err != nil {
		return err
	}
	if err := link(dir, files); err != nil {
		return err
	}
	return tidy(dir, v, files)
}

// newVersion writes files into a new timestamped directory of dir and
// returns its name. A failure removes what it wrote.
func newVersion(dir string, files []File, gid int) (name string, err error) {
	v, err := os.MkdirTemp(dir, time.Now().UTC().Format(versionPrefix+"2006_01_02_15_04_05."))
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(v)
		}
	}()
	// MkdirTemp makes it 0700: readers other than root must get in.
	if err := os.Chmod(v, dirMode); err != nil {
		return "", err
	}
	for _, f := range files {
		p := filepath.Join(v, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), dirMode); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			return "", err
		}
		// WriteFile's mode passed through the umask.
		if err := os.Chmod(p, f.Mode); err != nil {
			return "", err
		}
	}
	if gid >= 0 {
		err := filepath.WalkDir(v, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, -1, gid)
		})
		if err != nil {
			return "", err
		}
	}
	return filepath.Base(v), nil
}

// link adds the top-level links the payload needs.
func link(dir string, files []File) error {
	for _, name := range topLevel(files) {
		p := filepath.Join(dir, name)
		want := path.Join(DataLink, name)
		t, err := os.Readlink(p)
		switch {
		case err == nil && t == want:
			continue
		case err == nil:
			if err := os.Remove(p); err != nil {
				return err
			}
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%s is in the way: %w", p, err)
		}
		if err := os.Symlink(want, p); err != nil {
			return err
		}
	}
	return nil
}

// tidy removes the links of names no longer in the payload and every
// version but v (the previous one, and any a crash left behind).
func tidy(dir, v string, files []File) error {
	keep := topLevel(files)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == v || name == DataLink:
		case strings.HasPrefix(name, versionPrefix) && e.IsDir():
			// A symlink is never IsDir: ..data and ..data_tmp stay.
			errs = append(errs, os.RemoveAll(filepath.Join(dir, name)))
		case e.Type()&fs.ModeSymlink != 0 && !strings.HasPrefix(name, versionPrefix) && !slices.Contains(keep, name):
			// Only the writer's own links: nothing else in dir is removed.
			if t, err := os.Readlink(filepath.Join(dir, name)); err == nil && t == path.Join(DataLink, name) {
				errs = append(errs, os.Remove(filepath.Join(dir, name)))
			}
		}
	}
	return errors.Join(errs...)
}
