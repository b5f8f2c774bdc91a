package scheduler

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"testing"

	"shoal/cluster"
)

const (
	zoneKey = "topology.kubernetes.io/zone"
	hostKey = "kubernetes.io/hostname"
)

// zoned is a node in zone z ("" for none) with cpu millicores.
func zoned(name, z string, cpu int64, edit ...func(*cluster.Node)) *cluster.Node {
	labels := []string{hostKey, name}
	if z != "" {
		labels = append(labels, zoneKey, z)
	}
	return mkNode(name, cpu, 64*gi, append([]func(*cluster.Node){withLabels(labels...)}, edit...)...)
}

func sel(kv ...string) *cluster.LabelSelector {
	s := &cluster.LabelSelector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

func term(s *cluster.LabelSelector, key string) cluster.PodAffinityTerm {
	return cluster.PodAffinityTerm{LabelSelector: s, TopologyKey: key}
}

func antiAffinity(req ...cluster.PodAffinityTerm) func(*cluster.Workload) {
	return func(w *cluster.Workload) {
		w.Template.Affinity = &cluster.Affinity{PodAntiAffinity: &cluster.PodAffinity{Required: req}}
	}
}

func spreadOn(key string, skew int32, when string, edit ...func(*cluster.TopologySpreadConstraint)) func(*cluster.Workload) {
	return func(w *cluster.Workload) {
		c := cluster.TopologySpreadConstraint{MaxSkew: skew, TopologyKey: key, WhenUnsatisfiable: when, LabelSelector: sel("app", w.Name)}
		for _, e := range edit {
			e(&c)
		}
		w.Template.TopologySpreadConstraints = append(w.Template.TopologySpreadConstraints, c)
	}
}

// placedPod is a running bare pod with labels on node.
func runningPod(name, ns, node string, labels map[string]string, spec cluster.PodSpec) *cluster.Pod {
	p := mkPod(nil, name, node, true, t0)
	p.Namespace, p.Labels, p.Spec = ns, labels, spec
	return p
}

func TestPodAffinityPlacement(t *testing.T) {
	three := int32(3)
	guard := runningPod("guard", cluster.DefaultNamespace, "a", map[string]string{"role": "guard"}, cluster.PodSpec{
		Containers: []cluster.Container{{Name: "c", Image: "i"}},
		Affinity:   &cluster.Affinity{PodAntiAffinity: &cluster.PodAffinity{Required: []cluster.PodAffinityTerm{term(sel("app", "web"), hostKey)}}},
	})
	cache := runningPod("cache", cluster.DefaultNamespace, "c", map[string]string{"app": "cache", "tier": "x"}, cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Image: "i"}}})
	otherNS := runningPod("cache", "other", "c", map[string]string{"app": "cache"}, cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Image: "i"}}})
	abc := func() []*cluster.Node {
		return []*cluster.Node{zoned("a", "z1", 4000), zoned("b", "z1", 4000), zoned("c", "z2", 4000), zoned("d", "z2", 4000)}
	}
	tests := []struct {
		name     string
		nodes    []*cluster.Node
		pods     []*cluster.Pod
		replicas int32
		edit     []func(*cluster.Workload)
		group    func(n *cluster.Node) string // how placements are counted: node name by default
		want     map[string]int
		pending  string // each unplaced pod's message
	}{
		{
			name: "required anti-affinity on the hostname: one per node, the rest Pending", replicas: 5,
			nodes: abc(), edit: []func(*cluster.Workload){antiAffinity(term(sel("app", "web"), hostKey))},
			want:    map[string]int{"a": 1, "b": 1, "c": 1, "d": 1},
			pending: "0/4 nodes are available: 4 node(s) didn't match pod anti-affinity rules",
		},
		{
			name: "required anti-affinity on the zone: one per zone", replicas: 3,
			nodes: abc(), edit: []func(*cluster.Workload){antiAffinity(term(sel("app", "web"), zoneKey))},
			group: zoneOf, want: map[string]int{"z1": 1, "z2": 1},
			pending: "0/4 nodes are available: 4 node(s) didn't match pod anti-affinity rules",
		},
		{
			name: "a node without the topology label is no domain: anti-affinity passes it", replicas: 3,
			nodes: []*cluster.Node{zoned("a", "z1", 4000), zoned("b", "", 4000)},
			edit:  []func(*cluster.Workload){antiAffinity(term(sel("app", "web"), zoneKey))},
			want:  map[string]int{"a": 1, "b": 2},
		},
		{
			name: "a placed pod's required anti-affinity keeps matching pods away", replicas: 2,
			nodes: []*cluster.Node{zoned("a", "z1", 64000), zoned("b", "z1", 4000)}, pods: []*cluster.Pod{guard},
			want: map[string]int{"b": 2},
		},
		{
			name: "only the guarded node: existing pods' rule named", replicas: 1,
			nodes: []*cluster.Node{zoned("a", "z1", 64000)}, pods: []*cluster.Pod{guard},
			want:    map[string]int{},
			pending: "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules",
		},
		{
			name: "required affinity follows the selected pod's zone", replicas: 4,
			nodes: abc(), pods: []*cluster.Pod{cache},
			edit: []func(*cluster.Workload){func(w *cluster.Workload) {
				w.Template.Affinity = &cluster.Affinity{PodAffinity: &cluster.PodAffinity{Required: []cluster.PodAffinityTerm{term(sel("app", "cache"), zoneKey)}}}
			}},
			group: zoneOf, want: map[string]int{"z2": 4},
		},
		{
			name: "required affinity with no selected pod: Pending", replicas: 2,
			nodes: abc(),
			edit: []func(*cluster.Workload){func(w *cluster.Workload) {
				w.Template.Affinity = &cluster.Affinity{PodAffinity: &cluster.PodAffinity{Required: []cluster.PodAffinityTerm{term(sel("app", "cache"), zoneKey)}}}
			}},
			want:    map[string]int{},
			pending: "0/4 nodes are available: 4 node(s) didn't match pod affinity rules",
		},
		{
			name: "affinity to its own pods: the first goes anywhere, the rest join it", replicas: 4,
			nodes: abc(),
			edit: []func(*cluster.Workload){func(w *cluster.Workload) {
				w.Template.Affinity = &cluster.Affinity{PodAffinity: &cluster.PodAffinity{Required: []cluster.PodAffinityTerm{term(sel("app", "web"), zoneKey)}}}
			}},
			group: func(*cluster.Node) string { return "one zone" }, want: map[string]int{"one zone": 4},
		},
		{
			name: "namespaces: a pod of another namespace is not selected", replicas: 2,
			nodes: []*cluster.Node{zoned("c", "z2", 64000), zoned("d", "z2", 4000)}, pods: []*cluster.Pod{otherNS},
			edit: []func(*cluster.Workload){antiAffinity(term(sel("app", "cache"), hostKey))},
			want: map[string]int{"c": 1, "d": 1},
		},
		{
			name: "namespaces named: that namespace's pods are selected", replicas: 2,
			nodes: []*cluster.Node{zoned("c", "z2", 64000), zoned("d", "z2", 4000)}, pods: []*cluster.Pod{otherNS},
			edit: []func(*cluster.Workload){antiAffinity(cluster.PodAffinityTerm{LabelSelector: sel("app", "cache"), Namespaces: []string{"other"}, TopologyKey: hostKey})},
			want: map[string]int{"d": 2},
		},
		{
			name: "preferred anti-affinity outranks the free room", replicas: 2,
			nodes: []*cluster.Node{zoned("c", "z2", 64000), zoned("d", "z2", 4000)}, pods: []*cluster.Pod{cache},
			edit: []func(*cluster.Workload){func(w *cluster.Workload) {
				w.Template.Affinity = &cluster.Affinity{PodAntiAffinity: &cluster.PodAffinity{Preferred: []cluster.WeightedPodAffinityTerm{
					{Weight: 10, Term: cluster.PodAffinityTerm{LabelSelector: &cluster.LabelSelector{MatchExpressions: []cluster.LabelSelectorRequirement{{Key: "tier", Operator: cluster.OpExists}}}, TopologyKey: hostKey}}}}}
			}},
			want: map[string]int{"d": 2},
		},
		{
			name: "preferred affinity: next to the selected pod", replicas: 2,
			nodes: []*cluster.Node{zoned("b", "z1", 64000), zoned("c", "z2", 4000)}, pods: []*cluster.Pod{cache},
			edit: []func(*cluster.Workload){func(w *cluster.Workload) {
				w.Template.Affinity = &cluster.Affinity{PodAffinity: &cluster.PodAffinity{Preferred: []cluster.WeightedPodAffinityTerm{
					{Weight: 10, Term: term(sel("app", "cache"), hostKey)}}}}
			}},
			want: map[string]int{"c": 2},
		},
		{
			name: "spread over zones with maxSkew 1, though one zone has more room", replicas: 6,
			nodes: []*cluster.Node{zoned("a", "z1", 64000), zoned("b", "z2", 4000), zoned("c", "z3", 4000)},
			edit:  []func(*cluster.Workload){spreadOn(zoneKey, 1, cluster.DoNotSchedule)},
			want:  map[string]int{"a": 2, "b": 2, "c": 2},
		},
		{
			name: "spread: a full zone still counts, so the skew stops the rest", replicas: 3,
			nodes:   []*cluster.Node{zoned("a", "z1", 4000), zoned("b", "z2", 50)},
			edit:    []func(*cluster.Workload){spreadOn(zoneKey, 1, cluster.DoNotSchedule)},
			want:    map[string]int{"a": 1},
			pending: "0/2 nodes are available: 1 insufficient cpu, 1 node(s) didn't match pod topology spread constraints",
		},
		{
			name: "spread: nodes without the key are refused", replicas: 1,
			nodes:   []*cluster.Node{zoned("a", "", 4000)},
			edit:    []func(*cluster.Workload){spreadOn(zoneKey, 1, cluster.DoNotSchedule)},
			want:    map[string]int{},
			pending: "0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label)",
		},
		{
			name: "spread: with fewer than minDomains domains the minimum is 0", replicas: 3,
			nodes: abc(),
			edit:  []func(*cluster.Workload){spreadOn(zoneKey, 1, cluster.DoNotSchedule, func(c *cluster.TopologySpreadConstraint) { c.MinDomains = &three })},
			group: zoneOf, want: map[string]int{"z1": 1, "z2": 1},
			pending: "0/4 nodes are available: 4 node(s) didn't match pod topology spread constraints",
		},
		{
			name: "spread: a tainted zone counts by default (nodeTaintsPolicy Ignore)", replicas: 3,
			nodes:   []*cluster.Node{zoned("a", "z1", 4000), zoned("b", "z2", 4000), zoned("c", "z3", 4000, withTaints(cluster.Taint{Key: "k", Effect: cluster.TaintNoSchedule}))},
			edit:    []func(*cluster.Workload){spreadOn(zoneKey, 1, cluster.DoNotSchedule)},
			want:    map[string]int{"a": 1, "b": 1},
			pending: "0/3 nodes are available: 2 node(s) didn't match pod topology spread constraints, 1 node(s) had untolerated taint {k: }",
		},
		{
			name: "spread: nodeTaintsPolicy Honor leaves the tainted zone out", replicas: 3,
			nodes: []*cluster.Node{zoned("a", "z1", 4000), zoned("b", "z2", 4000), zoned("c", "z3", 4000, withTaints(cluster.Taint{Key: "k", Effect: cluster.TaintNoSchedule}))},
			edit:  []func(*cluster.Workload){spreadOn(zoneKey, 1, cluster.DoNotSchedule, func(c *cluster.TopologySpreadConstraint) { c.NodeTaintsPolicy = cluster.PolicyHonor })},
			group: func(n *cluster.Node) string { return "a or b" }, want: map[string]int{"a or b": 3},
		},
		{
			name: "spread: nodeAffinityPolicy Ignore counts a zone the selector excludes", replicas: 3,
			nodes: []*cluster.Node{zoned("a", "z1", 4000, withGPU), zoned("b", "z2", 4000, withGPU), zoned("c", "z3", 4000)},
			edit: []func(*cluster.Workload){
				func(w *cluster.Workload) { w.Template.NodeSelector = map[string]string{"gpu": "yes"} },
				spreadOn(zoneKey, 1, cluster.DoNotSchedule, func(c *cluster.TopologySpreadConstraint) { c.NodeAffinityPolicy = cluster.PolicyIgnore }),
			},
			want:    map[string]int{"a": 1, "b": 1},
			pending: "0/3 nodes are available: 2 node(s) didn't match pod topology spread constraints, 1 node(s) didn't match node selector",
		},
		{
			name: "spread: by default the selector's nodes alone count", replicas: 3,
			nodes: []*cluster.Node{zoned("a", "z1", 4000, withGPU), zoned("b", "z2", 4000, withGPU), zoned("c", "z3", 4000)},
			edit: []func(*cluster.Workload){
				func(w *cluster.Workload) { w.Template.NodeSelector = map[string]string{"gpu": "yes"} },
				spreadOn(zoneKey, 1, cluster.DoNotSchedule),
			},
			group: func(n *cluster.Node) string { return "a or b" }, want: map[string]int{"a or b": 3},
		},
		{
			name: "ScheduleAnyway prefers the emptier zone and never refuses", replicas: 4,
			nodes: []*cluster.Node{zoned("a", "z1", 64000), zoned("b", "z2", 4000)},
			edit:  []func(*cluster.Workload){spreadOn(zoneKey, 1, cluster.ScheduleAnyway)},
			want:  map[string]int{"a": 2, "b": 2},
		},
		{
			name: "matchLabelKeys: pods of another template hash do not count", replicas: 2,
			nodes: []*cluster.Node{zoned("a", "z1", 4000), zoned("b", "z2", 4000)},
			pods:  []*cluster.Pod{runningPod("old", cluster.DefaultNamespace, "a", map[string]string{"app": "web", "hash": "old"}, cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Image: "i"}}})},
			edit: []func(*cluster.Workload){
				func(w *cluster.Workload) { w.TemplateLabels["hash"] = "new" },
				antiAffinity(cluster.PodAffinityTerm{LabelSelector: sel("app", "web"), TopologyKey: hostKey, MatchLabelKeys: []string{"hash"}}),
			},
			want: map[string]int{"a": 1, "b": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mkWorkload(cluster.KindDeployment, "web", tt.replicas, small, tt.edit...)
			plan := Compute(mkState(tt.nodes, []*cluster.Workload{w}, tt.pods...), t0, NewRandIDs(1, 1))
			if len(plan.Create) != int(tt.replicas) {
				t.Fatalf("created %d pods, want %d", len(plan.Create), tt.replicas)
			}
			nodes := map[string]*cluster.Node{}
			for _, n := range tt.nodes {
				nodes[n.Name] = n
			}
			group := tt.group
			if group == nil {
				group = func(n *cluster.Node) string { return n.Name }
			}
			got, placed := map[string]int{}, 0
			for _, p := range plan.Create {
				if p.NodeName == "" {
					if p.SchedulingMessage != tt.pending {
						t.Errorf("%s Pending: %q\nwant %q", p.Name, p.SchedulingMessage, tt.pending)
					}
					continue
				}
				got[group(nodes[p.NodeName])]++
				placed++
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("placed %v, want %v", got, tt.want)
			}
		})
	}
}

