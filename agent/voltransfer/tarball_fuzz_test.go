package voltransfer

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// FuzzExtractTar: a volume stream comes from another machine, so no
// archive may panic ExtractTar or change anything outside the directory it
// fills: after each run the parent holds only that directory and a file
// beside it, both as they were.
func FuzzExtractTar(f *testing.F) {
	for _, seed := range tarSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, archive []byte) {
		root := t.TempDir()
		dest := filepath.Join(root, "dest")
		beside := filepath.Join(root, "beside")
		if err := os.Mkdir(dest, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(beside, []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
		before := snapshotOutside(t, root)
		_ = ExtractTar(bytes.NewReader(archive), dest)
		if after := snapshotOutside(t, root); after != before {
			t.Fatalf("extraction changed what is outside its directory:\nbefore %s\nafter  %s", before, after)
		}
		if fi, err := os.Lstat(dest); err != nil || !fi.IsDir() {
			t.Fatalf("the directory itself: %v, %v", fi, err)
		}
		// RemoveAll needs to read and write every directory, whatever
		// mode the archive gave it (as root it may anyway).
		_ = filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o700)
			}
			return nil
		})
	})
}

// snapshotOutside describes root, its entries and the file beside the
// extraction directory: names, modes, times, owners and content.
func snapshotOutside(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	names, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{root, filepath.Join(root, "beside")} {
		fi, err := os.Lstat(p)
		if err != nil {
			b.WriteString(err.Error())
			continue
		}
		b.WriteString(fi.Mode().String() + " " + fi.ModTime().Format(time.RFC3339Nano) + " " + owner(fi) + "; ")
	}
	content, err := os.ReadFile(filepath.Join(root, "beside"))
	b.WriteString(string(content) + " " + errString(err) + "; ")
	for _, n := range names {
		b.WriteString(n.Name() + " ")
	}
	return b.String()
}

func owner(fi fs.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return strconv.Itoa(int(st.Uid)) + ":" + strconv.Itoa(int(st.Gid))
	}
	return "?"
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// tarSeeds are real archives: one WriteTar made of a directory with every
// kind of entry it writes, and hand-made ones with the tricks a hostile
// stream would try.
func tarSeeds(f *testing.F) [][]byte {
	dir := f.TempDir()
	for _, d := range []string{"sub/deeper", "ro"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	for p, data := range map[string]string{"PG_VERSION": "16\n", "sub/file": "data", "sub/deeper/empty": ""} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(data), 0o640); err != nil {
			f.Fatal(err)
		}
	}
	for link, target := range map[string]string{"rel": "sub/file", "abs": "/etc/passwd", "up": ".."} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "sub/file"), 0o4755); err != nil {
		f.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "ro"), 0o555); err != nil {
		f.Fatal(err)
	}
	var written bytes.Buffer
	if err := WriteTar(&written, dir); err != nil {
		f.Fatal(err)
	}

	reg := func(name string, data string) *tar.Header {
		return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), Linkname: data}
	}
	dirh := func(name string, mode int64) *tar.Header {
		return &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode}
	}
	link := func(name, target string, typ byte) *tar.Header {
		return &tar.Header{Name: name, Typeflag: typ, Linkname: target, Mode: 0o777}
	}
	seeds := [][]byte{written.Bytes()}
	for _, hdrs := range [][]*tar.Header{
		{reg("../escape", "x")},
		{reg("a/../../escape", "x")},
		{reg("/abs", "x")},
		{reg("./ok/../../escape", "x")},
		{link("out", "..", tar.TypeSymlink), reg("out/escape", "x")},
		{link("out", "..", tar.TypeSymlink), dirh("out", 0o777)},
		{link("b", "../beside", tar.TypeSymlink), dirh("b/", 0o4777)},
		{link("b", "../beside", tar.TypeSymlink), reg("b", "x")},
		{link("hl", "/etc/passwd", tar.TypeLink)},
		{reg("f", "x"), link("hl", "f", tar.TypeLink)},
		{reg("a", "x"), reg("a", "y")},
		{dirh("d", 0o755), reg("d", "x")},
		{reg("d", "x"), dirh("d", 0o755)},
		{dirh(".", 0o000), dirh("./", 0o777)},
		{dirh("locked", 0o000), reg("locked/f", "x")},
		{{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 40}},
		{{Name: "fifo", Typeflag: tar.TypeFifo, Mode: 0o644}},
		{{Name: "dev", Typeflag: tar.TypeChar, Mode: 0o644, Devmajor: 1, Devminor: 3}},
		{{Name: strings.Repeat("n/", 60) + "long", Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatPAX,
			ModTime: time.Unix(0, 123456789)}},
	} {
		seeds = append(seeds, archiveOf(f, hdrs))
	}
	return append(seeds, sparseArchive(f, 1<<30))
}

// sparseArchive is a GNU sparse file (PAX format 1.0) of size bytes that
// holds one byte of data. archive/tar cannot write one, so it is written
// block by block.
func sparseArchive(f testing.TB, size int64) []byte {
	record := func(k, v string) string {
		for n := len(k) + len(v) + 3; ; n++ { // the length counts itself
			if r := strconv.Itoa(n) + " " + k + "=" + v + "\n"; len(r) == n {
				return r
			}
		}
	}
	padded := func(s string) string { return s + strings.Repeat("\x00", (512-len(s)%512)%512) }
	header := func(name string, typ byte, size int) string {
		var b bytes.Buffer
		if err := tar.NewWriter(&b).WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: int64(size), Mode: 0o644, Format: tar.FormatUSTAR}); err != nil {
			f.Fatal(err)
		}
		blk := b.Bytes()[:512]
		blk[156] = typ
		copy(blk[148:156], "        ") // the checksum counts its own field as spaces
		sum := 0
		for _, c := range blk {
			sum += int(c)
		}
		copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
		return string(blk)
	}
	pax := record("GNU.sparse.major", "1") + record("GNU.sparse.minor", "0") +
		record("GNU.sparse.name", "sparse") + record("GNU.sparse.realsize", strconv.FormatInt(size, 10))
	data := padded("1\n0\n1\n") + "x" // the map: one region, at 0, of 1 byte
	return []byte(header("pax", tar.TypeXHeader, len(pax)) + padded(pax) +
		header("sparse", tar.TypeReg, len(data)) + padded(data) + strings.Repeat("\x00", 1024))
}

// archiveOf writes headers; a regular file's content is its Linkname
// (cleared before writing), and one declaring more than it holds is cut
// short, as a stream that breaks off would be.
func archiveOf(f *testing.F, hdrs []*tar.Header) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		data := ""
		if h.Typeflag == tar.TypeReg {
			data, h.Linkname = h.Linkname, ""
		}
		if err := tw.WriteHeader(h); err != nil {
			f.Fatalf("%s: %v", h.Name, err)
		}
		if _, err := tw.Write([]byte(data)); err != nil {
			f.Fatalf("%s: %v", h.Name, err)
		}
		if h.Size > int64(len(data)) {
			return b.Bytes()
		}
	}
	if err := tw.Close(); err != nil {
		f.Fatal(err)
	}
	return b.Bytes()
}
