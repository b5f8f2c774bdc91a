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

// TestTimeScale: a time scale stretches every timing, overrides included,
// and leaves counts alone, so suspicion (a count of probe intervals) and
// every timeout keep their ratios to the probe interval.
func TestTimeScale(t *testing.T) {
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	timings := func(mc *memberlist.Config) []time.Duration {
		return []time.Duration{mc.ProbeInterval, mc.ProbeTimeout, mc.GossipInterval, mc.PushPullInterval,
			mc.TCPTimeout, mc.GossipToTheDeadTime, mc.QueueCheckInterval}
	}
	for _, tc := range []struct {
		name  string
		c     Config
		scale float64
	}{
		{"lan", Config{Profile: ProfileLAN}, 4},
		{"test", Config{Profile: ProfileTest}, 2.5},
		{"override", Config{Profile: ProfileLAN, ProbeInterval: 3 * time.Second}, 3},
		{"one", Config{Profile: ProfileLAN}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.NodeName, c.Keys = "a", [][]byte{key}
			base, err := c.memberlistConfig(slog.Default())
			if err != nil {
				t.Fatal(err)
			}
			c.TimeScale = tc.scale
			scaled, err := c.memberlistConfig(slog.Default())
			if err != nil {
				t.Fatal(err)
			}
			b, s := timings(base), timings(scaled)
			for i := range b {
				if want := time.Duration(float64(b[i]) * tc.scale); s[i] != want {
					t.Errorf("timing %d: %v scaled by %v is %v, want %v", i, b[i], tc.scale, s[i], want)
				}
			}
			if scaled.SuspicionMult != base.SuspicionMult || scaled.RetransmitMult != base.RetransmitMult || scaled.IndirectChecks != base.IndirectChecks {
				t.Error("a count changed with the time scale")
			}
			blo, bhi := suspicionBounds(base, 1000)
			slo, shi := suspicionBounds(scaled, 1000)
			if want := time.Duration(float64(blo) * tc.scale); slo != want || shi != time.Duration(float64(bhi)*tc.scale) {
				t.Errorf("suspicion %v..%v, want %v..%v scaled by %v", slo, shi, blo, bhi, tc.scale)
			}
		})
	}
}
