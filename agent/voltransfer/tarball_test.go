package voltransfer

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
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
