package scheduler

import (
	"fmt"
	"testing"

	"shoal/cluster"
)

// benchCluster is 5,000 nodes (16 cores, 64Gi) and 100 Deployments of
// 1,000 replicas asking for 100m and 128Mi: 100,000 pods to place.
func benchCluster() *cluster.State {
	nodes := make([]*cluster.Node, 5000)
	for i := range nodes {
		nodes[i] = mkNode(fmt.Sprintf("node-%04d", i), 16000, 64*gi)
	}
	ws := make([]*cluster.Workload, 100)
	for i := range ws {
		ws[i] = mkWorkload(cluster.KindDeployment, fmt.Sprintf("app-%03d", i), 1000, small)
	}
	return mkState(nodes, ws)
}

// BenchmarkPlace100k measures one pass that creates and places 100,000
// pods on 5,000 nodes.
func BenchmarkPlace100k(b *testing.B) {
	st := benchCluster()
	b.ReportAllocs()
	b.ResetTimer()
	placed := 0
	for i := range b.N {
		plan := Compute(st, t0, NewRandIDs(uint64(i), 1))
		for _, p := range plan.Create {
			if p.NodeName != "" {
				placed++
			}
		}
	}
	if placed != 100000*b.N {
		b.Fatalf("placed %d of %d", placed, 100000*b.N)
	}
	b.ReportMetric(float64(placed)/b.Elapsed().Seconds(), "placements/s")
}

// idleCluster is benchCluster converged: 100,000 running, ready pods.
func idleCluster(b *testing.B) *cluster.State {
	st := benchCluster()
	return kubelet(apply(b, st, Compute(st, t0, NewRandIDs(1, 1))), allReady)
}

// BenchmarkIdle100k measures the leader's pass over a converged cluster of
// 100,000 running pods when nothing changed: what its loop costs idle.
func BenchmarkIdle100k(b *testing.B) {
	st := idleCluster(b)
	tr := &Tracker{FullEvery: -1}
	if res, _ := tr.Pass(Options{}, st, t0, NewRandIDs(2, 2)); !res.Plan.Empty() {
		b.Fatalf("converged cluster: plan not empty")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tr.Down(st)
		if res, ran := tr.Pass(Options{}, st, t0, NewRandIDs(2, 2)); ran || !res.Plan.Empty() {
			b.Fatalf("idle pass ran (%v) or planned something", ran)
		}
	}
}

// BenchmarkIdle100kFull measures a full no-op pass over the same cluster:
// the price of the safety net the leader runs every DefaultFullEvery.
func BenchmarkIdle100kFull(b *testing.B) {
	st := idleCluster(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if plan := Compute(st, t0, NewRandIDs(2, 2)); !plan.Empty() {
			b.Fatalf("idle pass not empty: %d create, %d terminate", len(plan.Create), len(plan.Terminate))
		}
	}
}

// BenchmarkOneChange100k measures the leader's pass after one pod of the
// idle 100,000 changed: a status report (not ready), or the pod gone, which
// the pass replaces and places.
func BenchmarkOneChange100k(b *testing.B) {
	base := idleCluster(b)
	pod, _ := base.Pod(cluster.DefaultNamespace, firstPod(base).Name)
	for _, tc := range []struct {
		name string
		edit func(*cluster.Txn)
		want func(*cluster.Plan) bool
	}{
		{"status", func(tx *cluster.Txn) {
			c := pod.Clone()
			c.Status.Ready = false
			tx.PutPod(c)
		}, (*cluster.Plan).Empty},
		{"deleted", func(tx *cluster.Txn) { tx.DeletePod(pod.Namespace, pod.Name) },
			func(p *cluster.Plan) bool { return len(p.Create) == 1 && p.Create[0].NodeName != "" }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tx := base.Txn(base.Index() + 1)
			tc.edit(tx)
			st := tx.Commit()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				tr := &Tracker{FullEvery: -1, ready: true, last: base.Index()}
				res, ran := tr.Pass(Options{}, st, t0, NewRandIDs(2, 2))
				if !ran || res.Full || !tc.want(res.Plan) {
					b.Fatalf("pass ran %v, full %v, plan %+v", ran, res.Full, res.Plan)
				}
			}
		})
	}
}

func firstPod(st *cluster.State) *cluster.Pod {
	for p := range st.Pods() {
		return p
	}
	return nil
}

// BenchmarkPlacePending100k measures placing 100,000 pods that already
// wait in the state (Place entries rather than created pods).
func BenchmarkPlacePending100k(b *testing.B) {
	full := benchCluster()
	// Create the pods while no node exists, so they are all Pending.
	tx := cluster.Empty().Txn(1)
	for _, w := range full.Workloads() {
		tx.PutWorkload(w)
	}
	st := apply(b, tx.Commit(), Compute(tx.Commit(), t0, NewRandIDs(1, 1)))
	tx = st.Txn(st.Index() + 1)
	for _, n := range full.Nodes() {
		tx.PutNode(n)
	}
	st = tx.Commit()
	b.ReportAllocs()
	b.ResetTimer()
	placed := 0
	for range b.N {
		placed += len(Compute(st, t0, NewRandIDs(2, 2)).Place)
	}
	if placed != 100000*b.N {
		b.Fatalf("placed %d of %d", placed, 100000*b.N)
	}
	b.ReportMetric(float64(placed)/b.Elapsed().Seconds(), "placements/s")
}

