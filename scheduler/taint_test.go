package scheduler

import (
	"testing"

	"shoal/cluster"
)

func withTaints(ts ...cluster.Taint) func(*cluster.Node) {
	return func(n *cluster.Node) { n.Taints = ts }
}

func diskPressure(n *cluster.Node) { n.DiskPressure = true }

func TestTaints(t *testing.T) {
	gpuTaint := cluster.Taint{Key: "gpu", Value: "true", Effect: cluster.TaintNoSchedule}
	evict := cluster.Taint{Key: "maintenance", Effect: cluster.TaintNoExecute}
	soft := cluster.Taint{Key: "spot", Effect: cluster.TaintPreferNoSchedule}
	tolGPU := []cluster.Toleration{{Key: "gpu", Operator: cluster.TolerationExists}}
	for _, tc := range []struct {
		name   string
		nodes  []*cluster.Node
		tols   []cluster.Toleration
		nodes2 map[string]bool // where the pods may land; nil: nowhere
		want   string          // the Pending message when nowhere
	}{
		{
			name:  "untolerated NoSchedule",
			nodes: []*cluster.Node{mkNode("a", 4000, gi, withTaints(gpuTaint)), mkNode("b", 4000, gi, withTaints(gpuTaint)), mkNode("c", 4000, gi, withTaints(gpuTaint))},
			want:  "0/3 nodes are available: 3 node(s) had untolerated taint {gpu: true}",
		},
		{
			name:   "tolerated NoSchedule",
			nodes:  []*cluster.Node{mkNode("a", 4000, gi, withTaints(gpuTaint)), mkNode("b", 4000, gi, withTaints(evict))},
			tols:   tolGPU,
			nodes2: map[string]bool{"a": true},
		},
		{
			name:  "NoExecute keeps new pods off too, one part per taint",
			nodes: []*cluster.Node{mkNode("a", 4000, gi, withTaints(gpuTaint)), mkNode("b", 4000, gi, withTaints(evict)), mkNode("c", 4000, gi, withTaints(evict)), mkNode("d", 1, gi)},
			want:  "0/4 nodes are available: 2 node(s) had untolerated taint {maintenance: }, 1 node(s) had untolerated taint {gpu: true}, 1 insufficient cpu",
		},
		{
			name:  "DiskPressure acts as Kubernetes' disk-pressure taint",
			nodes: []*cluster.Node{mkNode("a", 4000, gi, diskPressure), mkNode("b", 4000, gi, diskPressure)},
			want:  "0/2 nodes are available: 2 node(s) had untolerated taint {node.kubernetes.io/disk-pressure: }",
		},
		{
			name:   "DiskPressure: placed beside it",
			nodes:  []*cluster.Node{mkNode("a", 64000, 64*gi, diskPressure), mkNode("b", 4000, gi)},
			nodes2: map[string]bool{"b": true},
		},
		{
			name:   "DiskPressure tolerated",
			nodes:  []*cluster.Node{mkNode("a", 4000, gi, diskPressure)},
			tols:   []cluster.Toleration{{Key: cluster.TaintDiskPressure, Operator: cluster.TolerationExists, Effect: cluster.TaintNoSchedule}},
			nodes2: map[string]bool{"a": true},
		},
		{
			name:   "PreferNoSchedule is avoided while there is room elsewhere",
			nodes:  []*cluster.Node{mkNode("a", 64000, 64*gi, withTaints(soft)), mkNode("b", 4000, gi)},
			nodes2: map[string]bool{"b": true},
		},
		{
			name:   "PreferNoSchedule is used when nothing else fits",
			nodes:  []*cluster.Node{mkNode("a", 64000, 64*gi, withTaints(soft)), mkNode("b", 4000, gi, withTaints(gpuTaint))},
			nodes2: map[string]bool{"a": true},
		},
		{
			name:   "tolerated PreferNoSchedule is not avoided",
			nodes:  []*cluster.Node{mkNode("a", 64000, 64*gi, withTaints(soft)), mkNode("b", 4000, gi)},
			tols:   []cluster.Toleration{{Key: "spot", Operator: cluster.TolerationExists, Effect: cluster.TaintPreferNoSchedule}},
			nodes2: map[string]bool{"a": true, "b": true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := mkWorkload(cluster.KindDeployment, "web", 2, small, func(w *cluster.Workload) { w.Template.Tolerations = tc.tols })
			st := mkState(tc.nodes, []*cluster.Workload{w})
			plan := Compute(st, t0, NewRandIDs(1, 1))
			if len(plan.Create) != 2 {
				t.Fatalf("created %d", len(plan.Create))
			}
			for _, p := range plan.Create {
				if tc.nodes2 == nil {
					if p.NodeName != "" || p.SchedulingMessage != tc.want {
						t.Fatalf("%s on %q: %q\nwant %q", p.Name, p.NodeName, p.SchedulingMessage, tc.want)
					}
					continue
				}
				if !tc.nodes2[p.NodeName] {
					t.Fatalf("%s on %q (%q), want one of %v", p.Name, p.NodeName, p.SchedulingMessage, tc.nodes2)
				}
			}
		})
	}
}

