package scheduler

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"shoal/cluster"
)

func TestSpread(t *testing.T) {
	var nodes []*cluster.Node
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		nodes = append(nodes, mkNode(n, 4000, 8*gi))
	}
	// Make one node far emptier: least-requested alone would pile onto it.
	nodes[0].Allocatable = cluster.Resources{MilliCPU: 64000, Memory: 256 * gi}
	w := mkWorkload(cluster.KindDeployment, "web", 6, small)
	plan := Compute(mkState(nodes, []*cluster.Workload{w}), t0, NewRandIDs(1, 1))
	per := map[string]int{}
	for _, p := range plan.Create {
		per[p.NodeName]++
	}
	if len(per) != 5 {
		t.Fatalf("spread over %v", per)
	}
	for n, c := range per {
		if c > 2 {
			t.Fatalf("%d pods on %s: %v", c, n, per)
		}
	}
	if per["a"] != 2 {
		t.Errorf("the tie should go to the least requested node: %v", per)
	}
}

func TestUnschedulableMessages(t *testing.T) {
	gpuReq := cluster.Resources{MilliCPU: 100, GPU: 2}
	for _, tc := range []struct {
		name     string
		nodes    []*cluster.Node
		req      cluster.Resources
		selector map[string]string
		want     string
	}{
		{
			name:     "cpu and selector",
			nodes:    []*cluster.Node{mkNode("a", 500, 8*gi), mkNode("b", 500, 8*gi), mkNode("c", 500, 8*gi, withLabels("zone", "a"))},
			req:      cluster.Resources{MilliCPU: 1000},
			selector: map[string]string{"zone": "a"},
			want:     "0/3 nodes are available: 2 node(s) didn't match node selector, 1 insufficient cpu",
		},
		{
			name:     "example from the docs",
			nodes:    []*cluster.Node{mkNode("a", 500, 8*gi, withLabels("zone", "a")), mkNode("b", 500, 8*gi, withLabels("zone", "a")), mkNode("c", 8000, 8*gi)},
			req:      cluster.Resources{MilliCPU: 1000},
			selector: map[string]string{"zone": "a"},
			want:     "0/3 nodes are available: 2 insufficient cpu, 1 node(s) didn't match node selector",
		},
		{
			name:  "cpu and memory",
			nodes: []*cluster.Node{mkNode("a", 500, gi), mkNode("b", 4000, gi), mkNode("c", 500, 8*gi)},
			req:   cluster.Resources{MilliCPU: 1000, Memory: 2 * gi},
			want:  "0/3 nodes are available: 2 insufficient cpu, 2 insufficient memory",
		},
		{
			name:  "ephemeral-storage",
			nodes: []*cluster.Node{mkNode("a", 4000, gi, withDisk(10*gi)), mkNode("b", 4000, gi, withDisk(10*gi)), mkNode("c", 4000, gi)},
			req:   cluster.Resources{EphemeralStorage: 20 * gi},
			want:  "0/3 nodes are available: 3 insufficient ephemeral-storage",
		},
		{
			name:  "memory and ephemeral-storage",
			nodes: []*cluster.Node{mkNode("a", 4000, gi, withDisk(100*gi)), mkNode("b", 4000, 8*gi, withDisk(gi))},
			req:   cluster.Resources{Memory: 2 * gi, EphemeralStorage: 20 * gi},
			want:  "0/2 nodes are available: 1 insufficient memory, 1 insufficient ephemeral-storage",
		},
		{
			name:  "gpu",
			nodes: []*cluster.Node{mkNode("a", 4000, gi, withGPUs(1)), mkNode("b", 4000, gi)},
			req:   gpuReq,
			want:  "0/2 nodes are available: 2 insufficient nvidia.com/gpu",
		},
		{
			name: "cordoned and down",
			nodes: []*cluster.Node{
				mkNode("a", 4000, gi, func(n *cluster.Node) { n.Unschedulable = true }),
				mkNode("b", 4000, gi, func(n *cluster.Node) { n.Status = cluster.NodeDown }),
				mkNode("c", 4000, gi, func(n *cluster.Node) { n.Status = cluster.NodeNotReady }),
			},
			req:  small,
			want: "0/3 nodes are available: 2 node(s) were not ready, 1 node(s) were unschedulable",
		},
		{name: "no nodes", req: small, want: "0/0 nodes are available: no nodes registered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := mkWorkload(cluster.KindDeployment, "web", 2, tc.req, func(w *cluster.Workload) { w.Template.NodeSelector = tc.selector })
			st := mkState(tc.nodes, []*cluster.Workload{w})
			plan := Compute(st, t0, NewRandIDs(1, 1))
			if len(plan.Create) != 2 {
				t.Fatalf("created %d", len(plan.Create))
			}
			for _, p := range plan.Create {
				if p.NodeName != "" || p.SchedulingMessage != tc.want {
					t.Fatalf("%s on %q: %q\nwant %q", p.Name, p.NodeName, p.SchedulingMessage, tc.want)
				}
			}
			// Committed as Pending with that message, the next pass is empty.
			st = apply(t, st, plan)
			if plan := Compute(st, t0, NewRandIDs(1, 1)); !plan.Empty() {
				t.Fatalf("second pass not empty: %+v", plan)
			}
		})
	}
}

