package apiserver

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shoal/agent/apiclient"

	"golang.org/x/sys/unix"
)

func volumeServer(t *testing.T, volumes string) *apiclient.Client {
	t.Helper()
	tc := newTestCluster(t, Config{NodeName: "n0", VolumesDir: volumes})
	return tc.node(t, "n1")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type entry struct {
	mode  fs.FileMode
	data  string // file content or symlink target
	mtime time.Time
}

// tree reads a directory as path → entry.
func tree(t *testing.T, dir string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		must(t, err)
		fi, err := os.Lstat(p)
		must(t, err)
		rel, _ := filepath.Rel(dir, p)
		e := entry{mode: fi.Mode(), mtime: fi.ModTime()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			e.data, err = os.Readlink(p)
		case fi.Mode().IsRegular():
			var b []byte
			b, err = os.ReadFile(p)
			e.data = string(b)
		}
		must(t, err)
		out[rel] = e
		return nil
	}))
	return out
}

func TestVolumeTarRoundTrip(t *testing.T) {
	volumes := t.TempDir()
	src := filepath.Join(volumes, "default", "data-db-0-db-0")
	must(t, os.MkdirAll(filepath.Join(src, "sub", "deeper"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "PG_VERSION"), []byte("16\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(src, "run.sh"), []byte("#!/bin/sh\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "sub", "deeper", "table"), bytes.Repeat([]byte("x"), 100_000), 0o640))
	must(t, os.Symlink("sub/deeper/table", filepath.Join(src, "link")))
	must(t, os.Symlink("/nonexistent/elsewhere", filepath.Join(src, "dangling")))
	must(t, os.Chmod(filepath.Join(src, "sub"), 0o750))
	must(t, os.Chmod(src, 0o777))
	old := time.Date(2020, 1, 2, 3, 4, 5, 123456789, time.UTC)
	for _, p := range []string{"PG_VERSION", "sub/deeper/table", "sub/deeper", "sub", "."} {
		must(t, os.Chtimes(filepath.Join(src, p), old, old))
	}
	ts := unix.NsecToTimespec(old.UnixNano())
	must(t, unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(src, "link"), []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW))

	// The destination holds stale data from an earlier stay: replaced.
	dest := filepath.Join(t.TempDir(), "volumes", "default", "data-db-0-db-0")
	must(t, os.MkdirAll(dest, 0o777))
	must(t, os.WriteFile(filepath.Join(dest, "stale"), []byte("old"), 0o644))

	c := volumeServer(t, volumes)
	must(t, c.FetchVolume(context.Background(), "default", "data-db-0-db-0", dest))
	want, got := tree(t, src), tree(t, dest)
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %v", len(got), len(want), got)
	}
	for p, w := range want {
		g, ok := got[p]
		if !ok || g.mode != w.mode || g.data != w.data {
			t.Errorf("%s: got %v %q, want %v %q", p, g.mode, g.data, w.mode, w.data)
		}
		if w.mode&fs.ModeSymlink == 0 || p == "link" {
			if !g.mtime.Equal(w.mtime) {
				t.Errorf("%s: mtime %v, want %v", p, g.mtime, w.mtime)
			}
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), ".*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}

	// Unknown claims and path tricks are refused.
	if err := c.FetchVolume(context.Background(), "default", "nope", dest); !apiclient.IsNotFound(err) {
		t.Errorf("missing claim: %v", err)
	}
	for _, claim := range []string{"..", ".data-db-0-db-0.fetch-1"} {
		var se *apiclient.StatusError
		if err := c.FetchVolume(context.Background(), "default", claim, dest); !errors.As(err, &se) || se.Code/100 != 4 {
			t.Errorf("claim %q: %v", claim, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dest, "PG_VERSION")); err != nil {
		t.Errorf("a refused fetch touched the destination: %v", err)
	}
}

// TestTruncatedVolumeStreamDiscarded: a stream without the completion
// trailer (the source died mid-copy) is never swapped in.
func TestTruncatedVolumeStreamDiscarded(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	must(t, tw.WriteHeader(&tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}))
	_, err := tw.Write([]byte("x"))
	must(t, err)
	must(t, tw.Close())
	archive := buf.Bytes()
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(archive) }))
	t.Cleanup(hs.Close)
	dest := filepath.Join(t.TempDir(), "claim")
	err = (&apiclient.Client{Addr: strings.TrimPrefix(hs.URL, "https://"), HTTP: hs.Client()}).FetchVolume(context.Background(), "default", "c", dest)
	if err == nil || !strings.Contains(err.Error(), "stream ended early") {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("destination created: %v", err)
	}
}
