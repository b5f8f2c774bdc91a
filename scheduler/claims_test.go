package scheduler

import (
	"slices"
	"strings"
	"testing"

	"shoal/cluster"
)

// pvcWeb is Deployment web with replicas pods that mount claim data.
func pvcWeb(replicas int32) *cluster.Workload {
	return mkWorkload(cluster.KindDeployment, "web", replicas, small, func(w *cluster.Workload) {
		w.Template.Volumes = []cluster.Volume{{Name: "d", Claim: &cluster.ClaimSource{ClaimName: "data", Standalone: true}}}
		w.Template.Containers[0].VolumeMounts = []cluster.VolumeMount{{Name: "d", MountPath: "/d"}}
	})
}

// withPVC stores claim data with the access mode, optionally terminating,
// and bound to node ("" unbound).
func withPVC(st *cluster.State, mode string, terminating bool, node string) *cluster.State {
	tx := st.Txn(st.Index() + 1)
	tx.PutObject(&cluster.Object{Kind: cluster.KindPersistentVolumeClaim, Namespace: cluster.DefaultNamespace, Name: "data", UID: "uid-data",
		Claim: &cluster.VolumeClaim{AccessModes: []string{mode}, Storage: gi, Terminating: terminating}})
	if node != "" {
		tx.PutClaimLocation(&cluster.ClaimLocation{Namespace: cluster.DefaultNamespace, Claim: "data", Node: node})
	}
	return tx.Commit()
}

func TestClaimRules(t *testing.T) {
	rwo, rwop := cluster.AccessReadWriteOnce, cluster.AccessReadWriteOncePod
	tests := []struct {
		name     string
		replicas int32
		state    func(*cluster.State) *cluster.State
		// nodes of the created pods ("" Pending) and the first Pending message
		nodes []string
		msg   string
	}{
		{"no claim yet", 1, func(st *cluster.State) *cluster.State { return st },
			[]string{""}, `persistentvolumeclaim "data" not found`},
		{"terminating claim", 1, func(st *cluster.State) *cluster.State { return withPVC(st, rwo, true, "") },
			[]string{""}, `persistentvolumeclaim "data" is being deleted`},
		{"unbound: every pod on the first one's node", 3, func(st *cluster.State) *cluster.State { return withPVC(st, rwo, false, "") },
			[]string{"a", "a", "a"}, ""},
		{"bound: the claim's node", 2, func(st *cluster.State) *cluster.State { return withPVC(st, rwo, false, "c") },
			[]string{"c", "c"}, ""},
		{"ReadWriteOncePod: one pod", 2, func(st *cluster.State) *cluster.State { return withPVC(st, rwop, false, "") },
			[]string{"a", ""}, `persistentvolumeclaim "data" is ReadWriteOncePod and used by pod web-`},
		{"bound node down", 1, func(st *cluster.State) *cluster.State {
			st = withPVC(st, rwo, false, "b")
			tx := st.Txn(st.Index() + 1)
			n, _ := tx.Node("b")
			n = n.Clone()
			n.Status = cluster.NodeDown
			tx.PutNode(n)
			return tx.Commit()
		}, []string{""}, "waiting for node b, which holds volume data"},
		{"earlier claim's data not yet deleted", 1, func(st *cluster.State) *cluster.State {
			st = withPVC(st, rwo, false, "")
			tx := st.Txn(st.Index() + 1)
			tx.PutClaimLocation(&cluster.ClaimLocation{Namespace: cluster.DefaultNamespace, Claim: "data", Node: "b", Released: true})
			return tx.Commit()
		}, []string{""}, `waiting for node b to delete the data of an earlier claim "data"`},
		{"released on a node gone: starts afresh", 1, func(st *cluster.State) *cluster.State {
			st = withPVC(st, rwo, false, "")
			tx := st.Txn(st.Index() + 1)
			tx.PutClaimLocation(&cluster.ClaimLocation{Namespace: cluster.DefaultNamespace, Claim: "data", Node: "gone", Released: true})
			return tx.Commit()
		}, []string{"a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := pvcWeb(tt.replicas)
			st := tt.state(mkState(threeNodes(), []*cluster.Workload{w}))
			plan := Compute(st, t0, NewRandIDs(1, 1))
			var nodes []string
			msg := ""
			for _, p := range plan.Create {
				nodes = append(nodes, p.NodeName)
				if msg == "" {
					msg = p.SchedulingMessage
				}
			}
			// Which node an unbound claim lands on is the scorer's choice:
			// only that all share it matters.
			if len(nodes) > 0 && nodes[0] != "" && tt.nodes[0] == "a" {
				for i := range tt.nodes {
					if tt.nodes[i] == "a" {
						tt.nodes[i] = nodes[0]
					}
				}
			}
			if !slices.Equal(nodes, tt.nodes) {
				t.Errorf("nodes: got %q, want %q", nodes, tt.nodes)
			}
			if !strings.HasPrefix(msg, tt.msg) || (tt.msg == "") != (msg == "") {
				t.Errorf("message: got %q, want %q", msg, tt.msg)
			}
		})
	}
}

