package gossipsim

import (
	"context"
	"strings"
	"testing"
	"time"

	"shoal/gossip"
	"shoal/internal/testenv"
)

// TestRunSmall runs the whole harness on five real members with the fast
// test timings, over loopback sockets and over the in-process network:
// every phase must complete and every member see each change. The
// members run 2× dilated: the test timings (a 60 ms probe timeout) are
// tighter than a CI machine running this beside other packages under
// -race keeps to (a meta update once waited 5 s there for its broadcast
// to leave).
func TestRunSmall(t *testing.T) {
	if testing.Short() && !testenv.CI() {
		t.Skip("starts real gossip members on loopback")
	}
	for _, network := range []string{NetUDP, NetMem} {
		t.Run(network, func(t *testing.T) { runSmall(t, network) })
	}
}

func runSmall(t *testing.T, network string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Run(ctx, Options{N: 5, Profile: gossip.ProfileTest, Network: network, Dilation: 2, Settle: 200 * time.Millisecond,
		Idle: 500 * time.Millisecond, PhaseTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Network != network {
		t.Fatalf("ran on %q, want %q", r.Network, network)
	}
	if r.Detect.Seen != 4 || r.Detect.Of != 4 || r.Detect.Max <= 0 {
		t.Fatalf("crash seen by %d of %d (max %v), want all 4 survivors", r.Detect.Seen, r.Detect.Of, r.Detect.Max)
	}
	if r.Meta.Seen != 3 || r.Meta.Of != 3 || r.Meta.Max <= 0 {
		t.Fatalf("meta change seen by %d of %d, want the 3 others alive", r.Meta.Seen, r.Meta.Of)
	}
	if r.Form <= 0 || r.PacketsPerMember <= 0 || r.BytesPerMember <= 0 || r.MetaBytes == 0 {
		t.Fatalf("missing measurements: %+v", r)
	}
	t.Logf("N=5 over %s: form %v, dead p50 %v max %v, meta max %v, %.1f pkt/s a member", network, r.Form, r.Detect.P50, r.Detect.Max, r.Meta.Max, r.PacketsPerMember)
}

// TestRunDilated: a dilated run reports in the members' time. No member
// can be declared dead before its suspicion timeout (400 ms for five
// members on the test timings: gossip.TestLANTimingsByClusterSize), so a
// detection faster than that means the results were divided by a
// dilation the members did not run at.
func TestRunDilated(t *testing.T) {
	if testing.Short() && !testenv.CI() {
		t.Skip("starts real gossip members")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Run(ctx, Options{N: 5, Profile: gossip.ProfileTest, Network: NetMem, Dilation: 3,
		Settle: 100 * time.Millisecond, Idle: 200 * time.Millisecond, PhaseTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Dilation != 3 || r.Detect.Seen != 4 || r.Meta.Seen != 3 {
		t.Fatalf("dilation %v, crash seen by %d/4, meta by %d/3", r.Dilation, r.Detect.Seen, r.Meta.Seen)
	}
	if r.Detect.P50 < 400*time.Millisecond {
		t.Fatalf("crash seen dead after %v of the members' time, before the 400 ms suspicion timeout", r.Detect.P50)
	}
	t.Logf("N=5 dilated 3×: form %v, dead p50 %v max %v, meta max %v", r.Form, r.Detect.P50, r.Detect.Max, r.Meta.Max)
}

func TestDilationRefusedBelowOne(t *testing.T) {
	_, err := Run(context.Background(), Options{N: 5, Dilation: 0.5})
	if err == nil || !strings.Contains(err.Error(), "dilation 0.5") {
		t.Fatalf("dilation 0.5: %v, want an error naming it", err)
	}
}