func TestPendingPodPlacedAndMessageChanges(t *testing.T) {
	p := mkPod(nil, "bare", "", false, t0)
	p.Spec.Containers = []cluster.Container{{Name: "c", Requests: cluster.Resources{MilliCPU: 2000}}}
	p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	p.SchedulingMessage = "old message"
	nodes := []*cluster.Node{mkNode("a", 4000, gi), mkNode("b", 4000, gi, withLabels("disk", "ssd"))}
	plan := Compute(mkState(nodes, nil, p), t0, NewRandIDs(1, 1))
	if len(plan.Place) != 1 || plan.Place[0].Node != "b" || plan.Place[0].Pod != p.Ref() {
		t.Fatalf("place %+v", plan.Place)
	}
	nodes[1].Allocatable.MilliCPU = 1000
	plan = Compute(mkState(nodes, nil, p), t0, NewRandIDs(1, 1))
	// Equal counts keep the filters' order.
	want := "0/2 nodes are available: 1 node(s) didn't match node selector, 1 insufficient cpu"
	if len(plan.Pending) != 1 || plan.Pending[0].Message != want {
		t.Fatalf("pending %+v", plan.Pending)
	}
}

func TestGPUAssignment(t *testing.T) {
	nodes := []*cluster.Node{mkNode("g", 64000, 64*gi, withGPUs(4))}
	gw := mkWorkload(cluster.KindDeployment, "train", 3, cluster.Resources{MilliCPU: 100, GPU: 1})
	holder := mkPod(nil, "holder", "g", true, t0)
	holder.Spec.Containers = []cluster.Container{{Name: "c", Requests: cluster.Resources{GPU: 1}}}
	holder.GPUs = []string{"GPU-g-0"}
	st := mkState(nodes, []*cluster.Workload{gw}, holder)
	plan := Compute(st, t0, NewRandIDs(1, 1))
	seen := map[string]bool{"GPU-g-0": true}
	for _, p := range plan.Create {
		if len(p.GPUs) != 1 || seen[p.GPUs[0]] {
			t.Fatalf("%s got %v (taken: %v)", p.Name, p.GPUs, seen)
		}
		seen[p.GPUs[0]] = true
	}
	// A fourth would find no GPU left, though the count of free cpu is fine.
	st = apply(t, st, plan)
	w2 := gw.Clone()
	w2.Replicas = 4
	tx := st.Txn(st.Index() + 1)
	tx.PutWorkload(w2)
	st = tx.Commit()
	plan = Compute(st, t0, NewRandIDs(1, 1))
	if len(plan.Create) != 1 || plan.Create[0].SchedulingMessage != "0/1 nodes are available: 1 insufficient nvidia.com/gpu" {
		t.Fatalf("fourth: %+v", plan.Create)
	}
	// Once the holder has finished it holds nothing: its GPU is free again.
	h := holder.Clone()
	h.Status.Phase = cluster.PodSucceeded
	tx = st.Txn(st.Index() + 1)
	tx.PutPod(h)
	plan = Compute(tx.Commit(), t0, NewRandIDs(1, 1))
	if len(plan.Create) != 1 || !slices.Equal(plan.Create[0].GPUs, []string{"GPU-g-0"}) {
		t.Fatalf("after holder finished: %+v", plan.Create)
	}
}

func TestGPUsNeverDoubledInOnePass(t *testing.T) {
	nodes := []*cluster.Node{mkNode("g1", 64000, 64*gi, withGPUs(2)), mkNode("g2", 64000, 64*gi, withGPUs(3))}
	w := mkWorkload(cluster.KindDeployment, "train", 3, cluster.Resources{GPU: 2}, func(w *cluster.Workload) {
		w.Template.NodeSelector = nil
	})
	plan := Compute(mkState(nodes, []*cluster.Workload{w}), t0, NewRandIDs(1, 1))
	seen := map[string]bool{}
	placed := 0
	for _, p := range plan.Create {
		for _, g := range p.GPUs {
			if seen[g] {
				t.Fatalf("GPU %s twice", g)
			}
			seen[g] = true
		}
		if p.NodeName != "" {
			placed++
			if len(p.GPUs) != 2 {
				t.Fatalf("%s on %s with %v", p.Name, p.NodeName, p.GPUs)
			}
		}
	}
	if placed != 2 {
		t.Fatalf("placed %d of 3 (2+3 GPUs hold two 2-GPU pods)", placed)
	}
}