// TestClaimFollowsAcrossPasses: a pod placed later goes where the claim's
// first pod went, once the FSM recorded the claim.
func TestClaimFollowsAcrossPasses(t *testing.T) {
	w := pvcWeb(1)
	st := withPVC(mkState(threeNodes(), []*cluster.Workload{w}), cluster.AccessReadWriteOnce, false, "")
	st = applyVolumes(t, st, Compute(st, t0, NewRandIDs(1, 1)))
	loc, ok := st.ClaimLocation(cluster.DefaultNamespace, "data")
	if !ok {
		t.Fatal("claim not recorded")
	}
	w2 := w.Clone()
	w2.Replicas = 4
	tx := st.Txn(st.Index() + 1)
	tx.PutWorkload(w2)
	st = converge(t, tx.Commit())
	for _, p := range live(st, w.UID) {
		if p.NodeName != loc.Node {
			t.Errorf("pod %s on %s, claim on %s", p.Name, p.NodeName, loc.Node)
		}
	}
}

// TestClaimMovesOffCordonedNodeOnceFree: a claim is copied to another node
// only when no pod uses it on the cordoned one any more.
func TestClaimMovesOffCordonedNodeOnceFree(t *testing.T) {
	w := pvcWeb(1)
	st := withPVC(mkState(threeNodes(), []*cluster.Workload{w}), cluster.AccessReadWriteOnce, false, "")
	st = kubelet(applyVolumes(t, st, Compute(st, t0, NewRandIDs(1, 1))), allReady)
	old := live(st, w.UID)[0]
	from := old.NodeName

	// A bare pod shares the claim on the same node and keeps running.
	bare := mkPod(nil, "reader", from, true, t0)
	bare.Spec = w.Template.Clone()
	tx := st.Txn(st.Index() + 1)
	tx.PutPod(bare)
	n, _ := tx.Node(from)
	n = n.Clone()
	n.Unschedulable = true
	tx.PutNode(n)
	old = old.Clone()
	old.Terminating = true
	tx.PutPod(old)
	st = kubelet(tx.Commit(), allReady)
	ids := NewRandIDs(3, 4)
	for range 3 {
		st = applyVolumes(t, st, Compute(st, t0, ids))
	}
	cur := live(st, w.UID)
	if len(cur) != 1 || cur[0].NodeName != "" || !strings.Contains(cur[0].SchedulingMessage, "waiting for pod reader to stop using volume data on node "+from) {
		t.Fatalf("replacement: %+v", cur[0])
	}

	tx = st.Txn(st.Index() + 1)
	tx.DeletePod(cluster.DefaultNamespace, "reader")
	st = applyVolumes(t, tx.Commit(), Compute(tx.Commit(), t0, ids))
	cur = live(st, w.UID)
	if cur[0].NodeName == "" || cur[0].NodeName == from || cur[0].VolumeFrom != from {
		t.Fatalf("replacement not moved with its data: node %q from %q", cur[0].NodeName, cur[0].VolumeFrom)
	}
}

func TestReleaseClaims(t *testing.T) {
	w := pvcWeb(1)
	tests := []struct {
		name        string
		terminating bool
		podRunning  bool
		want        int
	}{
		{"terminating, unused", true, false, 1},
		{"terminating, in use", true, true, 0},
		{"not terminating", false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pods []*cluster.Pod
			if tt.podRunning {
				pods = append(pods, mkPod(w, "web-x", "a", true, t0))
			}
			st := withPVC(mkState(threeNodes(), nil, pods...), cluster.AccessReadWriteOnce, tt.terminating, "a")
			plan := Compute(st, t0, NewRandIDs(1, 1))
			if len(plan.DeleteClaims) != tt.want {
				t.Fatalf("DeleteClaims %+v, want %d", plan.DeleteClaims, tt.want)
			}
			if tt.want == 1 && plan.DeleteClaims[0] != (cluster.ClaimRef{Namespace: "default", Name: "data", UID: "uid-data"}) {
				t.Errorf("DeleteClaims %+v", plan.DeleteClaims)
			}
		})
	}
}
