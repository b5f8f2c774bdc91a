package testenv

import "testing"

// TestFreePortNeverRepeats: the kernel may hand a closed port out again
// at once (over a few hundred picks from the ephemeral range a repeat is
// likely), but an agent given one number for two listeners fails to
// start, so FreePort never returns a port twice.
func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 300 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		seen[p] = true
	}
}
