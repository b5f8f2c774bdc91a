package consensus

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"shoal/cluster"
)

// stsPod is StatefulSet pod db-0 with claim data-db-0, under uid.
func stsPod(uid, node string) *cluster.Pod {
	p := testPod("db-0", 100, 1<<20, 0)
	p.UID = uid
	p.NodeName = node
	p.Ordinal = 0
	p.Owner = &cluster.OwnerRef{Kind: cluster.KindStatefulSet, Name: "db", UID: "wl-db"}
	p.Spec.Volumes = []cluster.Volume{{Name: "data", Claim: &cluster.ClaimSource{ClaimName: "data-db-0"}}}
	return p
}

func claimNode(t *testing.T, st *cluster.State) string {
	t.Helper()
	loc, ok := st.ClaimLocation("default", "data-db-0")
	if !ok {
		t.Fatal("no location for data-db-0")
	}
	return loc.Node
}

// replaceDB0 stops the current db-0 on its node and creates a Pending one
// under uid, as the scheduler does across passes.
func replaceDB0(h *fsmHarness, uid string) cluster.PodRef {
	h.t.Helper()
	old := h.pod("db-0")
	h.must(&TerminatePods{Pods: []cluster.PodRef{old.Ref()}})
	h.must(&PodStatus{Node: old.NodeName, Updates: []cluster.PodStatusUpdate{{Ref: old.Ref(), Status: cluster.PodStatus{Phase: cluster.PodRunning, Stopped: true}}}})
	h.must(&ApplyPlan{Plan: &cluster.Plan{Delete: []cluster.PodRef{old.Ref()}, Create: []*cluster.Pod{stsPod(uid, "")}}})
	if p := h.pod("db-0"); p.UID != uid || p.NodeName != "" {
		h.t.Fatalf("db-0 not replaced: %+v", p)
	}
	return cluster.PodRef{Namespace: "default", Name: "db-0", UID: uid}
}

func TestClaimLocationFollowsThePodsData(t *testing.T) {
	h := newHarness(t)
	h.must(&PutNode{Node: testNode("a", 4000, 1<<30)})
	h.must(&PutNode{Node: testNode("b", 4000, 1<<30)})

	// First placement records where the claim lives.
	h.must(&ApplyPlan{Plan: &cluster.Plan{Create: []*cluster.Pod{stsPod("u1", "a")}}})
	if got := claimNode(t, h.state()); got != "a" {
		t.Fatalf("claim on %q", got)
	}

	// The recreated db-0 inherits it: it may go to a only.
	r2 := replaceDB0(h, "u2")
	place := func(node, from string) Result {
		return h.must(&ApplyPlan{Plan: &cluster.Plan{Place: []cluster.Placement{{Pod: r2, Node: node, VolumeFrom: from}}}})
	}
	for _, tc := range []struct{ node, from, want string }{
		{"b", "", "volume data-db-0 is on node a"},
		{"b", "a", "node a, which holds volume data-db-0, is schedulable"},
		{"a", "b", "cannot copy it from node b"},
	} {
		res := place(tc.node, tc.from)
		if len(res.Plan.Rejected) != 1 || !strings.Contains(res.Plan.Rejected[0].Message, tc.want) {
			t.Fatalf("place on %s from %q: %+v", tc.node, tc.from, res.Plan)
		}
	}
	// Its node NotReady: no copy from it either.
	h.must(&SetNodeSchedulable{Name: "a", Schedulable: false})
	h.must(&SetNodeStatus{Name: "a", Status: cluster.NodeNotReady})
	if res := place("b", "a"); len(res.Plan.Rejected) != 1 || !strings.Contains(res.Plan.Rejected[0].Message, "is NotReady") {
		t.Fatalf("copy from a NotReady node: %+v", res.Plan)
	}

	// Cordoned and Ready: the pod goes to b, copying from a; the claim
	// stays on a until b reports the copy done.
	h.must(&SetNodeStatus{Name: "a", Status: cluster.NodeReady})
	if res := place("b", "a"); res.Plan.Placed != 1 {
		t.Fatalf("move: %+v", res.Plan)
	}
	if p := h.pod("db-0"); p.NodeName != "b" || p.VolumeFrom != "a" || claimNode(t, h.state()) != "a" {
		t.Fatalf("after move: pod on %s from %q, claim on %s", p.NodeName, p.VolumeFrom, claimNode(t, h.state()))
	}
	// Node a cannot speak for the pod; b reporting the copy moves the claim.
	h.must(&PodStatus{Node: "a", Updates: []cluster.PodStatusUpdate{{Ref: r2, Status: cluster.PodStatus{Phase: cluster.PodPending, VolumesFetched: true}}}})
	if claimNode(t, h.state()) != "a" {
		t.Fatal("claim moved on the old node's word")
	}
	h.must(&PodStatus{Node: "b", Updates: []cluster.PodStatusUpdate{{Ref: r2, Status: cluster.PodStatus{Phase: cluster.PodPending, VolumesFetched: true}}}})
	if p := h.pod("db-0"); p.VolumeFrom != "" || claimNode(t, h.state()) != "b" {
		t.Fatalf("after copy: from %q, claim on %s", p.VolumeFrom, claimNode(t, h.state()))
	}

	// The next db-0 must go back to b, even with a schedulable a.
	r3 := replaceDB0(h, "u3")
	h.must(&SetNodeSchedulable{Name: "a", Schedulable: true})
	res := h.must(&ApplyPlan{Plan: &cluster.Plan{Place: []cluster.Placement{{Pod: r3, Node: "a"}}}})
	if len(res.Plan.Rejected) != 1 || !strings.Contains(res.Plan.Rejected[0].Message, "volume data-db-0 is on node b") {
		t.Fatalf("place on a: %+v", res.Plan)
	}

	// A node removed from the cluster takes its data with it: the claim
	// starts afresh where the pod is placed.
	h.must(&DeleteNode{Name: "b"})
	if res := h.must(&ApplyPlan{Plan: &cluster.Plan{Place: []cluster.Placement{{Pod: h.pod("db-0").Ref(), Node: "a"}}}}); res.Plan.Placed != 1 {
		t.Fatalf("place after node removal: %+v", res.Plan)
	}
	if claimNode(t, h.state()) != "a" {
		t.Fatal("claim not re-recorded")
	}
}

func TestClaimLocationsInSnapshot(t *testing.T) {
	h := newHarness(t)
	h.must(&PutNode{Node: testNode("a", 4000, 1<<30)})
	h.must(&ApplyPlan{Plan: &cluster.Plan{Create: []*cluster.Pod{stsPod("u1", "a")}}})
	orig := h.state()
	sink := &memSink{}
	if err := (&fsmSnapshot{state: orig}).Persist(sink); err != nil {
		t.Fatal(err)
	}
	got, err := readSnapshot(bytes.NewReader(sink.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	statesEqual(t, orig, got)
	if !reflect.DeepEqual(orig.ClaimLocations(), got.ClaimLocations()) || len(got.ClaimLocations()) != 1 {
		t.Fatalf("claims %+v vs %+v", orig.ClaimLocations(), got.ClaimLocations())
	}
}