// A shape's static set depends on its tolerations: two workloads alike but
// for them must not share it.
func TestTolerationsSplitShapes(t *testing.T) {
	nodes := []*cluster.Node{mkNode("a", 4000, gi, withTaints(cluster.Taint{Key: "gpu", Effect: cluster.TaintNoSchedule}))}
	plain := mkWorkload(cluster.KindDeployment, "plain", 1, small)
	tol := mkWorkload(cluster.KindDeployment, "tol", 1, small, func(w *cluster.Workload) {
		w.Template.Tolerations = []cluster.Toleration{{Key: "gpu", Operator: cluster.TolerationExists}}
	})
	plan := Compute(mkState(nodes, []*cluster.Workload{plain, tol}), t0, NewRandIDs(1, 1))
	for _, p := range plan.Create {
		want := "a"
		if p.Owner.UID == plain.UID {
			want = ""
		}
		if p.NodeName != want {
			t.Errorf("%s on %q (%s), want %q", p.Name, p.NodeName, p.SchedulingMessage, want)
		}
	}
}

func TestNodeAffinity(t *testing.T) {
	zone := func(z string) func(*cluster.Node) { return withLabels("topology.kubernetes.io/zone", z) }
	in := func(key string, values ...string) cluster.NodeSelectorTerm {
		return cluster.NodeSelectorTerm{MatchExpressions: []cluster.NodeSelectorRequirement{{Key: key, Operator: cluster.OpIn, Values: values}}}
	}
	for _, tc := range []struct {
		name  string
		nodes []*cluster.Node
		aff   *cluster.NodeAffinity
		where map[string]bool
		want  string
	}{
		{
			name:  "required",
			nodes: []*cluster.Node{mkNode("a", 64000, 64*gi, zone("x")), mkNode("b", 4000, gi, zone("y"))},
			aff:   &cluster.NodeAffinity{Required: []cluster.NodeSelectorTerm{in("topology.kubernetes.io/zone", "y")}},
			where: map[string]bool{"b": true},
		},
		{
			name:  "required by name",
			nodes: []*cluster.Node{mkNode("a", 64000, 64*gi), mkNode("b", 4000, gi)},
			aff: &cluster.NodeAffinity{Required: []cluster.NodeSelectorTerm{{MatchFields: []cluster.NodeSelectorRequirement{
				{Key: cluster.FieldNodeName, Operator: cluster.OpIn, Values: []string{"b"}}}}}},
			where: map[string]bool{"b": true},
		},
		{
			name:  "required nowhere",
			nodes: []*cluster.Node{mkNode("a", 4000, gi, zone("x")), mkNode("b", 4000, gi, zone("x")), mkNode("c", 1, gi, zone("y"))},
			aff:   &cluster.NodeAffinity{Required: []cluster.NodeSelectorTerm{in("topology.kubernetes.io/zone", "y")}},
			want:  "0/3 nodes are available: 2 node(s) didn't match Pod's node affinity, 1 insufficient cpu",
		},
		{
			name:  "preferred beats the emptier node",
			nodes: []*cluster.Node{mkNode("a", 64000, 64*gi, zone("x")), mkNode("b", 4000, gi, zone("y"))},
			aff:   &cluster.NodeAffinity{Preferred: []cluster.PreferredSchedulingTerm{{Weight: 1, Preference: in("topology.kubernetes.io/zone", "y")}}},
			where: map[string]bool{"b": true},
		},
		{
			name:  "heavier preference wins",
			nodes: []*cluster.Node{mkNode("a", 4000, gi, zone("x")), mkNode("b", 4000, gi, zone("y"))},
			aff: &cluster.NodeAffinity{Preferred: []cluster.PreferredSchedulingTerm{
				{Weight: 10, Preference: in("topology.kubernetes.io/zone", "y")},
				{Weight: 5, Preference: in("topology.kubernetes.io/zone", "x")},
			}},
			where: map[string]bool{"b": true},
		},
		{
			name:  "preferred falls back when the node is full",
			nodes: []*cluster.Node{mkNode("a", 4000, gi, zone("x")), mkNode("b", 1, gi, zone("y"))},
			aff:   &cluster.NodeAffinity{Preferred: []cluster.PreferredSchedulingTerm{{Weight: 100, Preference: in("topology.kubernetes.io/zone", "y")}}},
			where: map[string]bool{"a": true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := mkWorkload(cluster.KindDeployment, "web", 2, small, func(w *cluster.Workload) {
				w.Template.Affinity = &cluster.Affinity{NodeAffinity: tc.aff}
			})
			plan := Compute(mkState(tc.nodes, []*cluster.Workload{w}), t0, NewRandIDs(1, 1))
			if len(plan.Create) != 2 {
				t.Fatalf("created %d", len(plan.Create))
			}
			for _, p := range plan.Create {
				if tc.where == nil {
					if p.NodeName != "" || p.SchedulingMessage != tc.want {
						t.Fatalf("%s on %q: %q\nwant %q", p.Name, p.NodeName, p.SchedulingMessage, tc.want)
					}
				} else if !tc.where[p.NodeName] {
					t.Fatalf("%s on %q (%q), want one of %v", p.Name, p.NodeName, p.SchedulingMessage, tc.where)
				}
			}
		})
	}
}
