package consensus

import (
	"testing"
	"time"

	"shoal/cluster"
)

// TestReadinessStamps: the FSM stores the leader's availability stamps of
// ready pods only, never moves ReadySince, and clears both when the node
// reports the pod not ready.
func TestReadinessStamps(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := newHarness(t)
	h.must(&PutNode{Node: testNode("a", 4000, 1<<30)})
	h.must(&ApplyPlan{Plan: &cluster.Plan{Create: []*cluster.Pod{func() *cluster.Pod { p := testPod("p", 100, 1<<20, 0); p.NodeName = "a"; return p }()}}})
	ref := h.pod("p").Ref()
	report := func(ready bool) {
		h.must(&PodStatus{Node: "a", Updates: []cluster.PodStatusUpdate{{Ref: ref, Status: cluster.PodStatus{Phase: cluster.PodRunning, Ready: ready}}}})
	}
	stamp := func(since time.Time, avail bool) Result {
		return h.must(&ApplyPlan{Plan: &cluster.Plan{Readiness: []cluster.PodReadiness{{Pod: ref, ReadySince: since, Available: avail}}}})
	}
	report(false)
	if r := stamp(t0, false); r.Changed != 0 {
		t.Fatal("a pod not ready was stamped")
	}
	report(true)
	stamp(t0, false)
	if p := h.pod("p"); !p.ReadySince.Equal(t0) || p.Available {
		t.Fatalf("after the first stamp: %v %t", p.ReadySince, p.Available)
	}
	if r := stamp(t0.Add(time.Minute), true); r.Changed != 0 {
		t.Fatal("ReadySince moved")
	}
	stamp(t0, true)
	if p := h.pod("p"); !p.Available {
		t.Fatal("not available")
	}
	report(false)
	if p := h.pod("p"); !p.ReadySince.IsZero() || p.Available {
		t.Fatalf("stamps kept on a pod that is not ready: %v %t", p.ReadySince, p.Available)
	}
}