func zoneOf(n *cluster.Node) string { return n.Labels[zoneKey] }

func withGPU(n *cluster.Node) { n.Labels["gpu"] = "yes" }

// TestPodAffinityAcrossPasses: what one pass placed constrains the next,
// and a rolling change of a hostname anti-affinity workload on as many
// nodes as replicas waits for the old pods rather than doubling up.
func TestPodAffinityAcrossPasses(t *testing.T) {
	nodes := []*cluster.Node{zoned("a", "z1", 4000), zoned("b", "z2", 4000), zoned("c", "z3", 4000)}
	w := mkWorkload(cluster.KindDeployment, "web", 2, small, antiAffinity(term(sel("app", "web"), hostKey)), spreadOn(zoneKey, 1, cluster.DoNotSchedule))
	st := kubelet(apply(t, mkState(nodes, []*cluster.Workload{w}), Compute(mkState(nodes, []*cluster.Workload{w}), t0, NewRandIDs(1, 1))), allReady)
	w2 := w.Clone()
	w2.Replicas = 4
	tx := st.Txn(st.Index() + 1)
	tx.PutWorkload(w2)
	st = tx.Commit()
	plan := Compute(st, t0, NewRandIDs(2, 2))
	st = apply(t, st, plan)
	perNode, pending := map[string]int{}, 0
	for p := range st.Pods() {
		if p.NodeName == "" {
			pending++
			if want := "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules"; p.SchedulingMessage != want {
				t.Errorf("Pending: %q, want %q", p.SchedulingMessage, want)
			}
			continue
		}
		perNode[p.NodeName]++
	}
	if want := map[string]int{"a": 1, "b": 1, "c": 1}; !maps.Equal(perNode, want) || pending != 1 {
		t.Errorf("pods per node %v and %d Pending, want %v and 1", perNode, pending, want)
	}
}

