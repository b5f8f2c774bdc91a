package agentsim

import (
	"context"
	"testing"
	"time"

	"shoal/internal/testenv"
)

// TestRunSmall runs the whole harness with 9 agents, so that Raft holds
// 5 voters and 2 replicas and 2 agents are clients of the stream: every
// timed change reaches every agent, the 27 pods run in the agents'
// runtimes and a client's DNS names them all, a lost client's pods run
// elsewhere, and a write after the leader's loss reaches every agent
// left.
func TestRunSmall(t *testing.T) {
	if testing.Short() && !testenv.CI() {
		t.Skip("runs 9 agents on loopback")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := Run(ctx, Options{
		N: 9, Markers: 2, Settle: 100 * time.Millisecond, Idle: time.Second,
		GossipProfile: "test", NodeDownAfter: 2 * time.Second, DeadGrace: 2 * time.Second,
		Dir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Voters != 5 || r.Replicas != 2 || r.Clients != 2 {
		t.Fatalf("Raft roles %d/%d/%d, want 5 voters, 2 replicas, 2 clients", r.Voters, r.Replicas, r.Clients)
	}
	if r.Change.Seen != 9 || r.Change.Of != 9 || r.Change.Max < 0 {
		t.Fatalf("a change reached %d of %d agents: %+v", r.Change.Seen, r.Change.Of, r.Change)
	}
	if r.Pods != 27 || r.DNSAnswers != 27 {
		t.Fatalf("%d pods, a client's DNS named %d of them", r.Pods, r.DNSAnswers)
	}
	if r.Moved == 0 || r.PodsBack < r.NotReady || r.NotReady <= 0 {
		t.Fatalf("a lost client's %d pods: NotReady after %v, back after %v", r.Moved, r.NotReady, r.PodsBack)
	}
	if r.Write <= 0 || r.Seen.Seen != 7 || r.Seen.Of != 7 {
		t.Fatalf("after the leader's loss a write took %v and reached %d of %d agents left", r.Write, r.Seen.Seen, r.Seen.Of)
	}
	if r.Process <= 0 || r.HeapMiB <= 0 {
		t.Fatalf("idle figures not measured: %+v", r)
	}
}
