package consensus

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"shoal/cluster"
)

func TestCommands(t *testing.T) {
	const gi = 1 << 30
	tests := []struct {
		name  string
		setup []Command
		cmd   Command
		check func(t *testing.T, s *cluster.State, r Result)
	}{
		{
			name: "SetConfig fills defaults",
			cmd:  &SetConfig{Config: cluster.Config{ClusterID: "c1"}},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if c := s.Config(); c.ClusterID != "c1" || c.ClusterCIDR != cluster.DefaultClusterCIDR || c.Domain != cluster.DefaultDomain {
					t.Errorf("config %+v", c)
				}
			},
		},
		{
			name: "SetConfig rejects a bad CIDR",
			cmd:  &SetConfig{Config: cluster.Config{ClusterCIDR: "10.0.0.0/25"}},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if !errors.Is(r.Err, ErrInvalid) {
					t.Errorf("err %v", r.Err)
				}
			},
		},
		{
			name: "PutWorkload creates at generation 1",
			cmd:  &PutWorkload{Workload: testWorkload("web", 3, "nginx:1")},
			check: func(t *testing.T, s *cluster.State, r Result) {
				w, ok := s.Workload(cluster.KindDeployment, "default", "web")
				if !ok || w.Generation != 1 || w.TemplateHash == "" || w.Revision != 1 || w.History != nil || w.CreateIndex == 0 {
					t.Errorf("workload %+v", w)
				}
			},
		},
		{
			name:  "PutWorkload with a new template bumps generation and keeps the old one",
			setup: []Command{&PutWorkload{Workload: testWorkload("web", 3, "nginx:1")}},
			cmd: &PutWorkload{Workload: func() *cluster.Workload {
				w := testWorkload("web", 3, "nginx:2")
				w.UID = "another-uid" // a re-apply from YAML keeps the stored UID
				return w
			}()},
			check: func(t *testing.T, s *cluster.State, r Result) {
				w, _ := s.Workload(cluster.KindDeployment, "default", "web")
				if w.Generation != 2 || w.UID != "wl-web" || w.Revision != 2 || len(w.History) != 1 ||
					w.History[0].Revision != 1 || w.History[0].Template.Containers[0].Image != "nginx:1" || w.CreateIndex == w.ModifyIndex {
					t.Errorf("workload %+v", w)
				}
			},
		},
		{
			name:  "PutWorkload with the same template keeps the generation",
			setup: []Command{&PutWorkload{Workload: testWorkload("web", 3, "nginx:1")}},
			cmd:   &PutWorkload{Workload: testWorkload("web", 5, "nginx:1")},
			check: func(t *testing.T, s *cluster.State, r Result) {
				w, _ := s.Workload(cluster.KindDeployment, "default", "web")
				if w.Generation != 1 || w.Replicas != 5 {
					t.Errorf("workload %+v", w)
				}
			},
		},
		{
			name: "DeleteWorkload of a missing one is a domain error",
			cmd:  &DeleteWorkload{Kind: cluster.KindDeployment, Namespace: "default", Name: "web"},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if !errors.Is(r.Err, ErrNotFound) || r.Err.Error() != "deployment default/web: not found" {
					t.Errorf("err %v", r.Err)
				}
			},
		},
		{
			name: "DeleteWorkload terminates placed pods and drops unplaced ones",
			setup: []Command{
				&PutNode{Node: testNode("n1", 4000, 8*gi)},
				&PutWorkload{Workload: testWorkload("web", 2, "nginx:1")},
				&ApplyPlan{Plan: &cluster.Plan{Create: []*cluster.Pod{
					owned(testPod("web-a", 100, 0, 0), "n1"),
					owned(testPod("web-b", 100, 0, 0), ""),
				}}},
			},
			cmd: &DeleteWorkload{Kind: cluster.KindDeployment, Name: "web"},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if _, ok := s.Workload(cluster.KindDeployment, "default", "web"); ok {
					t.Error("workload still there")
				}
				if p, ok := s.Pod("default", "web-a"); !ok || !p.Terminating {
					t.Errorf("web-a %+v", p)
				}
				if _, ok := s.Pod("default", "web-b"); ok {
					t.Error("unplaced web-b still there")
				}
			},
		},
		{
			name:  "PutService and DeleteService",
			setup: []Command{&PutService{Service: &cluster.Service{Name: "db", UID: "s1", Selector: map[string]string{"app": "db"}}}},
			cmd:   &DeleteService{Name: "db"},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if r.Err != nil || len(s.Services()) != 0 {
					t.Errorf("err %v, services %v", r.Err, s.Services())
				}
			},
		},
		{
			name: "PutService stores under the default namespace",
			cmd:  &PutService{Service: &cluster.Service{Name: "db", UID: "s1"}},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if sv, ok := s.Service("default", "db"); !ok || sv.CreateIndex == 0 {
					t.Errorf("service %+v", sv)
				}
			},
		},
		{
			name:  "PutPods refuses a new UID while the old pod lives",
			setup: []Command{&PutPods{Pods: []*cluster.Pod{testPod("p", 100, 0, 0)}}},
			cmd: &PutPods{Pods: []*cluster.Pod{func() *cluster.Pod {
				p := testPod("p", 100, 0, 0)
				p.UID = "newer"
				return p
			}()}},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if p, _ := s.Pod("default", "p"); !errors.Is(r.Err, ErrConflict) || p.UID != "uid-p" {
					t.Errorf("err %v, pod %+v", r.Err, p)
				}
			},
		},
		{
			name: "PutPods replaces a gone pod",
			setup: []Command{
				&PutNode{Node: testNode("n1", 4000, 8*gi)},
				&PutPods{Pods: []*cluster.Pod{placed(testPod("p", 100, 0, 0), "n1")}},
				&TerminatePods{Pods: []cluster.PodRef{{Namespace: "default", Name: "p", UID: "uid-p"}}},
				&PodStatus{Node: "n1", Updates: []cluster.PodStatusUpdate{{
					Ref: cluster.PodRef{Namespace: "default", Name: "p", UID: "uid-p"}, Status: cluster.PodStatus{Phase: cluster.PodSucceeded, Stopped: true}}}},
			},
			cmd: &PutPods{Pods: []*cluster.Pod{func() *cluster.Pod {
				p := testPod("p", 100, 0, 0)
				p.UID = "newer"
				return p
			}()}},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if p, _ := s.Pod("default", "p"); r.Err != nil || p.UID != "newer" || p.NodeName != "" || p.Terminating {
					t.Errorf("err %v, pod %+v", r.Err, p)
				}
			},
		},
		{
			name:  "TerminatePods removes unplaced pods and ignores stale UIDs",
			setup: []Command{&PutPods{Pods: []*cluster.Pod{testPod("a", 1, 0, 0), testPod("b", 1, 0, 0)}}},
			cmd: &TerminatePods{Pods: []cluster.PodRef{
				{Namespace: "default", Name: "a", UID: "uid-a"},
				{Namespace: "default", Name: "b", UID: "stale"},
			}},
			check: func(t *testing.T, s *cluster.State, r Result) {
				_, a := s.Pod("default", "a")
				_, b := s.Pod("default", "b")
				if a || !b || r.Changed != 1 || r.Skipped != 1 {
					t.Errorf("a %v b %v result %+v", a, b, r)
				}
			},
		},
		{
			name: "PutNode allocates a PodCIDR and defaults to Ready",
			cmd:  &PutNode{Node: &cluster.Node{Name: "n1"}},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if n, _ := s.Node("n1"); n.PodCIDR != "10.88.0.0/24" || n.Status != cluster.NodeReady {
					t.Errorf("node %+v", n)
				}
			},
		},
		{
			name: "PutNode keeps cordon and subnet on re-registration",
			setup: []Command{
				&PutNode{Node: &cluster.Node{Name: "n1"}},
				&PutNode{Node: &cluster.Node{Name: "n2"}},
				&SetNodeSchedulable{Name: "n2", Schedulable: false},
			},
			cmd: &PutNode{Node: testNode("n2", 1000, gi)},
			check: func(t *testing.T, s *cluster.State, r Result) {
				n, _ := s.Node("n2")
				if n.PodCIDR != "10.88.1.0/24" || !n.Unschedulable || n.Capacity.MilliCPU != 1000 {
					t.Errorf("node %+v", n)
				}
			},
		},
		{
			name:  "SetNodeSchedulable uncordons",
			setup: []Command{&PutNode{Node: &cluster.Node{Name: "n1", Unschedulable: true}}},
			cmd:   &SetNodeSchedulable{Name: "n1", Schedulable: true},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if n, _ := s.Node("n1"); n.Unschedulable || !n.Schedulable() {
					t.Errorf("node %+v", n)
				}
			},
		},
		{
			name:  "SetNodeStatus",
			setup: []Command{&PutNode{Node: &cluster.Node{Name: "n1"}}},
			cmd:   &SetNodeStatus{Name: "n1", Status: cluster.NodeDown},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if n, _ := s.Node("n1"); n.Status != cluster.NodeDown {
					t.Errorf("node %+v", n)
				}
			},
		},
		{
			name:  "SetNodeStatus records DiskPressure: a Ready node with its scheduling taint",
			setup: []Command{&PutNode{Node: &cluster.Node{Name: "n1", Status: cluster.NodeReady}}},
			cmd:   &SetNodeStatus{Name: "n1", Status: cluster.NodeReady, DiskPressure: true},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if n, _ := s.Node("n1"); r.Changed != 1 || !n.DiskPressure || n.Status != cluster.NodeReady || len(n.SchedulingTaints()) != 1 {
					t.Errorf("result %+v, node %+v", r, n)
				}
			},
		},
		{
			name: "SetNodeStatus lifts DiskPressure",
			setup: []Command{
				&PutNode{Node: &cluster.Node{Name: "n1"}},
				&SetNodeStatus{Name: "n1", Status: cluster.NodeReady, DiskPressure: true},
			},
			cmd: &SetNodeStatus{Name: "n1", Status: cluster.NodeReady},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if n, _ := s.Node("n1"); r.Changed != 1 || n.DiskPressure || len(n.SchedulingTaints()) != 0 {
					t.Errorf("result %+v, node %+v", r, n)
				}
			},
		},
		{
			name: "SetNodeStatus of a missing node",
			cmd:  &SetNodeStatus{Name: "n9", Status: cluster.NodeDown},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if !errors.Is(r.Err, ErrNotFound) {
					t.Errorf("err %v", r.Err)
				}
			},
		},
		{
			name: "DeleteNode keeps its pods",
			setup: []Command{
				&PutNode{Node: testNode("n1", 1000, gi)},
				&PutPods{Pods: []*cluster.Pod{placed(testPod("p", 100, 0, 0), "n1")}},
			},
			cmd: &DeleteNode{Name: "n1"},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if _, ok := s.Node("n1"); ok {
					t.Error("node still there")
				}
				if p, ok := s.Pod("default", "p"); !ok || p.NodeName != "n1" {
					t.Errorf("pod %+v", p)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for _, c := range tt.setup {
				h.must(c)
			}
			r := h.apply(tt.cmd)[0]
			if r.Index != h.index {
				t.Errorf("result index %d, entry %d", r.Index, h.index)
			}
			tt.check(t, h.state(), r)
		})
	}
}