// TestPodAffinityBenchCluster checks the benchmark's placements keep
// every rule: one pod of a workload per node, and zone counts within 1.
func TestPodAffinityBenchCluster(t *testing.T) {
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip("places 100,000 pods")
	}
	st := podAffinityCluster()
	plan := Compute(st, t0, NewRandIDs(1, 1))
	type key struct{ app, where string }
	count := map[key]int{}
	for _, p := range plan.Create {
		if p.NodeName == "" {
			t.Fatalf("%s Pending: %s", p.Name, p.SchedulingMessage)
		}
		n, _ := st.Node(p.NodeName)
		app := p.Labels["app"]
		if count[key{app, p.NodeName}]++; count[key{app, p.NodeName}] > 1 {
			t.Fatalf("%s: two pods of %s on node %s", p.Name, app, p.NodeName)
		}
		count[key{app, "zone " + n.Labels[zoneKey]}]++
	}
	for i := range 100 {
		app := fmt.Sprintf("app-%03d", i)
		lo, hi := 1<<30, 0
		for z := range 10 {
			c := count[key{app, fmt.Sprintf("zone z%d", z)}]
			lo, hi = min(lo, c), max(hi, c)
		}
		if hi-lo > 1 {
			t.Errorf("%s: zone counts from %d to %d", app, lo, hi)
		}
	}
}