func TestHostPortConflicts(t *testing.T) {
	withPort := func(w *cluster.Workload) {
		w.Template.Containers[0].Ports = []cluster.ContainerPort{{ContainerPort: 8080, HostPort: 80}}
	}
	w := mkWorkload(cluster.KindDeployment, "lb", 3, small, withPort)
	other := mkPod(nil, "other", "a", true, t0)
	other.Spec.Containers = []cluster.Container{{Name: "c", Ports: []cluster.ContainerPort{{ContainerPort: 80, HostPort: 80}}}}
	udp := mkPod(nil, "udp", "b", true, t0)
	udp.Spec.Containers = []cluster.Container{{Name: "c", Ports: []cluster.ContainerPort{{ContainerPort: 80, HostPort: 80, Protocol: "UDP"}}}}
	st := mkState(threeNodes(), []*cluster.Workload{w}, other, udp)
	plan := Compute(st, t0, NewRandIDs(1, 1))
	var nodes []string
	msgs := 0
	for _, p := range plan.Create {
		if p.NodeName != "" {
			nodes = append(nodes, p.NodeName)
		} else if p.SchedulingMessage == "0/3 nodes are available: 3 node(s) didn't have free ports for the requested pod ports" {
			msgs++
		}
	}
	slices.Sort(nodes)
	if !slices.Equal(nodes, []string{"b", "c"}) || msgs != 1 {
		t.Fatalf("placed on %v, %d port messages; %+v", nodes, msgs, plan.Create)
	}
}

func TestOrphansAndGarbage(t *testing.T) {
	gone := &cluster.Workload{Kind: cluster.KindDeployment, Name: "gone", UID: "uid-gone"}
	orphanPlaced := mkPod(gone, "orphan-placed", "a", true, t0)
	orphanPending := mkPod(gone, "orphan-pending", "", false, t0)
	bare := mkPod(nil, "bare", "a", true, t0)
	bareFailed := mkPod(nil, "bare-failed", "a", false, t0)
	bareFailed.Status.Phase = cluster.PodFailed
	termStopped := mkPod(nil, "term-stopped", "a", false, t0)
	termStopped.Terminating, termStopped.Status.Stopped = true, true
	termUnplaced := mkPod(nil, "term-unplaced", "", false, t0)
	termUnplaced.Terminating = true
	termNodeGone := mkPod(nil, "term-nodegone", "zz", false, t0)
	termNodeGone.Terminating = true
	termRunning := mkPod(nil, "term-running", "a", true, t0)
	termRunning.Terminating = true
	st := mkState(threeNodes(), nil, orphanPlaced, orphanPending, bare, bareFailed, termStopped, termUnplaced, termNodeGone, termRunning)
	plan := Compute(st, t0, NewRandIDs(1, 1))
	if got := refNames(plan.Terminate); !slices.Equal(got, []string{"orphan-placed"}) {
		t.Errorf("terminate %v", got)
	}
	del := refNames(plan.Delete)
	slices.Sort(del)
	if !slices.Equal(del, []string{"orphan-pending", "term-nodegone", "term-stopped", "term-unplaced"}) {
		t.Errorf("delete %v", del)
	}
	if len(plan.Create)+len(plan.Place)+len(plan.Pending) != 0 {
		t.Errorf("bare pods must never be replaced: %+v", plan)
	}
}

func TestIdleClusterEmptyPlan(t *testing.T) {
	nodes := threeNodes()
	nodes = append(nodes, mkNode("g", 8000, 16*gi, withGPUs(2)))
	ws := []*cluster.Workload{
		mkWorkload(cluster.KindDeployment, "web", 5, small),
		mkWorkload(cluster.KindDeployment, "big", 2, cluster.Resources{MilliCPU: 100000}), // never fits
		mkWorkload(cluster.KindDeployment, "gpu", 2, cluster.Resources{GPU: 1}),
		mkSts(3),
	}
	st := converge(t, mkState(nodes, ws, mkPod(nil, "bare", "a", true, t0)))
	for range 3 {
		if plan := Compute(st, t0, NewRandIDs(9, 9)); !plan.Empty() {
			t.Fatalf("idle cluster plan: %+v", plan)
		}
	}
}

