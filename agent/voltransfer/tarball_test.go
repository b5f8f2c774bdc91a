package voltransfer

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func tarOf(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg {
			h.Size = 1
		}
		h.Mode = 0o644
		must(t, tw.WriteHeader(h))
		if h.Typeflag == tar.TypeReg {
			_, err := tw.Write([]byte("x"))
			must(t, err)
		}
	}
	must(t, tw.Close())
	return b.Bytes()
}

func TestExtractRefusesTraversal(t *testing.T) {
	outside := t.TempDir()
	outsideFI, err := os.Stat(outside)
	must(t, err)
	for name, archive := range map[string][]byte{
		"dotdot":   tarOf(t, &tar.Header{Name: "../escape", Typeflag: tar.TypeReg}),
		"nested":   tarOf(t, &tar.Header{Name: "a/../../escape", Typeflag: tar.TypeReg}),
		"absolute": tarOf(t, &tar.Header{Name: filepath.Join(outside, "escape"), Typeflag: tar.TypeReg}),
		"symlink": tarOf(t,
			&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: outside},
			&tar.Header{Name: "link/escape", Typeflag: tar.TypeReg}),
		"hardlink": tarOf(t, &tar.Header{Name: "hl", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}),
		// A directory entry over an earlier symlink: the final chmod
		// would follow the link to outside.
		"dir over symlink": tarOf(t,
			&tar.Header{Name: "d", Typeflag: tar.TypeSymlink, Linkname: outside},
			&tar.Header{Name: "d/", Typeflag: tar.TypeDir}),
		// 1 GiB on disk from a few kilobytes of stream.
		"sparse": sparseArchive(t, 1<<30),
	} {
		dir := filepath.Join(t.TempDir(), "x")
		must(t, os.Mkdir(dir, 0o700))
		if err := ExtractTar(bytes.NewReader(archive), dir); err == nil {
			t.Errorf("%s: extracted", name)
		}
		if _, err := os.Lstat(filepath.Join(outside, "escape")); err == nil {
			t.Fatalf("%s: wrote outside the directory", name)
		}
		if fi, err := os.Stat(outside); err != nil || fi.Mode() != outsideFI.Mode() {
			t.Fatalf("%s: the directory outside changed: %v, %v", name, fi, err)
		}
	}

	// A failed fill leaves the destination as it was.
	dest := filepath.Join(t.TempDir(), "claim")
	must(t, os.Mkdir(dest, 0o755))
	must(t, os.WriteFile(filepath.Join(dest, "keep"), nil, 0o644))
	err = FetchInto(dest, func(tmp string) error {
		return ExtractTar(bytes.NewReader(tarOf(t, &tar.Header{Name: "../escape", Typeflag: tar.TypeReg})), tmp)
	})
	if !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("FetchInto: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dest, "keep")); err != nil {
		t.Fatal("destination changed")
	}
}

// entry is one archive entry for archiveFrom: a regular file's content is
// data, a link's target is data too.
type entry struct {
	name string
	typ  byte
	mode int64
	data string
	size int64 // declared size when not len(data): the stream stops there
}

func archiveFrom(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		switch e.typ {
		case tar.TypeReg:
			h.Size = int64(len(e.data))
			if e.size != 0 {
				h.Size = e.size
			}
		case tar.TypeSymlink, tar.TypeLink:
			h.Linkname = e.data
		}
		must(t, tw.WriteHeader(h))
		if e.typ != tar.TypeReg {
			continue
		}
		_, err := tw.Write([]byte(e.data))
		must(t, err)
		if h.Size > int64(len(e.data)) {
			return b.Bytes() // cut short: the header is what is tested
		}
	}
	must(t, tw.Close())
	return b.Bytes()
}

func reg(name string, mode int64, data string) entry { return entry{name, tar.TypeReg, mode, data, 0} }
func dirEnt(name string, mode int64) entry           { return entry{name, tar.TypeDir, mode, "", 0} }
func symlink(name, target string) entry              { return entry{name, tar.TypeSymlink, 0o777, target, 0} }

// errUnsupported stands for "an unsupported entry type" in a table.
var errUnsupported = errors.New("unsupported")