// TestDaemonPodAntiAffinity: a daemon pod bound to its node is judged
// there by the inter-pod rules too, and says why it waits.
func TestDaemonPodAntiAffinity(t *testing.T) {
	nodes := []*cluster.Node{zoned("a", "z1", 4000), zoned("b", "z1", 4000)}
	web := runningPod("web", cluster.DefaultNamespace, "a", map[string]string{"app": "web"}, cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Image: "i"}}})
	ds := mkWorkload(cluster.KindDaemonSet, "agent", 0, small, antiAffinity(term(sel("app", "web"), hostKey)))
	plan := Compute(mkState(nodes, []*cluster.Workload{ds}, web), t0, NewRandIDs(1, 1))
	got := map[string]string{}
	for _, p := range plan.Create {
		got[p.DaemonNode] = p.NodeName + "|" + p.SchedulingMessage
	}
	want := map[string]string{
		"a": "|daemon pod for node a: 0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules",
		"b": "b|",
	}
	if !maps.Equal(got, want) {
		t.Errorf("daemon pods %v, want %v", got, want)
	}
}

// TestTopologyDomains: a label's values number the domains; the hostname
// falls back to the node's name, and one node per domain reads as such.
func TestTopologyDomains(t *testing.T) {
	nodes := []nodeInfo{
		{node: zoned("a", "z1", 1)},
		{node: mkNode("b", 1, gi)},
		{node: zoned("c", "z1", 1)},
		{node: zoned("d", "z2", 1)},
	}
	ip := newInterPod(nodes, cluster.Empty())
	tests := []struct {
		key      string
		dom      []int32
		n        int32
		identity bool
	}{
		{hostKey, []int32{0, 1, 2, 3}, 4, true},
		{zoneKey, []int32{0, -1, 0, 1}, 2, false},
		{"missing", []int32{-1, -1, -1, -1}, 0, false},
	}
	for _, tt := range tests {
		topo := ip.topologyOf(tt.key)
		if !slices.Equal(topo.dom, tt.dom) || topo.n != tt.n || topo.identity != tt.identity {
			t.Errorf("%s: dom %v n %d identity %t, want %v %d %t", tt.key, topo.dom, topo.n, topo.identity, tt.dom, tt.n, tt.identity)
		}
		c := checkOf(topo, []int32{5, 6, 7, 8})
		for i, d := range tt.dom {
			want := int32(0)
			if d >= 0 {
				want = []int32{5, 6, 7, 8}[d]
			}
			if got := c.count(int32(i)); got != want {
				t.Errorf("%s: count(%d) = %d, want %d", tt.key, i, got, want)
			}
		}
	}
}

