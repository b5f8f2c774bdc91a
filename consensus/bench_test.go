package consensus

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"shoal/cluster"
)

// BenchmarkPlacements commits 100,000 placements of pre-created Pending
// pods onto 5,000 nodes through a 3-voter in-process Raft, 5,000 per
// ApplyPlan, from a few concurrent proposers (as the leader's scheduler
// pipelines plans), and reports placements per second.
func BenchmarkPlacements(b *testing.B) {
	const (
		nodes     = 5000
		pods      = 100_000
		perPlan   = 5000
		proposers = 4
	)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := newTestCluster(b, 3, func(cfg *Config) {
			cfg.HeartbeatTimeout = 500 * time.Millisecond
			cfg.ElectionTimeout = 500 * time.Millisecond
			cfg.LeaderLeaseTimeout = 500 * time.Millisecond
		})
		leader := c.leader(b)
		mustApply(b, leader, &SetConfig{Config: cluster.Config{ClusterCIDR: "10.0.0.0/8", ServiceCIDR: "172.30.0.0/16"}})
		var cmds []Command
		for n := range nodes {
			cmds = append(cmds, &PutNode{Node: testNode(fmt.Sprintf("node-%05d", n), 4000, 16<<30)})
		}
		mustApply(b, leader, cmds...)
		var plans []*cluster.Plan
		for start := 0; start < pods; start += perPlan {
			batch := make([]*cluster.Pod, 0, perPlan)
			plan := &cluster.Plan{}
			for p := start; p < start+perPlan; p++ {
				pod := testPod(fmt.Sprintf("web-%06d", p), 100, 128<<20, 0)
				batch = append(batch, pod)
				plan.Place = append(plan.Place, cluster.Placement{Pod: pod.Ref(), Node: fmt.Sprintf("node-%05d", p%nodes)})
			}
			mustApply(b, leader, &PutPods{Pods: batch})
			plans = append(plans, plan)
		}

		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		work := make(chan *cluster.Plan)
		placed := make([]int, proposers)
		var last uint64
		var mu sync.Mutex
		for w := range proposers {
			wg.Go(func() {
				for plan := range work {
					rs, err := leader.Apply(context.Background(), &ApplyPlan{Plan: plan})
					if err != nil {
						b.Error(err)
						continue
					}
					placed[w] += rs[0].Plan.Placed
					mu.Lock()
					last = max(last, rs[0].Index)
					mu.Unlock()
				}
			})
		}
		for _, p := range plans {
			work <- p
		}
		close(work)
		wg.Wait()
		elapsed := time.Since(start)
		b.StopTimer()

		total := 0
		for _, n := range placed {
			total += n
		}
		if total != pods {
			b.Fatalf("placed %d of %d", total, pods)
		}
		for _, s := range c.stores {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := s.WaitForIndex(ctx, last); err != nil {
				b.Fatal(err)
			}
			cancel()
			if n := len(s.State().PodsOnNode("node-00000")); n != pods/nodes {
				b.Fatalf("%s: %d pods on node-00000", s.cfg.NodeID, n)
			}
		}
		b.ReportMetric(float64(pods)/elapsed.Seconds(), "placements/s")
		for _, s := range c.stores {
			_ = s.Close()
		}
		b.StartTimer()
	}
}
