package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"shoal/cluster"
	"shoal/consensus"
	"shoal/consensus/consensustest"
	"shoal/scheduler"
)

// BenchmarkPlaceThroughRaft is the scheduler placing 100,000 pods (100
// Deployments × 1,000 replicas of 100m/128Mi) on 5,000 nodes, each pass
// committed through a 3-voter in-process Raft the way the leader's loop
// does it: compute on the latest state, commit the plan, repeat until every
// pod is placed and every follower has applied it. It reports end-to-end
// placements/s; scheduler/BenchmarkPlace100k is the scheduler alone and
// consensus's benchmark the commit alone.
func BenchmarkPlaceThroughRaft(b *testing.B) {
	const nodes, deployments, replicas = 5000, 100, 1000
	for range b.N {
		b.StopTimer()
		stores := raftCluster(b, 3)
		leader := stores[0]
		ctx := context.Background()
		// A /16 has room for 256 nodes' /24s; 5,000 nodes need a /8.
		setup := []consensus.Command{&consensus.SetConfig{Config: cluster.Config{ClusterCIDR: "10.0.0.0/8", ServiceCIDR: "172.30.0.0/16"}}}
		for i := range nodes {
			r := cluster.Resources{MilliCPU: 16000, Memory: 64 << 30}
			setup = append(setup, &consensus.PutNode{Node: &cluster.Node{
				Name: fmt.Sprintf("node-%04d", i), Status: cluster.NodeReady, Capacity: r, Allocatable: r,
			}})
		}
		for i := range deployments {
			setup = append(setup, &consensus.PutWorkload{Workload: benchWorkload(fmt.Sprintf("app-%03d", i), replicas)})
		}
		mustApply(b, leader, setup...)
		b.StartTimer()

		start := time.Now()
		ids := scheduler.NewRandIDs(1, 2)
		placed := 0
		for placed < deployments*replicas {
			plan := scheduler.Compute(leader.State(), start, ids)
			if plan.Empty() {
				b.Fatalf("scheduler stopped with %d of %d placed", placed, deployments*replicas)
			}
			res := mustApply(b, leader, splitPlan(plan, 5000)...)
			for _, r := range res {
				placed += r.Plan.Created + r.Plan.Placed
				if len(r.Plan.Rejected) > 0 {
					b.Fatalf("%d placements rejected at commit: %v", len(r.Plan.Rejected), r.Plan.Rejected[0])
				}
			}
		}
		idx := leader.State().Index()
		for _, s := range stores[1:] {
			if err := s.WaitForIndex(ctx, idx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(placed)/time.Since(start).Seconds(), "placements/s")
		b.StopTimer()
		for _, s := range stores {
			_ = s.Close()
		}
		b.StartTimer()
	}
}

// splitPlan cuts a plan into commands of at most n pods each, as one huge
// log entry would stall every follower's append.
func splitPlan(p *cluster.Plan, n int) []consensus.Command {
	var out []consensus.Command
	for len(p.Create) > 0 {
		k := min(n, len(p.Create))
		out = append(out, &consensus.ApplyPlan{Plan: &cluster.Plan{Create: p.Create[:k]}})
		p.Create = p.Create[k:]
	}
	for len(p.Place) > 0 {
		k := min(n, len(p.Place))
		out = append(out, &consensus.ApplyPlan{Plan: &cluster.Plan{Place: p.Place[:k]}})
		p.Place = p.Place[k:]
	}
	rest := &cluster.Plan{Pending: p.Pending, Terminate: p.Terminate, Delete: p.Delete}
	if !rest.Empty() {
		out = append(out, &consensus.ApplyPlan{Plan: rest})
	}
	return out
}

func benchWorkload(name string, replicas int32) *cluster.Workload {
	labels := map[string]string{"app": name}
	spec := cluster.PodSpec{Containers: []cluster.Container{{
		Name: "app", Image: "busybox:1",
		Requests: cluster.Resources{MilliCPU: 100, Memory: 128 << 20},
	}}}
	return &cluster.Workload{
		Kind: cluster.KindDeployment, Namespace: "default", Name: name, UID: "uid-" + name,
		Replicas: replicas, Selector: labels, TemplateLabels: labels, Template: spec,
		TemplateHash: cluster.HashTemplate(spec, labels), Generation: 1,
	}
}

// raftCluster starts n in-process voters on raft's in-memory transport;
// the first one leads.
func raftCluster(tb testing.TB, n int) []*consensus.Store {
	tb.Helper()
	stores := consensustest.Cluster(tb, n, func(_ int, cfg *consensus.Config) {
		// Slower than the fixture's default: a benchmark that loads both
		// cores must not lose its leader to a missed heartbeat.
		cfg.HeartbeatTimeout = 100 * time.Millisecond
		cfg.ElectionTimeout = 100 * time.Millisecond
		cfg.LeaderLeaseTimeout = 100 * time.Millisecond
		cfg.CommitTimeout = time.Millisecond
	})
	return stores
}

func mustApply(tb testing.TB, s *consensus.Store, cmds ...consensus.Command) []consensus.Result {
	tb.Helper()
	res, err := s.Apply(context.Background(), cmds...)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			tb.Fatal(r.Err)
		}
	}
	return res
}
