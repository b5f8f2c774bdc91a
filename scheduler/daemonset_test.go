package scheduler

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"shoal/cluster"
)

func mkDaemonSet(name string, req cluster.Resources, edit ...func(*cluster.Workload)) *cluster.Workload {
	return mkWorkload(cluster.KindDaemonSet, name, 0, req, append([]func(*cluster.Workload){func(w *cluster.Workload) {
		w.Strategy = "RollingUpdate"
	}}, edit...)...)
}

func mkDaemonPod(w *cluster.Workload, name, node string, ready bool) *cluster.Pod {
	p := mkPod(w, name, node, ready, t0)
	p.DaemonNode = node
	return p
}

// daemonNodes maps each live daemon pod of w to its node ("name@node",
// "name@-node" while unplaced), sorted.
func daemonNodes(st *cluster.State, w *cluster.Workload) []string {
	var out []string
	for _, p := range live(st, w.UID) {
		if p.NodeName == "" {
			out = append(out, "-"+p.DaemonNode)
		} else {
			out = append(out, p.NodeName)
		}
		if p.NodeName != "" && p.NodeName != p.DaemonNode {
			out = append(out, "misplaced "+p.Name)
		}
	}
	slices.Sort(out)
	return out
}

func TestDaemonSetNodes(t *testing.T) {
	cordoned := func(n *cluster.Node) { n.Unschedulable = true }
	down := func(n *cluster.Node) { n.Status = cluster.NodeDown }
	sel := func(w *cluster.Workload) { w.Template.NodeSelector = map[string]string{"disk": "ssd"} }
	taint := func(e cluster.TaintEffect) func(*cluster.Node) {
		return func(n *cluster.Node) { n.Taints = []cluster.Taint{{Key: "dedicated", Value: "gpu", Effect: e}} }
	}
	ds := mkDaemonSet("agent", small)
	tests := []struct {
		name  string
		nodes []*cluster.Node
		w     *cluster.Workload
		pods  []*cluster.Pod
		want  []string
		// msg is part of the pending pod's reason.
		msg string
	}{
		{name: "one per node", nodes: threeNodes(), w: ds, want: []string{"a", "b", "c"}},
		{name: "new node gets a pod", nodes: threeNodes(), w: ds,
			pods: []*cluster.Pod{mkDaemonPod(ds, "agent-x1", "a", true), mkDaemonPod(ds, "agent-x2", "b", true)},
			want: []string{"a", "b", "c"}},
		{name: "pod of a gone node is not replaced", nodes: threeNodes()[:2], w: ds,
			pods: []*cluster.Pod{mkDaemonPod(ds, "agent-x1", "a", true), mkDaemonPod(ds, "agent-x2", "b", true), mkDaemonPod(ds, "agent-x3", "c", true)},
			want: []string{"a", "b"}},
		{name: "down node keeps its pod, gets none new", w: ds,
			nodes: []*cluster.Node{mkNode("a", 4000, 8*gi), mkNode("b", 4000, 8*gi, down), mkNode("c", 4000, 8*gi, down)},
			pods:  []*cluster.Pod{mkDaemonPod(ds, "agent-x2", "b", true)},
			want:  []string{"a", "b"}},
		{name: "nodeSelector", w: mkDaemonSet("agent", small, sel),
			nodes: []*cluster.Node{mkNode("a", 4000, 8*gi, withLabels("disk", "ssd")), mkNode("b", 4000, 8*gi), mkNode("c", 4000, 8*gi, withLabels("disk", "hdd"))},
			want:  []string{"a"}},
		{name: "node no longer matching loses its pod", w: mkDaemonSet("agent", small, sel),
			nodes: []*cluster.Node{mkNode("a", 4000, 8*gi, withLabels("disk", "ssd")), mkNode("b", 4000, 8*gi)},
			pods:  []*cluster.Pod{mkDaemonPod(mkDaemonSet("agent", small, sel), "agent-x2", "b", true)},
			want:  []string{"a"}},
		{name: "cordoned node still runs one", w: ds,
			nodes: []*cluster.Node{mkNode("a", 4000, 8*gi, cordoned), mkNode("b", 4000, 8*gi)},
			want:  []string{"a", "b"}},
		{name: "NoSchedule: no new pod, the running one stays", w: ds,
			nodes: []*cluster.Node{mkNode("a", 4000, 8*gi, taint(cluster.TaintNoSchedule)), mkNode("b", 4000, 8*gi, taint(cluster.TaintNoSchedule)), mkNode("c", 4000, 8*gi)},
			pods:  []*cluster.Pod{mkDaemonPod(ds, "agent-x1", "a", true)},
			want:  []string{"a", "c"}},
		{name: "DiskPressure keeps no daemon pod away (it tolerates it)", w: ds,
			nodes: []*cluster.Node{mkNode("a", 4000, 8*gi, func(n *cluster.Node) { n.DiskPressure = true }), mkNode("b", 4000, 8*gi)},
			want:  []string{"a", "b"}},
		{name: "NoExecute takes the running pod away", w: ds,
			nodes: []*cluster.Node{mkNode("a", 4000, 8*gi, taint(cluster.TaintNoExecute)), mkNode("b", 4000, 8*gi)},
			pods:  []*cluster.Pod{mkDaemonPod(ds, "agent-x1", "a", true)},
			want:  []string{"b"}},
		{name: "no room: pending with reason", w: ds,
			nodes: []*cluster.Node{mkNode("a", 4000, 8*gi), mkNode("b", 50, 8*gi)},
			want:  []string{"-b", "a"},
			msg:   "daemon pod for node b: 0/1 nodes are available: 1 insufficient cpu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := converge(t, mkState(tt.nodes, []*cluster.Workload{tt.w}, tt.pods...))
			if got := daemonNodes(st, tt.w); !slices.Equal(got, tt.want) {
				t.Errorf("pods on %v, want %v", got, tt.want)
			}
			name := regexp.MustCompile(`^agent-[bcdfghjklmnpqrstvwxz2456789]{5}$`)
			for _, p := range live(st, tt.w.UID) {
				if !strings.HasPrefix(p.Name, "agent-x") && !name.MatchString(p.Name) {
					t.Errorf("name %q", p.Name)
				}
				if p.NodeName == "" && !strings.Contains(p.SchedulingMessage, tt.msg) {
					t.Errorf("%s pending with %q, want %q", p.Name, p.SchedulingMessage, tt.msg)
				}
			}
			if tt.msg != "" && !slices.ContainsFunc(live(st, tt.w.UID), func(p *cluster.Pod) bool { return p.SchedulingMessage != "" }) {
				t.Errorf("no pending reason")
			}
		})
	}
}