// TestExtractContained: whatever an archive's symlinks and links point at,
// nothing outside the directory changes (no file appears, no mode or
// content changes), and a name through a symlink is refused even when the
// symlink stays inside.
func TestExtractContained(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries func(outside string) []entry
		raw     []byte           // the archive, when not made of entries
		wantErr error            // nil: extracts
		check   func(dir string) // after, inside
	}{
		{name: "file through a symlink to /etc", wantErr: ErrUnsafePath, entries: func(string) []entry {
			return []entry{symlink("etc", "/etc"), reg("etc/shoal-escape", 0o644, "x")}
		}},
		{name: "file through a symlink outside", wantErr: ErrUnsafePath, entries: func(out string) []entry {
			return []entry{symlink("out", out), reg("out/escape", 0o644, "x")}
		}},
		{name: "file through a relative symlink up", wantErr: ErrUnsafePath, entries: func(string) []entry {
			return []entry{symlink("up", ".."), reg("up/escape", 0o644, "x")}
		}},
		{name: "directory through a symlink outside", wantErr: ErrUnsafePath, entries: func(out string) []entry {
			return []entry{symlink("out", out), dirEnt("out/escape/", 0o4777)}
		}},
		{name: "file through a symlink inside", wantErr: ErrUnsafePath, entries: func(string) []entry {
			return []entry{dirEnt("d/", 0o755), symlink("l", "d"), reg("l/f", 0o644, "x")}
		}, check: func(dir string) {
			if _, err := os.Lstat(filepath.Join(dir, "d", "f")); err == nil {
				t.Error("wrote through the symlink inside")
			}
		}},
		{name: "chmod 04777 through a symlink by a directory entry", wantErr: ErrUnsafePath, entries: func(out string) []entry {
			return []entry{symlink("b", filepath.Join(out, "target")), dirEnt("b/", 0o4777)}
		}},
		{name: "chmod 04777 through a symlink to a directory", wantErr: ErrUnsafePath, entries: func(out string) []entry {
			return []entry{symlink("b", out), dirEnt("b", 0o4777)}
		}},
		{name: "chmod 04777 through a symlink by a file entry", wantErr: fs.ErrExist, entries: func(out string) []entry {
			return []entry{symlink("b", filepath.Join(out, "target")), reg("b", 0o4777, "x")}
		}},
		{name: "chmod 04777 through a symlink inside", wantErr: ErrUnsafePath, entries: func(string) []entry {
			return []entry{reg("f", 0o644, "x"), symlink("b", "f"), dirEnt("b/", 0o4777)}
		}, check: func(dir string) {
			if fi, err := os.Lstat(filepath.Join(dir, "f")); err != nil || fi.Mode() != 0o644 {
				t.Errorf("the file the symlink names: %v, %v", fi, err)
			}
		}},
		{name: "symlink of mode 04777 outside, kept as data", entries: func(out string) []entry {
			l := symlink("b", filepath.Join(out, "target"))
			l.mode = 0o4777
			return []entry{dirEnt("./", 0o755), l}
		}, check: func(dir string) {
			if target, err := os.Readlink(filepath.Join(dir, "b")); err != nil || !strings.HasSuffix(target, "target") {
				t.Errorf("the symlink: %q, %v", target, err)
			}
		}},
		{name: "hard link outside", wantErr: ErrUnsafePath, entries: func(out string) []entry {
			return []entry{{"hl", tar.TypeLink, 0o4777, filepath.Join(out, "target"), 0}}
		}},
		{name: "hard link to /etc/passwd", wantErr: ErrUnsafePath, entries: func(string) []entry {
			return []entry{{"hl", tar.TypeLink, 0o644, "/etc/passwd", 0}}
		}},
		{name: "hard link inside", wantErr: ErrUnsafePath, entries: func(string) []entry {
			return []entry{reg("f", 0o644, "x"), {"hl", tar.TypeLink, 0o644, "f", 0}}
		}},
		{name: "absolute name", wantErr: ErrUnsafePath, entries: func(out string) []entry {
			return []entry{reg(filepath.Join(out, "escape"), 0o644, "x")}
		}},
		{name: "dotdot name", wantErr: ErrUnsafePath, entries: func(string) []entry {
			return []entry{reg("a/../../escape", 0o644, "x")}
		}},
		{name: "file without its directory", wantErr: ErrUnsafePath, entries: func(string) []entry {
			return []entry{reg("missing/f", 0o644, "x")}
		}},
		{name: "fifo", wantErr: errUnsupported, entries: func(string) []entry {
			return []entry{{"fifo", tar.TypeFifo, 0o666, "", 0}}
		}},
		{name: "device", wantErr: errUnsupported, entries: func(string) []entry {
			return []entry{{"null", tar.TypeChar, 0o666, "", 0}}
		}},
		{name: "sparse", wantErr: ErrUnsafePath, raw: sparseArchive(t, 1<<30)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outside := t.TempDir()
			target := filepath.Join(outside, "target")
			must(t, os.WriteFile(target, []byte("keep"), 0o644))
			before := describe(t, outside)
			dir := filepath.Join(t.TempDir(), "x")
			must(t, os.Mkdir(dir, 0o700))
			archive := tc.raw
			if tc.entries != nil {
				archive = archiveFrom(t, tc.entries(outside)...)
			}
			err := ExtractTar(bytes.NewReader(archive), dir)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr == errUnsupported && (err == nil || !strings.Contains(err.Error(), "unsupported")):
				t.Fatalf("got %v, want an unsupported entry type", err)
			case tc.wantErr != nil && tc.wantErr != errUnsupported && !errors.Is(err, tc.wantErr):
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if after := describe(t, outside); after != before {
				t.Fatalf("outside changed:\nbefore %s\nafter  %s", before, after)
			}
			if _, err := os.Lstat("/etc/shoal-escape"); err == nil {
				t.Fatal("wrote /etc/shoal-escape")
			}
			if tc.check != nil {
				tc.check(dir)
			}
		})
	}
}

