package scheduler

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"shoal/cluster"
)

func TestReplicaSet(t *testing.T) {
	rs := mkWorkload(cluster.KindReplicaSet, "front", 3, small)
	old := newImage(rs, "img:0") // pods of an older template stay
	down := func(n *cluster.Node) { n.Status = cluster.NodeDown }
	failed := mkPod(rs, "front-fail1", "a", false, t0)
	failed.Status.Phase = cluster.PodFailed
	tests := []struct {
		name     string
		replicas int32
		nodes    []*cluster.Node
		pods     []*cluster.Pod
		want     int      // live pods at the end
		kept     []string // pods that must still be there
	}{
		{name: "creates replicas", replicas: 3, nodes: threeNodes(), want: 3},
		{name: "scales down, newest first", replicas: 1, nodes: threeNodes(),
			pods: []*cluster.Pod{mkPod(rs, "front-old", "a", true, t0), mkPod(rs, "front-new", "b", true, t0.Add(time.Hour))},
			want: 1, kept: []string{"front-old"}},
		{name: "no rollout of a changed template", replicas: 2, nodes: threeNodes(),
			pods: []*cluster.Pod{mkPod(old, "front-a", "a", true, t0), mkPod(old, "front-b", "b", true, t0)},
			want: 2, kept: []string{"front-a", "front-b"}},
		{name: "replaces a failed pod and one on a down node", replicas: 2,
			nodes: []*cluster.Node{mkNode("a", 4000, 8*gi), mkNode("b", 4000, 8*gi, down)},
			pods:  []*cluster.Pod{failed, mkPod(rs, "front-lost", "b", true, t0)},
			want:  2},
	}
	name := regexp.MustCompile(`^front-[bcdfghjklmnpqrstvwxz2456789]{5}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := rs.Clone()
			w.Replicas = tt.replicas
			st := converge(t, mkState(tt.nodes, []*cluster.Workload{w}, tt.pods...))
			var names []string
			for _, p := range live(st, w.UID) {
				if p.NodeName == "" {
					t.Errorf("%s unplaced: %s", p.Name, p.SchedulingMessage)
				}
				if n, _ := st.Node(p.NodeName); n != nil && n.Status == cluster.NodeDown {
					continue // stopped, waiting for its node
				}
				names = append(names, p.Name)
			}
			if len(names) != tt.want {
				t.Fatalf("live pods %v, want %d", names, tt.want)
			}
			for _, k := range tt.kept {
				if !slices.Contains(names, k) {
					t.Errorf("%s was replaced: %v", k, names)
				}
			}
			for _, n := range names {
				if !slices.Contains(tt.kept, n) && !name.MatchString(n) {
					t.Errorf("name %q", n)
				}
			}
		})
	}
}
