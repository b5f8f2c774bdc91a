package consensus

import (
	"errors"
	"strings"
	"testing"

	"shoal/cluster"
)

func pvc(name, mode string) *cluster.Object {
	return &cluster.Object{Kind: cluster.KindPersistentVolumeClaim, Namespace: "default", Name: name, UID: "uid-pvc-" + name,
		Claim: &cluster.VolumeClaim{AccessModes: []string{mode}, Storage: 1 << 30}}
}

// pvcPod is a bare pod that mounts claim.
func pvcPod(name, claim, node string) *cluster.Pod {
	p := testPod(name, 100, 1<<20, 0)
	p.NodeName = node
	p.Spec.Volumes = []cluster.Volume{{Name: "d", Claim: &cluster.ClaimSource{ClaimName: claim, Standalone: true}}}
	return p
}

func TestClaimPlacementRules(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *fsmHarness)
		pod   *cluster.Pod
		want  string // rejection, "" when placed
	}{
		{"no claim", func(*fsmHarness) {}, pvcPod("p", "data", "a"), `persistentvolumeclaim "data" not found`},
		{"first placement binds", func(h *fsmHarness) { h.must(&PutObjects{Objects: []*cluster.Object{pvc("data", "ReadWriteOnce")}}) },
			pvcPod("p", "data", "a"), ""},
		{"ReadWriteOnce: same node shares", func(h *fsmHarness) {
			h.must(&PutObjects{Objects: []*cluster.Object{pvc("data", "ReadWriteOnce")}})
			h.must(&ApplyPlan{Plan: &cluster.Plan{Create: []*cluster.Pod{pvcPod("q", "data", "a")}}})
		}, pvcPod("p", "data", "a"), ""},
		{"ReadWriteOnce: other node refused", func(h *fsmHarness) {
			h.must(&PutObjects{Objects: []*cluster.Object{pvc("data", "ReadWriteOnce")}})
			h.must(&ApplyPlan{Plan: &cluster.Plan{Create: []*cluster.Pod{pvcPod("q", "data", "a")}}})
		}, pvcPod("p", "data", "b"), "volume data is on node a"},
		{"ReadWriteOncePod: second refused", func(h *fsmHarness) {
			h.must(&PutObjects{Objects: []*cluster.Object{pvc("data", "ReadWriteOncePod")}})
			h.must(&ApplyPlan{Plan: &cluster.Plan{Create: []*cluster.Pod{pvcPod("q", "data", "a")}}})
		}, pvcPod("p", "data", "a"), `persistentvolumeclaim "data" is ReadWriteOncePod and used by pod q`},
		{"terminating", func(h *fsmHarness) {
			h.must(&PutObjects{Objects: []*cluster.Object{pvc("data", "ReadWriteOnce")}})
			h.must(&ApplyPlan{Plan: &cluster.Plan{Create: []*cluster.Pod{pvcPod("q", "data", "a")}}})
			h.must(&DeleteObject{Kind: cluster.KindPersistentVolumeClaim, Namespace: "default", Name: "data"})
		}, pvcPod("p", "data", "a"), `persistentvolumeclaim "data" is being deleted`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.must(&PutNode{Node: testNode("a", 4000, 1<<30)})
			h.must(&PutNode{Node: testNode("b", 4000, 1<<30)})
			tt.setup(h)
			r := h.must(&ApplyPlan{Plan: &cluster.Plan{Create: []*cluster.Pod{tt.pod}}})
			got := ""
			if len(r.Plan.Rejected) > 0 {
				got = strings.TrimPrefix(r.Plan.Rejected[0].Message, "placement rejected: ")
			}
			if got != tt.want {
				t.Fatalf("rejection: got %q, want %q", got, tt.want)
			}
			if tt.want == "" {
				loc, ok := h.state().ClaimLocation("default", "data")
				if !ok || loc.Node != tt.pod.NodeName {
					t.Errorf("claim location %+v, want node %s", loc, tt.pod.NodeName)
				}
			}
		})
	}
}