// TestDaemonSetRollingUpdate steps a rollout pass by pass, with the new pods
// not turning ready until told, and checks the unavailability bound.
func TestDaemonSetRollingUpdate(t *testing.T) {
	fourNodes := append(threeNodes(), mkNode("d", 4000, 8*gi))
	tests := []struct {
		name             string
		unavail, surge   string
		strategy         string
		maxDown, maxPods int // at most maxDown nodes without a ready pod, maxPods live pods at once
		finishes         bool
	}{
		{name: "default maxUnavailable 1", maxDown: 1, maxPods: 4, finishes: true},
		{name: "maxUnavailable 2", unavail: "2", maxDown: 2, maxPods: 4, finishes: true},
		{name: "maxUnavailable 50%", unavail: "50%", maxDown: 2, maxPods: 4, finishes: true},
		{name: "maxSurge 1", unavail: "0", surge: "1", maxDown: 0, maxPods: 5, finishes: true},
		{name: "OnDelete", strategy: "OnDelete", maxDown: 0, maxPods: 4, finishes: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mkDaemonSet("agent", small, func(w *cluster.Workload) {
				w.MaxUnavailable, w.MaxSurge = tt.unavail, tt.surge
				if tt.strategy != "" {
					w.Strategy = tt.strategy
				}
			})
			st := converge(t, mkState(fourNodes, []*cluster.Workload{w}))
			w2 := newImage(w, "img:2")
			tx := st.Txn(st.Index() + 1)
			tx.PutWorkload(w2)
			st = tx.Commit()
			ids := NewRandIDs(1, 3)
			for range 40 {
				// New pods become ready one pass after they start, so a
				// pass may have nothing to do while the rollout waits.
				plan := Compute(st, t0, ids)
				st = kubelet(apply(t, st, plan), func(p *cluster.Pod) bool { return p.Status.Phase == cluster.PodRunning })
				readyNodes := map[string]bool{}
				pods := st.PodsOwnedBy(w.UID)
				for _, p := range pods {
					if p.Ready() && !p.Terminating {
						readyNodes[p.NodeName] = true
					}
				}
				if down := len(fourNodes) - len(readyNodes); down > tt.maxDown {
					t.Fatalf("%d nodes without a ready pod, at most %d allowed", down, tt.maxDown)
				}
				if len(pods) > tt.maxPods {
					t.Fatalf("%d pods, at most %d", len(pods), tt.maxPods)
				}
			}
			updated := 0
			for _, p := range live(st, w.UID) {
				if p.TemplateHash == w2.TemplateHash {
					updated++
				}
			}
			if want := map[bool]int{true: 4, false: 0}[tt.finishes]; updated != want || len(live(st, w.UID)) != 4 {
				t.Fatalf("updated %d of %d pods, want %d of 4", updated, len(live(st, w.UID)), want)
			}
		})
	}
}

func TestDaemonSetOnDeleteReplacesDeletedPod(t *testing.T) {
	w := mkDaemonSet("agent", small, func(w *cluster.Workload) { w.Strategy = "OnDelete" })
	st := converge(t, mkState(threeNodes(), []*cluster.Workload{w}))
	w2 := newImage(w, "img:2")
	tx := st.Txn(st.Index() + 1)
	tx.PutWorkload(w2)
	victim := live(st, w.UID)[0]
	tx.DeletePod(victim.Namespace, victim.Name)
	st = converge(t, tx.Commit())
	var hashes []string
	for _, p := range live(st, w.UID) {
		if p.NodeName == victim.NodeName {
			hashes = append(hashes, p.TemplateHash)
		}
	}
	if !slices.Equal(hashes, []string{w2.TemplateHash}) || len(live(st, w.UID)) != 3 {
		t.Fatalf("node %s has templates %v", victim.NodeName, hashes)
	}
}
