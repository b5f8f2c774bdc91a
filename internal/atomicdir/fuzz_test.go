package atomicdir

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCheck: a path the writer accepts stays inside its directory and
// never names the writer's own entries.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../x", "..data", "/etc", "a/../b", "./a", "a//b", "...", "a/..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if check([]File{{Path: p}}) != nil {
			return
		}
		const dir = "/vol"
		full := filepath.Join(dir, p)
		if !strings.HasPrefix(full, dir+"/") || strings.HasPrefix(p, "..") {
			t.Errorf("accepted %q, which is %s", p, full)
		}
	})
}
