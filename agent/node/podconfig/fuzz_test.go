package podconfig

import (
	"strings"
	"testing"
)

// FuzzExpand: $(VAR) expansion of env values, command and args (from
// manifests) never panics, and with every name unknown it changes nothing
// but $$ (an escaped $).
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"", "$(A)", "$$(A)", "$(A", "a$", "$()", "x$(A)y$$z$(", "é$(é)"} {
		f.Add(s)
	}
	unknown := mapping()
	f.Fuzz(func(t *testing.T, s string) {
		got := Expand(s, unknown)
		if !strings.Contains(s, "$$") && got != s {
			t.Errorf("Expand(%q) with no names known = %q", s, got)
		}
		known := Expand(s, func(string) string { return "" })
		if len(known) > len(s) {
			t.Errorf("Expand(%q) with empty values grew to %q", s, known)
		}
	})
}