func owned(p *cluster.Pod, node string) *cluster.Pod {
	p.Owner = &cluster.OwnerRef{Kind: cluster.KindDeployment, Name: "web", UID: "wl-web"}
	p.NodeName = node
	return p
}

func placed(p *cluster.Pod, node string) *cluster.Pod {
	p.NodeName = node
	return p
}

func ref(name string) cluster.PodRef {
	return cluster.PodRef{Namespace: "default", Name: name, UID: "uid-" + name}
}

func TestPlacementRecheck(t *testing.T) {
	const gi = 1 << 30
	h := newHarness(t)
	h.must(&PutNode{Node: testNode("small", 1000, 2*gi)})
	h.must(&PutNode{Node: testNode("gpu", 8000, 16*gi, "GPU-a", "GPU-b", "GPU-c")})
	h.must(&PutNode{Node: testNode("cordoned", 8000, 16*gi)})
	h.must(&SetNodeSchedulable{Name: "cordoned", Schedulable: false})
	pods := []*cluster.Pod{
		testPod("fit1", 600, gi, 0), testPod("fit2", 600, gi, 0), // together over-commit small
		testPod("g1", 100, 0, 1), testPod("g2", 100, 0, 1), testPod("g3", 100, 0, 1),
		testPod("c1", 100, 0, 0), testPod("ghost", 100, 0, 0), testPod("twice", 100, 0, 2),
	}
	h.must(&PutPods{Pods: pods})

	r := h.must(&ApplyPlan{Plan: &cluster.Plan{Place: []cluster.Placement{
		{Pod: ref("fit1"), Node: "small"},
		{Pod: ref("fit2"), Node: "small"},                      // over-commit
		{Pod: ref("g1"), Node: "gpu", GPUs: []string{"GPU-a"}}, //
		{Pod: ref("g2"), Node: "gpu", GPUs: []string{"GPU-a"}}, // double GPU
		{Pod: ref("g3"), Node: "gpu", GPUs: []string{"GPU-z"}}, // not the node's
		{Pod: ref("c1"), Node: "cordoned"},
		{Pod: ref("ghost"), Node: "nowhere"},
		{Pod: cluster.PodRef{Namespace: "default", Name: "fit2", UID: "stale"}, Node: "gpu"},
		{Pod: ref("twice"), Node: "gpu", GPUs: []string{"GPU-b", "GPU-b"}},
		{Pod: ref("fit1"), Node: "gpu"}, // already placed by this very plan
	}}})
	if r.Plan.Placed != 2 || len(r.Plan.Rejected) != 8 {
		t.Fatalf("placed %d, rejected %+v", r.Plan.Placed, r.Plan.Rejected)
	}
	wantMsg := map[string]string{
		"fit2":  "insufficient cpu",
		"g2":    "GPU GPU-a of node gpu is held by pod default/g1",
		"g3":    "has no GPU GPU-z",
		"c1":    "cordoned",
		"ghost": "not found",
		"twice": "named twice",
	}
	for name, want := range wantMsg {
		p := h.pod(name)
		if p.NodeName != "" || !strings.HasPrefix(p.SchedulingMessage, "placement rejected: ") || !strings.Contains(p.SchedulingMessage, want) {
			t.Errorf("%s: node %q message %q, want %q", name, p.NodeName, p.SchedulingMessage, want)
		}
	}
	if p := h.pod("fit1"); p.NodeName != "small" {
		t.Errorf("fit1 on %q", p.NodeName)
	}
	if p := h.pod("g1"); p.NodeName != "gpu" || len(p.GPUs) != 1 || p.GPUs[0] != "GPU-a" {
		t.Errorf("g1 %+v", p)
	}

	// A later plan sees the earlier one's usage; finishing g1 frees GPU-a.
	r = h.must(&ApplyPlan{Plan: &cluster.Plan{Place: []cluster.Placement{{Pod: ref("g2"), Node: "gpu", GPUs: []string{"GPU-a"}}}}})
	if r.Plan.Placed != 0 {
		t.Fatal("double GPU accepted in a later plan")
	}
	h.must(&PodStatus{Node: "gpu", Updates: []cluster.PodStatusUpdate{{Ref: ref("g1"), Status: cluster.PodStatus{Phase: cluster.PodSucceeded}}}})
	r = h.must(&ApplyPlan{Plan: &cluster.Plan{Place: []cluster.Placement{{Pod: ref("g2"), Node: "gpu", GPUs: []string{"GPU-a"}}}}})
	if r.Plan.Placed != 1 || h.pod("g2").SchedulingMessage != "" {
		t.Fatalf("GPU of a finished pod not reusable: %+v", r.Plan)
	}

	// Create with a node: placed when it fits, Pending when it does not.
	r = h.must(&ApplyPlan{Plan: &cluster.Plan{Create: []*cluster.Pod{
		placed(testPod("new1", 300, 0, 0), "small"),
		placed(testPod("new2", 300, 0, 0), "small"),
	}}})
	if r.Plan.Created != 2 || r.Plan.Placed != 1 || len(r.Plan.Rejected) != 1 || h.pod("new2").NodeName != "" {
		t.Fatalf("create: %+v", r.Plan)
	}
}

