package statesim

import (
	"context"
	"testing"
	"time"

	"shoal/internal/testenv"
)

// TestRunSmall runs the whole harness in this process with 20 followers,
// 10 of them full Stores: after the churn every full follower holds the
// leader's state and every light one is at its index, every timed change
// reaches all of them, and after the leader is killed they all see the
// new leader's write, and a write after a serving replica is killed.
// With view, every follower follows its node's view, and the full ones
// must hold exactly the leader's state as a view.
func TestRunSmall(t *testing.T) {
	if testing.Short() && !testenv.CI() {
		t.Skip("starts a Raft cluster on loopback")
	}
	for _, view := range []bool{false, true} {
		t.Run(map[bool]string{false: "whole state", true: "views"}[view], func(t *testing.T) { runSmall(t, view) })
	}
}

func runSmall(t *testing.T, view bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := Run(ctx, Options{
		N: 20, Full: 10, PerProc: 8, Nodes: 20, Pods: 200, ChurnRate: 50, Markers: 2, SnapPods: 2000,
		Settle: 100 * time.Millisecond, Idle: 500 * time.Millisecond, Churn: 2 * time.Second, View: view,
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Check; c.Full != 10 || c.FullSame != 10 || c.Light != 10 || c.LightAtIndex != 10 {
		t.Fatalf("after the churn: %+v, want all 10 full followers with the leader's state and all 10 light ones at its index", c)
	}
	if r.Churn.Commands <= 0 || r.Churn.Entries <= 0 || r.Churn.StreamBytes <= 0 {
		t.Fatalf("the churn wrote nothing to the followers: %+v", r.Churn)
	}
	if r.Change.Reps != 2 || r.Change.Max.P99 < 0 {
		t.Fatalf("changes not seen by every follower: %+v", r.Change)
	}
	if r.Failover.Seen != 20 || r.Elect <= 0 {
		t.Fatalf("after the failover %d of 20 followers saw the new leader's write", r.Failover.Seen)
	}
	if r.Moved == 0 || r.ReplicaLost.Seen != 20 {
		t.Fatalf("after a serving replica was killed %d streams moved and %d of 20 followers saw a write", r.Moved, r.ReplicaLost.Seen)
	}
	if r.Snap.Pods != 2000 || r.Snap.Bytes <= 0 || r.StateBytes <= 0 {
		t.Fatalf("snapshots not measured: %+v, state %d bytes", r.Snap, r.StateBytes)
	}
}
