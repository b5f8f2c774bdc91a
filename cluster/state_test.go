package cluster

import (
	"testing"
)

func TestStateIsImmutableAndIndexed(t *testing.T) {
	owner := &OwnerRef{Kind: KindDeployment, Name: "web", UID: "w1"}
	tx := Empty().Txn(1)
	tx.PutNode(&Node{Name: "n1", Status: NodeReady})
	tx.PutPod(&Pod{Namespace: "default", Name: "web-a", UID: "p1", Owner: owner, NodeName: "n1"})
	tx.PutPod(&Pod{Namespace: "default", Name: "web-b", UID: "p2", Owner: owner})
	s1 := tx.Commit()

	if got := len(s1.PodsOnNode("n1")); got != 1 {
		t.Fatalf("pods on n1: %d, want 1", got)
	}
	if got := len(s1.PodsOwnedBy("w1")); got != 2 {
		t.Fatalf("pods of w1: %d, want 2", got)
	}

	// Move web-a to n2 and delete web-b in a later change.
	tx = s1.Txn(2)
	p, _ := tx.Pod("default", "web-a")
	moved := p.Clone()
	moved.NodeName = "n2"
	tx.PutPod(moved)
	tx.DeletePod("default", "web-b")
	s2 := tx.Commit()

	for _, tc := range []struct {
		name           string
		st             *State
		onN1, onN2, of int
		index          uint64
	}{
		{"before", s1, 1, 0, 2, 1},
		{"after", s2, 0, 1, 1, 2},
	} {
		if got := len(tc.st.PodsOnNode("n1")); got != tc.onN1 {
			t.Errorf("%s: pods on n1 = %d, want %d", tc.name, got, tc.onN1)
		}
		if got := len(tc.st.PodsOnNode("n2")); got != tc.onN2 {
			t.Errorf("%s: pods on n2 = %d, want %d", tc.name, got, tc.onN2)
		}
		if got := len(tc.st.PodsOwnedBy("w1")); got != tc.of {
			t.Errorf("%s: pods of w1 = %d, want %d", tc.name, got, tc.of)
		}
		if tc.st.Index() != tc.index {
			t.Errorf("%s: index %d, want %d", tc.name, tc.st.Index(), tc.index)
		}
	}
	a, _ := s2.Pod("default", "web-a")
	if a.CreateIndex != 1 || a.ModifyIndex != 2 {
		t.Errorf("web-a indexes: create %d modify %d, want 1 and 2", a.CreateIndex, a.ModifyIndex)
	}
}

func TestRequestsAndUsage(t *testing.T) {
	spec := PodSpec{
		InitContainers: []Container{
			{Name: "setup", Requests: Resources{MilliCPU: 2000, Memory: 64}},
			{Name: "proxy", RestartPolicy: RestartAlways, Requests: Resources{MilliCPU: 100, Memory: 10}},
		},
		Containers: []Container{
			{Name: "a", Requests: Resources{MilliCPU: 300, Memory: 100, GPU: 1}},
			{Name: "b", Requests: Resources{MilliCPU: 200, Memory: 100}},
		},
	}
	// Kubernetes' rule: max(sum of containers + sidecars, any init + sidecars before it).
	want := Resources{MilliCPU: 2000, Memory: 210, GPU: 1}
	if got := spec.Requests(); got != want {
		t.Fatalf("requests %+v, want %+v", got, want)
	}
	pods := []*Pod{
		{Name: "running", NodeName: "n", Spec: spec, GPUs: []string{"GPU-1"}, Status: PodStatus{Phase: PodRunning}},
		{Name: "done", NodeName: "n", Spec: spec, GPUs: []string{"GPU-2"}, Status: PodStatus{Phase: PodSucceeded}},
		{Name: "stopped", NodeName: "n", Spec: spec, Terminating: true, Status: PodStatus{Stopped: true}},
	}
	u := UsageOf(pods)
	if u.Pods != 1 || u.Requested != want || len(u.GPUs) != 1 || u.GPUs["GPU-1"] == "" {
		t.Fatalf("usage %+v: want only the running pod to hold resources", u)
	}
	if got := (Resources{MilliCPU: 1500, Memory: 2 << 20}).String(); got != "cpu=1500m,memory=2Mi" {
		t.Errorf("String() = %q", got)
	}
}