// BenchmarkPlace100kTaintsAffinity is BenchmarkPlace100k with node rules
// in play: 10 zones, a tenth of the nodes tainted NoSchedule (tolerated by
// half the workloads) and another tenth PreferNoSchedule, and every
// workload requiring 6 of the zones and preferring one.
func BenchmarkPlace100kTaintsAffinity(b *testing.B) {
	nodes := make([]*cluster.Node, 5000)
	for i := range nodes {
		n := mkNode(fmt.Sprintf("node-%04d", i), 16000, 64*gi, withLabels("topology.kubernetes.io/zone", fmt.Sprintf("z%d", i%10)))
		switch i % 20 {
		case 0, 1:
			n.Taints = []cluster.Taint{{Key: "dedicated", Value: "batch", Effect: cluster.TaintNoSchedule}}
		case 2, 3:
			n.Taints = []cluster.Taint{{Key: "spot", Effect: cluster.TaintPreferNoSchedule}}
		}
		nodes[i] = n
	}
	ws := make([]*cluster.Workload, 100)
	for i := range ws {
		ws[i] = mkWorkload(cluster.KindDeployment, fmt.Sprintf("app-%03d", i), 1000, small, func(w *cluster.Workload) {
			zones := make([]string, 6)
			for j := range zones {
				zones[j] = fmt.Sprintf("z%d", (i+j)%10)
			}
			w.Template.Affinity = &cluster.Affinity{NodeAffinity: &cluster.NodeAffinity{
				Required: []cluster.NodeSelectorTerm{{MatchExpressions: []cluster.NodeSelectorRequirement{
					{Key: "topology.kubernetes.io/zone", Operator: cluster.OpIn, Values: zones}}}},
				Preferred: []cluster.PreferredSchedulingTerm{{Weight: 10, Preference: cluster.NodeSelectorTerm{MatchExpressions: []cluster.NodeSelectorRequirement{
					{Key: "topology.kubernetes.io/zone", Operator: cluster.OpIn, Values: zones[:1]}}}}},
			}}
			if i%2 == 0 {
				w.Template.Tolerations = []cluster.Toleration{{Key: "dedicated", Operator: cluster.TolerationExists}}
			}
		})
	}
	st := mkState(nodes, ws)
	b.ReportAllocs()
	b.ResetTimer()
	placed := 0
	for i := range b.N {
		plan := Compute(st, t0, NewRandIDs(uint64(i), 1))
		for _, p := range plan.Create {
			if p.NodeName != "" {
				placed++
			}
		}
	}
	if placed != 100000*b.N {
		b.Fatalf("placed %d of %d", placed, 100000*b.N)
	}
	b.ReportMetric(float64(placed)/b.Elapsed().Seconds(), "placements/s")
}

// podAffinityCluster is benchCluster with inter-pod rules: 10 zones, and
// every workload's pods (labelled with one of 10 tiers) keep apart on the
// hostname (required), prefer hosts without pods of their tier, and
// spread over the zones with maxSkew 1.
func podAffinityCluster() *cluster.State {
	nodes := make([]*cluster.Node, 5000)
	for i := range nodes {
		name := fmt.Sprintf("node-%04d", i)
		nodes[i] = mkNode(name, 16000, 64*gi, withLabels(
			"kubernetes.io/hostname", name, "topology.kubernetes.io/zone", fmt.Sprintf("z%d", i%10)))
	}
	ws := make([]*cluster.Workload, 100)
	for i := range ws {
		name, tier := fmt.Sprintf("app-%03d", i), fmt.Sprintf("t%d", i%10)
		ws[i] = mkWorkload(cluster.KindDeployment, name, 1000, small, func(w *cluster.Workload) {
			w.TemplateLabels["tier"] = tier
			app := &cluster.LabelSelector{MatchLabels: map[string]string{"app": name}}
			w.Template.Affinity = &cluster.Affinity{PodAntiAffinity: &cluster.PodAffinity{
				Required: []cluster.PodAffinityTerm{{LabelSelector: app, TopologyKey: "kubernetes.io/hostname"}},
				Preferred: []cluster.WeightedPodAffinityTerm{{Weight: 50, Term: cluster.PodAffinityTerm{
					LabelSelector: &cluster.LabelSelector{MatchLabels: map[string]string{"tier": tier}}, TopologyKey: "kubernetes.io/hostname"}}},
			}}
			w.Template.TopologySpreadConstraints = []cluster.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: cluster.DoNotSchedule, LabelSelector: app,
			}}
		})
	}
	return mkState(nodes, ws)
}

// BenchmarkPlace100kPodAffinity is BenchmarkPlace100k with required and
// preferred pod anti-affinity and a zone spread constraint on every pod.
func BenchmarkPlace100kPodAffinity(b *testing.B) {
	st := podAffinityCluster()
	b.ReportAllocs()
	b.ResetTimer()
	placed := 0
	for i := range b.N {
		plan := Compute(st, t0, NewRandIDs(uint64(i), 1))
		for _, p := range plan.Create {
			if p.NodeName != "" {
				placed++
			}
		}
	}
	if placed != 100000*b.N {
		b.Fatalf("placed %d of %d", placed, 100000*b.N)
	}
	b.ReportMetric(float64(placed)/b.Elapsed().Seconds(), "placements/s")
}