// describe lists a directory's entries with their modes and content.
func describe(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %s %s", p, fi.Mode(), fi.ModTime().Format(time.RFC3339Nano), owner(fi))
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %q", data)
		}
		b.WriteString("; ")
		return nil
	})
	must(t, err)
	return b.String()
}

// TestExtractCaps: an archive over MaxEntries, MaxBytes or the free space
// is refused, the error naming the cap and the entry; one at a cap is not.
func TestExtractCaps(t *testing.T) {
	defer func(b int64, n int) { MaxBytes, MaxEntries = b, n }(MaxBytes, MaxEntries)
	for _, tc := range []struct {
		name       string
		maxBytes   int64
		maxEntries int
		entries    []entry
		want       []string // in the error; none: extracts
	}{
		{name: "entries at the cap", maxBytes: 1 << 40, maxEntries: 3,
			entries: []entry{dirEnt("./", 0o755), reg("a", 0o644, "x"), symlink("b", "a")}},
		{name: "entries over the cap", maxBytes: 1 << 40, maxEntries: 3,
			entries: []entry{dirEnt("./", 0o755), reg("a", 0o644, "x"), symlink("b", "a"), reg("c", 0o644, "")},
			want:    []string{"MaxEntries", `"c"`, "entry 4", "3 entries"}},
		{name: "empty files count", maxBytes: 1 << 40, maxEntries: 2,
			entries: []entry{reg("a", 0o644, ""), reg("b", 0o644, ""), reg("c", 0o644, "")},
			want:    []string{"MaxEntries", `"c"`}},
		{name: "bytes at the cap", maxBytes: 10, maxEntries: 100,
			entries: []entry{reg("a", 0o644, "12345"), reg("b", 0o644, "12345")}},
		{name: "bytes over the cap", maxBytes: 10, maxEntries: 100,
			entries: []entry{reg("a", 0o644, "12345"), reg("b", 0o644, "123456")},
			want:    []string{"MaxBytes", "b:", "6 bytes", "5 left", "cap of 10"}},
		{name: "one file over the cap", maxBytes: 10, maxEntries: 100,
			entries: []entry{{"huge", tar.TypeReg, 0o644, "x", 1 << 20}},
			want:    []string{"MaxBytes", "huge:"}},
		{name: "over the free space", maxBytes: 1 << 62, maxEntries: 100,
			entries: []entry{{"huge", tar.TypeReg, 0o644, "x", 1 << 61}},
			want:    []string{"left on the volume's filesystem", "huge:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			MaxBytes, MaxEntries = tc.maxBytes, tc.maxEntries
			dir := t.TempDir()
			err := ExtractTar(bytes.NewReader(archiveFrom(t, tc.entries...)), dir)
			if len(tc.want) == 0 {
				must(t, err)
				return
			}
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("got %v, want ErrTooLarge", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
		})
	}
}

// TestRoundTrip: a tree with what a database keeps in its volume (nested
// directories, a read-only one, set-id and sticky modes, relative and
// dangling symlinks) comes out of WriteTar and ExtractTar (through
// FetchInto) as it went in: names, modes, times to the nanosecond,
// content, link targets, and owners when run as root.
func TestRoundTrip(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	dirs := map[string]fs.FileMode{
		".": 0o750, "base": 0o700, "base/16384": 0o700, "pg_wal": 0o700,
		"ro": 0o555, "shared": 0o770 | fs.ModeSetgid, "tmp": 0o777 | fs.ModeSticky,
	}
	files := map[string]struct {
		mode fs.FileMode
		data string
	}{
		"PG_VERSION":                      {0o600, "16\n"},
		"base/16384/1259":                 {0o600, strings.Repeat("\x00page", 2048)},
		"pg_wal/000000010000000000000001": {0o640, "wal"},
		"ro/readme":                       {0o444, "read only"},
		"shared/tool":                     {0o755 | fs.ModeSetuid, "#!/bin/sh\n"},
		"empty":                           {0o000, ""},
	}
	links := map[string]string{
		"pg_wal_link": "pg_wal", "base/latest": "16384/1259", "dangling": "nowhere", "up": "../src/PG_VERSION",
	}
	chown := os.Geteuid() == 0
	mtime := func(i int) time.Time { return time.Unix(1700000000+int64(i), int64(i)*1000+7) }
	must(t, os.Mkdir(src, 0o700))
	for _, d := range []string{"base", "base/16384", "pg_wal", "ro", "shared", "tmp"} {
		must(t, os.Mkdir(filepath.Join(src, d), 0o700))
	}
	i := 0
	for name, f := range files {
		p := filepath.Join(src, name)
		must(t, os.WriteFile(p, []byte(f.data), 0o600))
		if chown {
			must(t, os.Chown(p, 1000+i, 2000+i))
		}
		must(t, os.Chmod(p, f.mode))
		must(t, os.Chtimes(p, mtime(i), mtime(i)))
		i++
	}
	for name, target := range links {
		p := filepath.Join(src, name)
		must(t, os.Symlink(target, p))
		if chown {
			must(t, os.Lchown(p, 1000+i, 2000+i))
		}
		ts := unix.NsecToTimespec(mtime(i).UnixNano())
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW))
		i++
	}
	// Directories last, deepest first, so their times stay.
	for _, d := range []string{"base/16384", "base", "pg_wal", "ro", "shared", "tmp", "."} {
		p := filepath.Join(src, d)
		if chown {
			must(t, os.Chown(p, 1000+i, 2000+i))
		}
		must(t, os.Chmod(p, dirs[d]))
		must(t, os.Chtimes(p, mtime(i), mtime(i)))
		i++
	}
	dest := filepath.Join(t.TempDir(), "claim")
	t.Cleanup(func() { // RemoveAll needs to write in ro
		_ = os.Chmod(filepath.Join(src, "ro"), 0o755)
		_ = os.Chmod(filepath.Join(dest, "ro"), 0o755)
	})
	var b bytes.Buffer
	must(t, WriteTar(&b, src))
	must(t, FetchInto(dest, func(tmp string) error { return ExtractTar(&b, tmp) }))

	want, got := treeOf(t, src), treeOf(t, dest)
	if len(want) != len(dirs)+len(files)+len(links) {
		t.Fatalf("the source has %d entries", len(want))
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s:\n got %s\nwant %s", name, got[name], w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: extracted, not in the source", name)
		}
	}
}

// treeOf describes every entry under dir by its relative name: mode,
// modification time, owner, and content or link target.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v %s %s", fi.Mode(), fi.ModTime().UTC().Format(time.RFC3339Nano), owner(fi))
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %d bytes %x", len(data), sha256.Sum256(data))
		}
		tree[rel] = desc
		return nil
	})
	must(t, err)
	return tree
}
