package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDiskUsage(t *testing.T) {
	dir := t.TempDir()
	if n, err := diskUsage(filepath.Join(dir, "missing")); n != 0 || err != nil {
		t.Fatalf("missing path: %d, %v; want 0, nil", n, err)
	}
	empty, err := diskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i) // not zeros: no filesystem may skip them
	}
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "a", "b", "f")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// A hard link is the same blocks, counted once; a symlink is its own
	// few bytes, not its target's.
	if err := os.Link(f, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr", filepath.Join(dir, "sym")); err != nil {
		t.Fatal(err)
	}
	n, err := diskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n < empty+1<<20 || n > empty+1<<20+64<<10 {
		t.Errorf("usage %d, want about 1MiB more than the empty dir's %d", n, empty)
	}
	one, err := diskUsage(f)
	if err != nil || one < 1<<20 || one > 1<<20+64<<10 {
		t.Errorf("usage of one file: %d, %v; want about 1MiB", one, err)
	}
}