func TestApplyPlanPendingTerminateDelete(t *testing.T) {
	h := newHarness(t)
	h.must(&PutNode{Node: testNode("n1", 1000, 1<<30)})
	h.must(&PutPods{Pods: []*cluster.Pod{
		testPod("wait", 100, 0, 0), placed(testPod("run", 100, 0, 0), "n1"),
		placed(testPod("stop", 100, 0, 0), "n1"), testPod("drop", 100, 0, 0),
	}})
	r := h.must(&ApplyPlan{Plan: &cluster.Plan{
		Pending:   []cluster.PendingReason{{Pod: ref("wait"), Message: "0/1 nodes: 1 insufficient cpu"}},
		Terminate: []cluster.PodRef{ref("stop")},
		Delete:    []cluster.PodRef{ref("drop"), ref("run")},
	}})
	if h.pod("wait").SchedulingMessage != "0/1 nodes: 1 insufficient cpu" || !h.pod("stop").Terminating {
		t.Errorf("pending/terminate not applied: %+v", r.Plan)
	}
	if _, ok := h.state().Pod("default", "drop"); ok {
		t.Error("unplaced pod not deleted")
	}
	// A running pod on a live node is stopped first, not dropped.
	if p := h.pod("run"); !p.Terminating {
		t.Errorf("running pod deleted or left alone: %+v", p)
	}
	if r.Plan.Deleted != 1 || r.Plan.Terminated != 2 || r.Plan.Pending != 1 {
		t.Errorf("counts %+v", r.Plan)
	}
}

