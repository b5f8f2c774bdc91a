package consensus

import (
	"testing"

	"shoal/cluster"
)

// A template change of cpu and memory only keeps the template's identity
// (no rollout, no new revision); anything else is a new template.
func TestPutWorkloadResizeKeepsTemplate(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(*cluster.Workload)
		sameHash bool
	}{
		{"cpu and memory", func(w *cluster.Workload) {
			w.Template.Containers[0].Limits = cluster.Resources{MilliCPU: 500, Memory: 64 << 20}
		}, true},
		{"resize policy", func(w *cluster.Workload) {
			w.Template.Containers[0].ResizePolicy = []cluster.ContainerResizePolicy{{ResourceName: "memory", RestartPolicy: cluster.ResizeRestartContainer}}
		}, true},
		{"image", func(w *cluster.Workload) { w.Template.Containers[0].Image = "nginx:2" }, false},
		{"cpu and image", func(w *cluster.Workload) {
			w.Template.Containers[0].Limits.MilliCPU = 700
			w.Template.Containers[0].Image = "nginx:2"
		}, false},
		{"ephemeral storage cannot change in place", func(w *cluster.Workload) {
			w.Template.Containers[0].Limits.EphemeralStorage = 1 << 30
		}, false},
		{"template label", func(w *cluster.Workload) { w.TemplateLabels["v"] = "2" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			w := testWorkload("web", 2, "nginx")
			h.must(&PutWorkload{Workload: w.Clone()})
			before, _ := h.state().Workload(cluster.KindDeployment, "default", "web")
			next := before.Clone()
			tc.edit(next)
			h.must(&PutWorkload{Workload: next})
			after, _ := h.state().Workload(cluster.KindDeployment, "default", "web")
			if got := after.TemplateHash == before.TemplateHash; got != tc.sameHash {
				t.Fatalf("same hash %v, want %v", got, tc.sameHash)
			}
			wantRev, wantHist := int64(2), 1
			if tc.sameHash {
				wantRev, wantHist = 1, 0
			}
			if after.Revision != wantRev || len(after.History) != wantHist || after.Generation != before.Generation+1 {
				t.Errorf("revision %d history %d generation %d", after.Revision, len(after.History), after.Generation)
			}
			if after.Template.Containers[0].Limits != next.Template.Containers[0].Limits {
				t.Errorf("template not stored: %+v", after.Template.Containers[0])
			}
		})
	}
}

// The FSM re-checks a resize against its node as it re-checks placements:
// it admits what fits, leaves out what no longer does, and records and
// clears pending resizes.
func TestApplyPlanResize(t *testing.T) {
	h := newHarness(t)
	h.must(&PutNode{Node: testNode("a", 2000, 1<<30)})
	a, b := testPod("a1", 500, 0, 0), testPod("a2", 500, 0, 0)
	a.NodeName, b.NodeName = "a", "a"
	h.must(&ApplyPlan{Plan: &cluster.Plan{Create: []*cluster.Pod{a, b}}})
	grow := func(p string, cpu int64) cluster.PodResize {
		return cluster.PodResize{Pod: h.pod(p).Ref(), Containers: []cluster.ContainerResources{{Name: "c", Requests: cluster.Resources{MilliCPU: cpu}}}}
	}
	h.must(&ApplyPlan{Plan: &cluster.Plan{ResizePending: []cluster.ResizePendingUpdate{{Pod: h.pod("a2").Ref(),
		Pending: &cluster.ResizePending{Reason: cluster.ResizeDeferred, Message: "wait"}}}}})
	if p := h.pod("a2"); p.ResizePending == nil || p.ResizePending.Reason != cluster.ResizeDeferred {
		t.Fatalf("pending not recorded: %+v", p.ResizePending)
	}
	// 1000m resized to 1400m fits; the second, counted after it, does not.
	res := h.must(&ApplyPlan{Plan: &cluster.Plan{Resize: []cluster.PodResize{grow("a1", 1400), grow("a2", 1000)}}})
	if res.Plan.Resized != 1 || res.Skipped != 1 {
		t.Fatalf("result %+v %+v", res, res.Plan)
	}
	if got := h.pod("a1").Spec.Containers[0].Requests.MilliCPU; got != 1400 {
		t.Errorf("a1 requests %d", got)
	}
	if p := h.pod("a2"); p.Spec.Containers[0].Requests.MilliCPU != 500 || p.ResizePending == nil {
		t.Errorf("a2 %+v pending %+v", p.Spec.Containers[0].Requests, p.ResizePending)
	}
	// A decrease always fits, and clears the pending record.
	h.must(&ApplyPlan{Plan: &cluster.Plan{Resize: []cluster.PodResize{grow("a2", 100)}}})
	if p := h.pod("a2"); p.Spec.Containers[0].Requests.MilliCPU != 100 || p.ResizePending != nil {
		t.Errorf("a2 after decrease %+v pending %+v", p.Spec.Containers[0].Requests, p.ResizePending)
	}
	// Not a resize: an unknown container.
	bad := grow("a1", 100)
	bad.Containers[0].Name = "nope"
	if res := h.must(&ApplyPlan{Plan: &cluster.Plan{Resize: []cluster.PodResize{bad}}}); res.Skipped != 1 {
		t.Errorf("unknown container admitted: %+v", res)
	}
}

// A bare pod's desired resources must be an in-place resize of its own
// containers, or the command is refused.
func TestPutPodsDesiredResources(t *testing.T) {
	for _, tc := range []struct {
		name    string
		desired []cluster.ContainerResources
		owned   bool
		ok      bool
	}{
		{"cpu", []cluster.ContainerResources{{Name: "c", Limits: cluster.Resources{MilliCPU: 300}}}, false, true},
		{"unknown container", []cluster.ContainerResources{{Name: "x", Limits: cluster.Resources{MilliCPU: 300}}}, false, false},
		{"gpu", []cluster.ContainerResources{{Name: "c", Limits: cluster.Resources{GPU: 1}}}, false, false},
		{"a workload's pod", []cluster.ContainerResources{{Name: "c", Limits: cluster.Resources{MilliCPU: 300}}}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			p := testPod("p", 100, 0, 0)
			p.DesiredResources = tc.desired
			if tc.owned {
				p.Owner = &cluster.OwnerRef{Kind: cluster.KindDeployment, Name: "web", UID: "wl-web"}
			}
			if err := h.apply(&PutPods{Pods: []*cluster.Pod{p}})[0].Err; (err == nil) != tc.ok {
				t.Fatalf("PutPods: %v, want ok %v", err, tc.ok)
			}
		})
	}
}