// TestPodAffinityNamespaceSelector: a namespaceSelector selects
// namespaces by their labels, the name label Kubernetes gives each
// included.
func TestPodAffinityNamespaceSelector(t *testing.T) {
	nodes := []*cluster.Node{zoned("c", "z2", 64000), zoned("d", "z2", 4000)}
	cache := runningPod("cache", "other", "c", map[string]string{"app": "cache"}, cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Image: "i"}}})
	tests := []struct {
		name string
		sel  *cluster.LabelSelector
		want map[string]int
	}{
		{"by label", sel("team", "data"), map[string]int{"d": 2}},
		{"by name label", sel(cluster.LabelNamespaceName, "other"), map[string]int{"d": 2}},
		{"empty selects all", &cluster.LabelSelector{}, map[string]int{"d": 2}},
		{"no namespace matches", sel("team", "web"), map[string]int{"c": 1, "d": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mkWorkload(cluster.KindDeployment, "web", 2, small, antiAffinity(cluster.PodAffinityTerm{
				LabelSelector: sel("app", "cache"), NamespaceSelector: tt.sel, TopologyKey: hostKey}))
			tx := mkState(nodes, []*cluster.Workload{w}, cache).Txn(2)
			tx.PutObject(&cluster.Object{Kind: cluster.KindNamespace, Name: "other", UID: "ns-other", Labels: map[string]string{"team": "data"}})
			got := map[string]int{}
			for _, p := range Compute(tx.Commit(), t0, NewRandIDs(1, 1)).Create {
				got[p.NodeName]++
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("placed %v, want %v", got, tt.want)
			}
		})
	}
}