func TestPodStatus(t *testing.T) {
	h := newHarness(t)
	h.must(&PutNode{Node: testNode("n1", 1000, 1<<30)})
	h.must(&PutNode{Node: testNode("n2", 1000, 1<<30)})
	h.must(&PutPods{Pods: []*cluster.Pod{placed(testPod("p", 100, 0, 0), "n1")}})
	report := func(node string, r cluster.PodRef, st cluster.PodStatus) Result {
		return h.must(&PodStatus{Node: node, Updates: []cluster.PodStatusUpdate{{Ref: r, Status: st}}})
	}
	running := cluster.PodStatus{Phase: cluster.PodRunning, PodIP: "10.88.0.5", Ready: true}

	steps := []struct {
		name      string
		node      string
		ref       cluster.PodRef
		status    cluster.PodStatus
		wantPhase cluster.PodPhase
		wantReady bool
		changed   int
	}{
		{"wrong node is ignored", "n2", ref("p"), running, cluster.PodPending, false, 0},
		{"stale UID is ignored", "n1", cluster.PodRef{Namespace: "default", Name: "p", UID: "old"}, running, cluster.PodPending, false, 0},
		{"running", "n1", ref("p"), running, cluster.PodRunning, true, 1},
		{"same status changes nothing", "n1", ref("p"), running, cluster.PodRunning, true, 0},
		{"never back to pending", "n1", ref("p"), cluster.PodStatus{Phase: cluster.PodPending}, cluster.PodRunning, false, 1},
		{"failed", "n1", ref("p"), cluster.PodStatus{Phase: cluster.PodFailed}, cluster.PodFailed, false, 1},
		{"failed never runs again", "n1", ref("p"), running, cluster.PodFailed, true, 1},
		{"failed never becomes succeeded", "n1", ref("p"), cluster.PodStatus{Phase: cluster.PodSucceeded}, cluster.PodFailed, false, 1},
	}
	for _, s := range steps {
		r := report(s.node, s.ref, s.status)
		p := h.pod("p")
		if p.Status.Phase != s.wantPhase || p.Status.Ready != s.wantReady || r.Changed != s.changed {
			t.Errorf("%s: phase %s ready %v changed %d", s.name, p.Status.Phase, p.Status.Ready, r.Changed)
		}
	}
}

