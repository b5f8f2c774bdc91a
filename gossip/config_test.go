package gossip

import (
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// TestLANTimingsByClusterSize pins what the agents' profile promises at
// each size: small clusters detect as fast as before, 5,000 members within
// a bound, and no profile compresses (see memberlistConfig).
func TestLANTimingsByClusterSize(t *testing.T) {
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		profile string
		n       int
		lo, hi  time.Duration // suspicion with and without confirmations
	}{
		{ProfileLAN, 3, 4 * time.Second, 24 * time.Second},
		{ProfileLAN, 5, 4 * time.Second, 24 * time.Second},
		{ProfileLAN, 10, 4 * time.Second, 24 * time.Second},
		{ProfileLAN, 100, 8 * time.Second, 48 * time.Second},
		{ProfileLAN, 1000, 12 * time.Second, 72 * time.Second},
		{ProfileLAN, 5000, 14796 * time.Millisecond, 88775 * time.Millisecond},
		{ProfileTest, 5, 400 * time.Millisecond, 800 * time.Millisecond},
	} {
		c := Config{NodeName: "a", Keys: [][]byte{key}, Profile: tc.profile}
		mc, err := c.memberlistConfig(slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := suspicionBounds(mc, tc.n)
		if lo.Round(time.Millisecond) != tc.lo || hi.Round(time.Millisecond) != tc.hi {
			t.Errorf("%s n=%d: suspicion %v..%v, want %v..%v", tc.profile, tc.n, lo, hi, tc.lo, tc.hi)
		}
		if mc.EnableCompression {
			t.Errorf("%s: compression on; it costs more CPU than the bytes it saves", tc.profile)
		}
	}
}

// suspicionBounds is how long memberlist keeps a member of a cluster of n
// suspect before declaring it dead (its suspicionTimeout and Lifeguard's
// maximum): lo once enough other members confirm the suspicion, hi when
// none does. Detection is a failed probe plus this plus the dead message's
// spread, which is why it grows with log10(n).
func suspicionBounds(mc *memberlist.Config, n int) (lo, hi time.Duration) {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	lo = time.Duration(float64(mc.SuspicionMult) * scale * float64(mc.ProbeInterval))
	return lo, lo * time.Duration(mc.SuspicionMaxTimeoutMult)
}
