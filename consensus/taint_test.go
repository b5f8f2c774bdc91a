package consensus

import (
	"errors"
	"slices"
	"testing"

	"shoal/cluster"
)

func TestTaintNode(t *testing.T) {
	h := newHarness(t)
	h.must(&PutNode{Node: testNode("n1", 4000, 1<<30)})
	gpu := cluster.Taint{Key: "gpu", Value: "true", Effect: cluster.TaintNoSchedule}
	steps := []struct {
		name    string
		cmd     *TaintNode
		want    []cluster.Taint
		wantErr error
	}{
		{"add", &TaintNode{Name: "n1", Add: []cluster.Taint{gpu}}, []cluster.Taint{gpu}, nil},
		{"same key, other effect is another taint", &TaintNode{Name: "n1", Add: []cluster.Taint{{Key: "gpu", Effect: cluster.TaintNoExecute}}},
			[]cluster.Taint{gpu, {Key: "gpu", Effect: cluster.TaintNoExecute}}, nil},
		{"same key and effect replaces the value", &TaintNode{Name: "n1", Add: []cluster.Taint{{Key: "gpu", Value: "false", Effect: cluster.TaintNoSchedule}}},
			[]cluster.Taint{{Key: "gpu", Effect: cluster.TaintNoExecute}, {Key: "gpu", Value: "false", Effect: cluster.TaintNoSchedule}}, nil},
		{"remove by key and effect", &TaintNode{Name: "n1", Remove: []cluster.Taint{{Key: "gpu", Effect: cluster.TaintNoExecute}}},
			[]cluster.Taint{{Key: "gpu", Value: "false", Effect: cluster.TaintNoSchedule}}, nil},
		{"remove missing is refused", &TaintNode{Name: "n1", Remove: []cluster.Taint{{Key: "other"}}},
			[]cluster.Taint{{Key: "gpu", Value: "false", Effect: cluster.TaintNoSchedule}}, ErrInvalid},
		{"bad effect is refused", &TaintNode{Name: "n1", Add: []cluster.Taint{{Key: "x", Effect: "Never"}}},
			[]cluster.Taint{{Key: "gpu", Value: "false", Effect: cluster.TaintNoSchedule}}, ErrInvalid},
		{"remove by key", &TaintNode{Name: "n1", Remove: []cluster.Taint{{Key: "gpu"}}}, nil, nil},
		{"unknown node", &TaintNode{Name: "n9", Add: []cluster.Taint{gpu}}, nil, ErrNotFound},
	}
	for _, s := range steps {
		r := h.apply(s.cmd)[0]
		if !errors.Is(r.Err, s.wantErr) {
			t.Fatalf("%s: err %v, want %v", s.name, r.Err, s.wantErr)
		}
		n, _ := h.state().Node("n1")
		if !slices.Equal(n.Taints, s.want) {
			t.Fatalf("%s: taints %v, want %v", s.name, n.Taints, s.want)
		}
	}
	// Re-registration keeps the user's taints.
	h.must(&TaintNode{Name: "n1", Add: []cluster.Taint{gpu}})
	h.must(&PutNode{Node: testNode("n1", 8000, 1<<30)})
	if n, _ := h.state().Node("n1"); !slices.Equal(n.Taints, []cluster.Taint{gpu}) {
		t.Fatalf("after re-registration: %v", n.Taints)
	}
}

// The FSM enforces the node-level hard rules at ApplyPlan: a plan made
// before a taint or label change cannot land a pod where it may not go.
func TestApplyPlanRechecksNodeRules(t *testing.T) {
	h := newHarness(t)
	tainted := testNode("tainted", 4000, 1<<30)
	tainted.Taints = []cluster.Taint{{Key: "gpu", Value: "true", Effect: cluster.TaintNoSchedule}}
	evicting := testNode("evicting", 4000, 1<<30)
	evicting.Taints = []cluster.Taint{{Key: "maint", Effect: cluster.TaintNoExecute}}
	soft := testNode("soft", 4000, 1<<30)
	soft.Taints = []cluster.Taint{{Key: "spot", Effect: cluster.TaintPreferNoSchedule}}
	for _, n := range []*cluster.Node{tainted, evicting, soft} {
		h.must(&PutNode{Node: n})
	}
	tolerant := testPod("tolerant", 100, 0, 0)
	tolerant.Spec.Tolerations = []cluster.Toleration{{Operator: cluster.TolerationExists}}
	selective := testPod("selective", 100, 0, 0)
	selective.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	affine := testPod("affine", 100, 0, 0)
	affine.Spec.Affinity = &cluster.Affinity{NodeAffinity: &cluster.NodeAffinity{Required: []cluster.NodeSelectorTerm{{
		MatchFields: []cluster.NodeSelectorRequirement{{Key: cluster.FieldNodeName, Operator: cluster.OpIn, Values: []string{"tainted"}}},
	}}}}
	pods := []*cluster.Pod{testPod("p1", 100, 0, 0), testPod("p2", 100, 0, 0), testPod("p3", 100, 0, 0), tolerant, selective, affine}
	h.must(&PutPods{Pods: pods})
	ref := func(name string) cluster.PodRef {
		return cluster.PodRef{Namespace: "default", Name: name, UID: "uid-" + name}
	}
	r := h.must(&ApplyPlan{Plan: &cluster.Plan{Place: []cluster.Placement{
		{Pod: ref("p1"), Node: "tainted"},
		{Pod: ref("p2"), Node: "evicting"},
		{Pod: ref("p3"), Node: "soft"},
		{Pod: ref("tolerant"), Node: "tainted"},
		{Pod: ref("selective"), Node: "soft"},
		{Pod: ref("affine"), Node: "soft"},
	}}})
	want := map[string]string{
		"p1":        "placement rejected: node tainted had untolerated taint {gpu: true}",
		"p2":        "placement rejected: node evicting had untolerated taint {maint: }",
		"selective": "placement rejected: node soft does not match node selector disk=ssd",
		"affine":    "placement rejected: node soft does not match the pod's required node affinity",
	}
	if r.Plan.Placed != 2 || len(r.Plan.Rejected) != 4 {
		t.Fatalf("placed %d, rejected %+v", r.Plan.Placed, r.Plan.Rejected)
	}
	for name, msg := range want {
		if p := h.pod(name); p.NodeName != "" || p.SchedulingMessage != msg {
			t.Errorf("%s on %q: %q, want %q", name, p.NodeName, p.SchedulingMessage, msg)
		}
	}
	if h.pod("p3").NodeName != "soft" || h.pod("tolerant").NodeName != "tainted" {
		t.Errorf("p3 on %q, tolerant on %q", h.pod("p3").NodeName, h.pod("tolerant").NodeName)
	}
}