func TestPodCIDRAllocation(t *testing.T) {
	h := newHarness(t)
	h.must(&SetConfig{Config: cluster.Config{ClusterCIDR: "10.1.0.0/23"}})
	// Several nodes in one entry, then one in another.
	rs := h.apply(&PutNode{Node: &cluster.Node{Name: "a"}}, &PutNode{Node: &cluster.Node{Name: "b"}})
	for _, r := range rs {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if r := h.apply(&PutNode{Node: &cluster.Node{Name: "c"}})[0]; !errors.Is(r.Err, ErrCIDRExhausted) {
		t.Fatalf("third node in a /23: %v", r.Err)
	}
	h.must(&DeleteNode{Name: "a"})
	h.must(&PutNode{Node: &cluster.Node{Name: "c"}})
	for name, want := range map[string]string{"b": "10.1.1.0/24", "c": "10.1.0.0/24"} {
		if n, _ := h.state().Node(name); n.PodCIDR != want {
			t.Errorf("%s: %s, want %s", name, n.PodCIDR, want)
		}
	}
	if r := h.apply(&PutNode{Node: &cluster.Node{Name: "d", PodCIDR: "10.1.1.0/24"}})[0]; !errors.Is(r.Err, ErrConflict) {
		t.Errorf("claimed another node's subnet: %v", r.Err)
	}
}

func TestUnknownCommand(t *testing.T) {
	h := newHarness(t)
	optional := []byte{byte(IgnoreUnknownTypeFlag | 100), 0x80}
	node, _ := encodeCommand(&PutNode{Node: &cluster.Node{Name: "n1"}})
	rs := h.applyRaw(encodeBatch([][]byte{optional, node}))
	if !rs[0].Ignored || rs[1].Err != nil {
		t.Fatalf("results %+v", rs)
	}
	if _, ok := h.state().Node("n1"); !ok {
		t.Fatal("command after the skipped one not applied")
	}

	// Entries that cannot be applied halt the FSM: the state stays as it
	// was before them, every later entry is refused too, and Halted says
	// why, naming the entry and this agent's version.
	other, _ := encodeCommand(&PutNode{Node: &cluster.Node{Name: "n2"}})
	for _, tc := range []struct {
		name, why string
		data      []byte
	}{
		{"unknown type", "unknown command type 100", encodeBatch([][]byte{{100, 0x80}})},
		{"corrupt payload", "decode PutNode command", encodeBatch([][]byte{{byte(PutNodeType), 0xc1}})},
		{"truncated batch", "decode batch", encodeBatch([][]byte{node})[:5]},
		{"empty entry", "empty entry", []byte{}},
		{"two bytes", "decode", []byte{byte(PutNodeType), 0x01}},
		{"nested batch", "unknown command type 127", encodeBatch([][]byte{encodeBatch([][]byte{node})})},
		{"unknown top level", "unknown command type 100", []byte{100, 0x80}},
		{"good command then a bad one", "unknown command type 100", encodeBatch([][]byte{other, {100, 0x80}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.f.version = "v9.9-test"
			h.applyRaw(encodeBatch([][]byte{node}))
			before := h.state()
			rs := h.applyRaw(tc.data)
			if len(rs) != 1 || !errors.Is(rs[0].Err, ErrHalted) || !strings.Contains(rs[0].Err.Error(), tc.why) ||
				!strings.Contains(rs[0].Err.Error(), "log entry 2") || !strings.Contains(rs[0].Err.Error(), "shoal v9.9-test") {
				t.Fatalf("results %+v", rs)
			}
			select {
			case <-h.f.haltCh:
			default:
				t.Fatal("Halted not closed")
			}
			if h.state() != before {
				t.Error("the state changed")
			}
			if rs := h.applyRaw(encodeBatch([][]byte{other})); !errors.Is(rs[0].Err, ErrHalted) || h.state() != before {
				t.Errorf("an entry after the halt: %+v", rs)
			}
		})
	}
}

// TestPutWorkloadHistoryFitsTheObjectLimit: the history is cut, oldest
// first, so the stored workload stays under MaxObjectBytes.
func TestPutWorkloadHistoryFitsTheObjectLimit(t *testing.T) {
	h := newHarness(t)
	big := strings.Repeat("x", MaxObjectBytes/3)
	for i := range 6 {
		w := testWorkload("web", 1, fmt.Sprintf("nginx:%d", i))
		w.Template.Containers[0].Env = []cluster.EnvVar{{Name: "BIG", Value: big}}
		h.must(&PutWorkload{Workload: w})
	}
	w, _ := h.state().Workload(cluster.KindDeployment, "default", "web")
	if n, err := EncodedSize(&PutWorkload{Workload: w}); err != nil || n > MaxObjectBytes {
		t.Fatalf("stored workload is %d bytes (%v), over %d", n, err, MaxObjectBytes)
	}
	if w.Revision != 6 || len(w.History) != 1 || w.History[0].Revision != 5 {
		t.Errorf("revision %d, history %d entries (want revision 6 and only revision 5 kept)", w.Revision, len(w.History))
	}
}

// TestPutServiceNodePorts: the FSM allocates node ports, keeps them
// across updates and refuses one already taken.
func TestPutServiceNodePorts(t *testing.T) {
	h := newHarness(t)
	svc := func(name string, nodePort int32) *cluster.Service {
		return &cluster.Service{Namespace: "default", Name: name, UID: "uid-" + name, Type: cluster.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": name}, Ports: []cluster.ServicePort{{Name: "http", Port: 80, NodePort: nodePort}}}
	}
	nodePort := func(name string) int32 {
		s, _ := h.state().Service("default", name)
		return s.Ports[0].NodePort
	}
	h.must(&PutService{Service: svc("a", 0)})
	h.must(&PutService{Service: svc("b", 0)})
	if a, b := nodePort("a"), nodePort("b"); a != cluster.NodePortMin || b != cluster.NodePortMin+1 {
		t.Fatalf("node ports %d, %d", a, b)
	}
	h.must(&PutService{Service: svc("a", 0)}) // a re-apply without nodePort keeps it
	if a := nodePort("a"); a != cluster.NodePortMin {
		t.Fatalf("after update: %d", a)
	}
	r := h.apply(&PutService{Service: svc("c", cluster.NodePortMin+1)})[0]
	if !errors.Is(r.Err, ErrConflict) || !strings.Contains(r.Err.Error(), "30001 is already used by service default/b") {
		t.Fatalf("taken node port: %v", r.Err)
	}
	r = h.apply(&PutService{Service: svc("c", 80)})[0]
	if !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("node port out of range: %v", r.Err)
	}
}

// TestTry: a dry run answers what the FSM would, and changes nothing:
// neither the state nor the caller's command.
func TestTry(t *testing.T) {
	h := newHarness(t)
	taken := &cluster.Service{Namespace: "default", Name: "a", UID: "uid-a", Type: cluster.ServiceTypeNodePort,
		Selector: map[string]string{"app": "a"}, Ports: []cluster.ServicePort{{Port: 80, NodePort: 30000}}}
	h.must(&PutService{Service: taken})
	st := h.state()
	wl := testWorkload("web", 1, "nginx:1")
	clash := &cluster.Service{Namespace: "default", Name: "b", UID: "uid-b", Type: cluster.ServiceTypeNodePort,
		Selector: map[string]string{"app": "b"}, Ports: []cluster.ServicePort{{Port: 80, NodePort: 30000}}}
	res := Try(st, &PutWorkload{Workload: wl}, &PutService{Service: clash})
	if len(res) != 2 || res[0].Err != nil || !errors.Is(res[1].Err, ErrConflict) {
		t.Fatalf("results %+v", res)
	}
	if wl.TemplateHash != "" || wl.Revision != 0 {
		t.Errorf("the caller's workload was changed: %+v", wl)
	}
	if h.state() != st || st.Index() != h.state().Index() {
		t.Error("the state changed")
	}
	if _, ok := st.Workload(cluster.KindDeployment, "default", "web"); ok {
		t.Error("the dry run stored the workload")
	}
}

// TestDaemonPlacementRecheck: a daemon pod goes to its own node, cordoned
// or not, and nowhere else; a NotReady node still refuses it.
func TestDaemonPlacementRecheck(t *testing.T) {
	const gi = 1 << 30
	h := newHarness(t)
	h.must(&PutNode{Node: testNode("cordoned", 8000, 16*gi)})
	h.must(&SetNodeSchedulable{Name: "cordoned", Schedulable: false})
	h.must(&PutNode{Node: testNode("other", 8000, 16*gi)})
	notReady := testNode("sick", 8000, 16*gi)
	notReady.Status = cluster.NodeNotReady
	h.must(&PutNode{Node: notReady})
	daemon := func(name, node string) *cluster.Pod {
		p := testPod(name, 100, 0, 0)
		p.DaemonNode = node
		return p
	}
	h.must(&PutPods{Pods: []*cluster.Pod{daemon("d1", "cordoned"), daemon("d2", "cordoned"), daemon("d3", "sick")}})
	created := daemon("d4", "other")
	created.NodeName = "cordoned"
	r := h.must(&ApplyPlan{Plan: &cluster.Plan{
		Create: []*cluster.Pod{created},
		Place: []cluster.Placement{
			{Pod: ref("d1"), Node: "cordoned"},
			{Pod: ref("d2"), Node: "other"},
			{Pod: ref("d3"), Node: "sick"},
		}}})
	if r.Plan.Placed != 1 || len(r.Plan.Rejected) != 3 {
		t.Fatalf("placed %d, rejected %+v", r.Plan.Placed, r.Plan.Rejected)
	}
	if p := h.pod("d1"); p.NodeName != "cordoned" {
		t.Errorf("d1 on %q: %s", p.NodeName, p.SchedulingMessage)
	}
	for name, want := range map[string]string{"d2": "bound to node cordoned", "d3": "node sick is NotReady", "d4": "bound to node other"} {
		if p := h.pod(name); p.NodeName != "" || !strings.Contains(p.SchedulingMessage, want) {
			t.Errorf("%s: node %q message %q, want %q", name, p.NodeName, p.SchedulingMessage, want)
		}
	}
}

// TestPutServiceClusterIPs: the FSM gives every non-headless service a
// virtual IP from the service CIDR, keeps it across re-applies, honours a
// free one asked for, refuses a taken or foreign one (naming
// spec.clusterIP) and frees it at delete.
func TestPutServiceClusterIPs(t *testing.T) {
	h := newHarness(t)
	h.must(&SetConfig{Config: cluster.Config{ClusterID: "c1", ServiceCIDR: "10.43.0.0/24"}})
	svc := func(name, ip string) *cluster.Service {
		return &cluster.Service{Namespace: "default", Name: name, UID: "uid-" + name, ClusterIP: ip,
			Selector: map[string]string{"app": name}, Ports: []cluster.ServicePort{{Port: 80}}}
	}
	ipOf := func(name string) string {
		s, _ := h.state().Service("default", name)
		return s.ClusterIP
	}
	h.must(&PutService{Service: svc("a", "")})
	a := ipOf("a")
	if p := netip.MustParsePrefix("10.43.0.0/24"); !p.Contains(netip.MustParseAddr(a)) || a == "10.43.0.0" || a == "10.43.0.255" {
		t.Fatalf("a got %q", a)
	}
	h.must(&PutService{Service: svc("a", "")})
	if ipOf("a") != a {
		t.Errorf("re-apply moved a from %s to %s", a, ipOf("a"))
	}
	h.must(&PutService{Service: svc("h", cluster.ClusterIPNone)})
	if ipOf("h") != cluster.ClusterIPNone {
		t.Errorf("headless got %q", ipOf("h"))
	}
	h.must(&PutService{Service: svc("b", "10.43.0.7")})
	for _, tc := range []struct{ ip, want string }{
		{"10.43.0.7", "spec.clusterIP: 10.43.0.7 is already used by service default/b"},
		{"10.44.0.7", "spec.clusterIP: 10.44.0.7 is not a usable address of the service CIDR 10.43.0.0/24"},
		{"10.43.0.255", "not a usable address"},
		{"banana", `spec.clusterIP: "banana" is not an IPv4 address`},
	} {
		r := h.apply(&PutService{Service: svc("c", tc.ip)})[0]
		if r.Err == nil || !strings.Contains(r.Err.Error(), tc.want) {
			t.Errorf("clusterIP %s: %v, want %q", tc.ip, r.Err, tc.want)
		}
		if _, ok := h.state().Service("default", "c"); ok {
			t.Errorf("clusterIP %s: service stored", tc.ip)
		}
	}
	if r := h.apply(&PutService{Service: svc("a", "10.43.0.9")})[0]; r.Err == nil || !strings.Contains(r.Err.Error(), "may not change") {
		t.Errorf("changing a's IP: %v", r.Err)
	}
	h.must(&DeleteService{Namespace: "default", Name: "b"})
	h.must(&PutService{Service: svc("c", "10.43.0.7")})
	// The same log gives every member the same IPs, snapshots included.
	st := h.state()
	for _, s := range st.Services() {
		if s.Name != "h" && !s.HasClusterIP() {
			t.Errorf("%s has no IP", s.Name)
		}
	}
}

// TestClusterIPsFillTheRange: allocation finds the last free address and
// then reports the range full.
func TestClusterIPsFillTheRange(t *testing.T) {
	h := newHarness(t)
	h.must(&SetConfig{Config: cluster.Config{ClusterID: "c1", ServiceCIDR: "10.43.0.0/28"}})
	seen := map[string]bool{}
	for i := range 14 {
		name := fmt.Sprintf("s%d", i)
		h.must(&PutService{Service: &cluster.Service{Name: name, UID: name, Selector: map[string]string{"a": "b"}, Ports: []cluster.ServicePort{{Port: 80}}}})
		s, _ := h.state().Service("default", name)
		if seen[s.ClusterIP] {
			t.Fatalf("%s got %s twice", name, s.ClusterIP)
		}
		seen[s.ClusterIP] = true
	}
	r := h.apply(&PutService{Service: &cluster.Service{Name: "full", UID: "full", Selector: map[string]string{"a": "b"}, Ports: []cluster.ServicePort{{Port: 80}}}})[0]
	if r.Err == nil || !strings.Contains(r.Err.Error(), "no free address left in the service CIDR 10.43.0.0/28") {
		t.Errorf("full range: %v", r.Err)
	}
	if r := h.apply(&SetConfig{Config: cluster.Config{ClusterCIDR: "10.0.0.0/8"}})[0]; !errors.Is(r.Err, ErrInvalid) || !strings.Contains(r.Err.Error(), "overlaps") {
		t.Errorf("service CIDR overlapping pods: %v", r.Err)
	}
}