func TestDeterministic(t *testing.T) {
	var nodes []*cluster.Node
	for i := range 20 {
		nodes = append(nodes, mkNode(string(rune('a'+i)), 2000, 4*gi, withGPUs(i%3)))
	}
	ws := []*cluster.Workload{
		mkWorkload(cluster.KindDeployment, "web", 30, small),
		mkWorkload(cluster.KindDeployment, "gpu", 10, cluster.Resources{MilliCPU: 500, GPU: 1}),
		mkSts(4, func(w *cluster.Workload) { w.PodManagementPolicy = "Parallel" }),
	}
	st := mkState(nodes, ws, mkPod(nil, "pending", "", false, t0))
	a := Compute(st, t0, NewRandIDs(7, 7))
	b := Compute(st, t0, NewRandIDs(7, 7))
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two passes with the same seed differ")
	}
	if c := Compute(st, t0, NewRandIDs(8, 8)); reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave identical names and UIDs")
	}
}

func TestRandIDsUID(t *testing.T) {
	g := NewRandIDs(1, 2)
	seen := map[string]bool{}
	for range 1000 {
		u := g.NewUID()
		if len(u) != 36 || u[14] != '4' || seen[u] {
			t.Fatalf("uid %q", u)
		}
		seen[u] = true
	}
}

// TestFillingUp places more pods than fit on more nodes than a placement
// looks at: nodes drop out of the candidates as they fill, and every pod
// after the last fitting one gets the full count.
func TestFillingUp(t *testing.T) {
	var nodes []*cluster.Node
	for i := range 300 {
		nodes = append(nodes, mkNode(fmt.Sprintf("n%03d", i), 1000, 8*gi))
	}
	w := mkWorkload(cluster.KindDeployment, "web", 700, cluster.Resources{MilliCPU: 400})
	plan := Compute(mkState(nodes, []*cluster.Workload{w}), t0, NewRandIDs(1, 1))
	per := map[string]int{}
	pending := 0
	for _, p := range plan.Create {
		if p.NodeName == "" {
			pending++
			if p.SchedulingMessage != "0/300 nodes are available: 300 insufficient cpu" {
				t.Fatalf("message %q", p.SchedulingMessage)
			}
			continue
		}
		per[p.NodeName]++
	}
	if pending != 100 || len(per) != 300 {
		t.Fatalf("%d pending, %d nodes used", pending, len(per))
	}
	for n, c := range per {
		if c != 2 {
			t.Fatalf("%s has %d", n, c)
		}
	}
}

func TestRecreateDoesNotWaitForDeadNodes(t *testing.T) {
	w := mkWorkload(cluster.KindDeployment, "web", 2, small, func(w *cluster.Workload) { w.Strategy = "Recreate" })
	nodes := threeNodes()
	nodes[2].Status = cluster.NodeDown
	stuck := mkPod(w, "web-stuck", "c", true, t0)
	stuck.Terminating = true
	w2 := newImage(w, "img:2")
	plan := Compute(mkState(nodes, []*cluster.Workload{w2}, stuck), t0, NewRandIDs(1, 1))
	if len(plan.Create) != 2 {
		t.Fatalf("created %d", len(plan.Create))
	}
}

func TestFilterIndexes(t *testing.T) {
	if len(allFilters) != numFilters || allFilters[firstDynamic] != (cpuFilter{}) {
		t.Fatal("numFilters/firstDynamic out of step with the filter lists")
	}
}

// TestEphemeralStorageAccounting: requests of ephemeral-storage are held on
// the node like memory: the pods placed and those already there count.
func TestEphemeralStorageAccounting(t *testing.T) {
	nodes := []*cluster.Node{mkNode("a", 64000, 64*gi, withDisk(10*gi)), mkNode("b", 64000, 64*gi, withDisk(5*gi))}
	holder := mkPod(nil, "holder", "b", true, t0)
	holder.Spec.Containers = []cluster.Container{{Name: "c", Requests: cluster.Resources{EphemeralStorage: 3 * gi}}}
	w := mkWorkload(cluster.KindDeployment, "web", 5, cluster.Resources{EphemeralStorage: 3 * gi})
	plan := Compute(mkState(nodes, []*cluster.Workload{w}, holder), t0, NewRandIDs(1, 1))
	per := map[string]int{}
	var pending []string
	for _, p := range plan.Create {
		if p.NodeName == "" {
			pending = append(pending, p.SchedulingMessage)
			continue
		}
		per[p.NodeName]++
	}
	// a: 10Gi takes 3 pods of 3Gi; b: 5Gi with 3Gi held takes none.
	if per["a"] != 3 || per["b"] != 0 {
		t.Fatalf("placed %v, want 3 on a and none on b", per)
	}
	want := "0/2 nodes are available: 2 insufficient ephemeral-storage"
	if len(pending) != 2 || pending[0] != want || pending[1] != want {
		t.Fatalf("pending messages %q, want 2 × %q", pending, want)
	}
}