// TestClaimDeletion: a claim in use is only marked; it goes with the
// plan's DeleteClaims once unused, leaving a tombstone that its node
// forgets after deleting the data.
func TestClaimDeletion(t *testing.T) {
	h := newHarness(t)
	h.must(&PutNode{Node: testNode("a", 4000, 1<<30)})
	h.must(&PutObjects{Objects: []*cluster.Object{pvc("data", "ReadWriteOnce")}})
	h.must(&ApplyPlan{Plan: &cluster.Plan{Create: []*cluster.Pod{pvcPod("p", "data", "a")}}})
	del := &DeleteObject{Kind: cluster.KindPersistentVolumeClaim, Namespace: "default", Name: "data"}
	h.must(del)
	o, ok := h.state().Object(cluster.KindPersistentVolumeClaim, "default", "data")
	if !ok || !o.Claim.Terminating {
		t.Fatalf("claim in use: %+v", o)
	}
	// Re-applying keeps it terminating; changing its modes is refused.
	h.must(&PutObjects{Objects: []*cluster.Object{pvc("data", "ReadWriteOnce")}})
	if o, _ := h.state().Object(cluster.KindPersistentVolumeClaim, "default", "data"); !o.Claim.Terminating {
		t.Fatal("re-apply cancelled the deletion")
	}
	if r := h.apply(&PutObjects{Objects: []*cluster.Object{pvc("data", "ReadWriteOncePod")}})[0]; !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("mode change: %v", r.Err)
	}
	ref := cluster.ClaimRef{Namespace: "default", Name: "data", UID: "uid-pvc-data"}
	// Still used: the plan's delete is skipped.
	if r := h.must(&ApplyPlan{Plan: &cluster.Plan{DeleteClaims: []cluster.ClaimRef{ref}}}); r.Skipped != 1 {
		t.Fatalf("delete of a used claim: %+v", r)
	}
	p := h.pod("p")
	h.must(&TerminatePods{Pods: []cluster.PodRef{p.Ref()}})
	h.must(&PodStatus{Node: "a", Updates: []cluster.PodStatusUpdate{{Ref: p.Ref(), Status: cluster.PodStatus{Phase: cluster.PodRunning, Stopped: true}}}})
	h.must(&ApplyPlan{Plan: &cluster.Plan{DeleteClaims: []cluster.ClaimRef{ref}}})
	if _, ok := h.state().Object(cluster.KindPersistentVolumeClaim, "default", "data"); ok {
		t.Fatal("claim kept")
	}
	loc, ok := h.state().ClaimLocation("default", "data")
	if !ok || !loc.Released || loc.Node != "a" {
		t.Fatalf("tombstone %+v", loc)
	}

	// A new claim of that name waits for the tombstone to go.
	h.must(&PutObjects{Objects: []*cluster.Object{pvc("data", "ReadWriteOnce")}})
	r := h.must(&ApplyPlan{Plan: &cluster.Plan{Create: []*cluster.Pod{pvcPod("p2", "data", "a")}}})
	if len(r.Plan.Rejected) != 1 || !strings.Contains(r.Plan.Rejected[0].Message, "waiting for node a to delete the data") {
		t.Fatalf("placement over a tombstone: %+v", r.Plan)
	}

	forget := func(node string, idx uint64) Result {
		return h.must(&ForgetClaims{Node: node, Claims: []ForgottenClaim{{Namespace: "default", Claim: "data", ModifyIndex: idx}}})
	}
	if r := forget("b", loc.ModifyIndex); r.Changed != 0 {
		t.Fatal("another node forgot the tombstone")
	}
	if r := forget("a", loc.ModifyIndex-1); r.Changed != 0 {
		t.Fatal("an older tombstone was forgotten")
	}
	if r := forget("a", loc.ModifyIndex); r.Changed != 1 {
		t.Fatal("tombstone kept")
	}
	if _, ok := h.state().ClaimLocation("default", "data"); ok {
		t.Fatal("tombstone still there")
	}
}

func TestClaimDeleteUnused(t *testing.T) {
	h := newHarness(t)
	h.must(&PutObjects{Objects: []*cluster.Object{pvc("data", "ReadWriteOnce")}})
	h.must(&DeleteObject{Kind: cluster.KindPersistentVolumeClaim, Namespace: "default", Name: "data"})
	if _, ok := h.state().Object(cluster.KindPersistentVolumeClaim, "default", "data"); ok {
		t.Fatal("unused claim kept")
	}
	if _, ok := h.state().ClaimLocation("default", "data"); ok {
		t.Fatal("a never-bound claim left a tombstone")
	}
}

func TestClaimNameOfAStatefulSetClaim(t *testing.T) {
	h := newHarness(t)
	h.must(&PutNode{Node: testNode("a", 4000, 1<<30)})
	h.must(&ApplyPlan{Plan: &cluster.Plan{Create: []*cluster.Pod{stsPod("u1", "a")}}})
	r := h.apply(&PutObjects{Objects: []*cluster.Object{pvc("data-db-0", "ReadWriteOnce")}})[0]
	if r.Err == nil || !strings.Contains(r.Err.Error(), "the name is a StatefulSet pod's claim") {
		t.Fatalf("got %v", r.Err)
	}
}
