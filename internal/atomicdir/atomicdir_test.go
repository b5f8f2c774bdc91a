package atomicdir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func readLink(t *testing.T, p string) string {
	t.Helper()
	s, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// entries lists dir's names, versions shown as "..VERSION".
func entries(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		n := e.Name()
		if e.IsDir() && strings.HasPrefix(n, "..") {
			n = "..VERSION"
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}

func TestWriteLayoutAndUpdates(t *testing.T) {
	dir := t.TempDir()
	v1 := []File{{Path: "app.conf", Data: []byte("level=1\n"), Mode: 0o644}, {Path: "conf/db/pass", Data: []byte("s3cret"), Mode: 0o400}}
	changed, err := Write(dir, v1, -1)
	if err != nil || !changed {
		t.Fatalf("first write: changed %v, %v", changed, err)
	}
	if got, want := entries(t, dir), "..VERSION ..data app.conf conf"; got != want {
		t.Fatalf("entries %q, want %q", got, want)
	}
	ver := readLink(t, filepath.Join(dir, DataLink))
	if !strings.HasPrefix(ver, "..20") {
		t.Errorf("..data points at %q, want a timestamped version", ver)
	}
	if got := readLink(t, filepath.Join(dir, "conf")); got != "..data/conf" {
		t.Errorf("conf links to %q", got)
	}
	for _, f := range v1 {
		p := filepath.Join(dir, f.Path)
		b, err := os.ReadFile(p)
		fi, serr := os.Stat(p)
		if err != nil || serr != nil || !bytes.Equal(b, f.Data) || fi.Mode().Perm() != f.Mode {
			t.Errorf("%s: %q %v, mode %v %v", f.Path, b, err, fi.Mode(), serr)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, ver)); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("version directory: %v %v, want mode 0755 so that every user can read through it", fi, err)
	}

	// The same payload again: nothing written.
	if changed, err := Write(dir, v1, -1); err != nil || changed {
		t.Fatalf("same payload: changed %v, %v", changed, err)
	}
	if got := readLink(t, filepath.Join(dir, DataLink)); got != ver {
		t.Errorf("same payload made version %s", got)
	}
	// A mode alone changes the payload.
	v1[0].Mode = 0o600
	if changed, err := Write(dir, v1, -1); err != nil || !changed {
		t.Fatalf("mode change: changed %v, %v", changed, err)
	}

	// Left by a crash and by someone else: the writer's leftovers go,
	// the rest stays.
	if err := os.Mkdir(filepath.Join(dir, "..2001_01_01_00_00_00.1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..2001_01_01_00_00_00.1", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "foreign"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	v2 := []File{{Path: "app.conf", Data: []byte("level=2\n"), Mode: 0o644}, {Path: "new", Data: nil, Mode: 0o644}}
	if changed, err := Write(dir, v2, -1); err != nil || !changed {
		t.Fatalf("second version: changed %v, %v", changed, err)
	}
	if got, want := entries(t, dir), "..VERSION ..data app.conf foreign new"; got != want {
		t.Errorf("entries %q, want %q (conf's link and the old versions removed)", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "app.conf")); err != nil || string(b) != "level=2\n" {
		t.Errorf("app.conf: %q %v", b, err)
	}

	// Empty: no files, no links.
	if _, err := Write(dir, nil, -1); err != nil {
		t.Fatal(err)
	}
	if got, want := entries(t, dir), "..VERSION ..data foreign"; got != want {
		t.Errorf("entries %q, want %q", got, want)
	}
}

func TestWriteGroup(t *testing.T) {
	groups, _ := os.Getgroups()
	gid := os.Getgid()
	if len(groups) > 0 {
		gid = groups[len(groups)-1] // one we may chown to, not our primary if we can help it
	}
	dir := t.TempDir()
	files := []File{{Path: "a/b", Data: []byte("x"), Mode: 0o440}}
	if _, err := Write(dir, files, gid); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "a", "b"))
	if err != nil || groupOf(fi) != gid {
		t.Fatalf("group of a/b: %v %v, want %d", fi, err, gid)
	}
	if changed, err := Write(dir, files, gid); err != nil || changed {
		t.Errorf("same payload and group: changed %v, %v", changed, err)
	}
}

func TestWriteRefusesUnsafePaths(t *testing.T) {
	for _, tt := range []struct {
		files []File
		want  string
	}{
		{[]File{{Path: "/etc/passwd"}}, `path "/etc/passwd": must be a clean relative path`},
		{[]File{{Path: "a/../../x"}}, `path "a/../../x": must be a clean relative path`},
		{[]File{{Path: "../x"}}, `path "../x": must not contain '..'`},
		{[]File{{Path: "..data"}}, `path "..data": must not start with '..'`},
		{[]File{{Path: "./a"}}, `path "./a": must be a clean relative path`},
		{[]File{{Path: ""}}, `path "": must be a clean relative path`},
		{[]File{{Path: "."}}, `path ".": must be a clean relative path`},
		{[]File{{Path: "a"}, {Path: "a"}}, `path "a": given twice`},
		{[]File{{Path: "a"}, {Path: "a/b"}}, `path "a/b": "a" is a file`},
		{[]File{{Path: "a", Mode: fs.ModeSetuid | 0o755}}, `path "a": mode urwxr-xr-x is not permission bits`},
	} {
		dir := t.TempDir()
		_, err := Write(dir, tt.files, -1)
		if err == nil || !strings.HasSuffix(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want %s", tt.files, err, tt.want)
		}
		if got := entries(t, dir); got != "" {
			t.Errorf("%v: wrote %s", tt.files, got)
		}
	}
	// A ..data that points elsewhere is not followed.
	dir := t.TempDir()
	if err := os.Symlink("/etc", filepath.Join(dir, DataLink)); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(dir, []File{{Path: "a", Mode: 0o644}}, -1); err == nil {
		t.Error("wrote through a ..data pointing at /etc")
	}
}

// TestConcurrentReadersSeeOneVersion: while versions are written as fast
// as possible, a reader that resolves ..data once reads the same version
// of every file, and a reader through a file's link always gets a whole
// file of some version.
func TestConcurrentReadersSeeOneVersion(t *testing.T) {
	dir := t.TempDir()
	names := []string{"a", "b", "sub/c"}
	const size = 32 << 10
	payload := func(v int) []File {
		var fs []File
		for _, n := range names {
			fs = append(fs, File{Path: n, Data: bytes.Repeat(fmt.Appendf(nil, "%08d", v), size/8), Mode: 0o644})
		}
		return fs
	}
	if _, err := Write(dir, payload(0), -1); err != nil {
		t.Fatal(err)
	}
	version := func(b []byte) (int, bool) {
		if len(b) != size {
			return 0, false
		}
		if !bytes.Equal(b, bytes.Repeat(b[:8], size/8)) {
			return 0, false
		}
		var v int
		_, err := fmt.Sscanf(string(b[:8]), "%d", &v)
		return v, err == nil
	}

	var done atomic.Bool
	var sets, singles atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	wg.Go(func() { // whole sets, through ..data resolved once
		for !done.Load() {
			root, err := os.OpenRoot(filepath.Join(dir, DataLink))
			if err != nil {
				continue // between a swap and the old version's removal
			}
			seen := -1
			whole := true
			for _, n := range names {
				b, err := root.ReadFile(n)
				if errors.Is(err, fs.ErrNotExist) {
					whole = false // the version was removed under us: read again
					break
				}
				v, ok := version(b)
				if err != nil || !ok || (seen >= 0 && v != seen) {
					errc <- fmt.Errorf("file %s of one version: version %d (ok %v, %v), others %d", n, v, ok, err, seen)
					root.Close()
					return
				}
				seen = v
			}
			root.Close()
			if whole {
				sets.Add(1)
			}
		}
	})
	wg.Go(func() { // single files, through their links
		for !done.Load() {
			for _, n := range names {
				b, err := os.ReadFile(filepath.Join(dir, n))
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if _, ok := version(b); err != nil || !ok {
					errc <- fmt.Errorf("%s through its link: %d bytes, %v", n, len(b), err)
					return
				}
				singles.Add(1)
			}
		}
	})
	for v := 1; v <= 150 && len(errc) == 0; v++ {
		if _, err := Write(dir, payload(v), -1); err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if sets.Load() == 0 || singles.Load() == 0 {
		t.Errorf("readers read %d sets and %d files: nothing was checked", sets.Load(), singles.Load())
	}
	t.Logf("%d consistent sets and %d whole files read during 150 versions", sets.Load(), singles.Load())
}
