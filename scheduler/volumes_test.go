package scheduler

import (
	"slices"
	"testing"

	"shoal/cluster"
)

// withClaim records that claim data-<pod> lives on node.
func withClaim(st *cluster.State, pod, node string) *cluster.State {
	tx := st.Txn(st.Index() + 1)
	tx.PutClaimLocation(&cluster.ClaimLocation{Namespace: cluster.DefaultNamespace, Claim: "data-" + pod, Node: node})
	return tx.Commit()
}

// applyVolumes is apply plus what the FSM does for volumes: placements
// carry VolumeFrom, and a claim placed for the first time is recorded.
func applyVolumes(t *testing.T, st *cluster.State, plan *cluster.Plan) *cluster.State {
	t.Helper()
	st = apply(t, st, plan)
	tx := st.Txn(st.Index() + 1)
	for _, pl := range plan.Place {
		p, _ := tx.Pod(pl.Pod.Namespace, pl.Pod.Name)
		p = p.Clone()
		p.VolumeFrom = pl.VolumeFrom
		tx.PutPod(p)
	}
	for p := range st.Pods() {
		for _, c := range p.Claims() {
			if _, ok := tx.ClaimLocation(p.Namespace, c); !ok && p.NodeName != "" {
				tx.PutClaimLocation(&cluster.ClaimLocation{Namespace: p.Namespace, Claim: c, Node: p.NodeName})
			}
		}
	}
	return tx.Commit()
}

// oneSts is db with one replica over nodes a, b and c, where b is the
// fullest node, so nothing but the volume rule sends db-0 there.
func oneSts(edit ...func([]*cluster.Node)) (*cluster.Workload, *cluster.State) {
	w := mkSts(1)
	nodes := threeNodes()
	nodes[1].Allocatable.MilliCPU = 1000
	for _, e := range edit {
		e(nodes)
	}
	return w, mkState(nodes, []*cluster.Workload{w})
}

func TestStatefulPodPinnedToVolumeNode(t *testing.T) {
	_, st := oneSts()
	st = withClaim(st, "db-0", "b")
	plan := Compute(st, t0, NewRandIDs(1, 1))
	if len(plan.Create) != 1 || plan.Create[0].NodeName != "b" || plan.Create[0].VolumeFrom != "" {
		t.Fatalf("created %+v", plan.Create)
	}

	// Pending in the state (its first placement was rejected): same rule.
	p := plan.Create[0].Clone()
	p.NodeName = ""
	tx := st.Txn(st.Index() + 1)
	tx.PutPod(p)
	plan = Compute(tx.Commit(), t0, NewRandIDs(1, 1))
	if len(plan.Place) != 1 || plan.Place[0].Node != "b" {
		t.Fatalf("placed %+v", plan.Place)
	}
}

func TestStatefulPodNoRoomOnVolumeNode(t *testing.T) {
	_, st := oneSts(func(n []*cluster.Node) { n[1].Allocatable.MilliCPU = 50 })
	st = withClaim(st, "db-0", "b")
	plan := Compute(st, t0, NewRandIDs(1, 1))
	want := "waiting for room on node b, which holds volume data-db-0: 0/1 nodes are available: 1 insufficient cpu"
	if len(plan.Create) != 1 || plan.Create[0].NodeName != "" || plan.Create[0].SchedulingMessage != want {
		t.Fatalf("created %+v", plan.Create[0])
	}
}

func TestStatefulPodWaitsForItsVolumeNode(t *testing.T) {
	for _, status := range []cluster.NodeStatus{cluster.NodeNotReady, cluster.NodeDown} {
		_, st := oneSts(func(n []*cluster.Node) { n[1].Status = status })
		st = withClaim(st, "db-0", "b")
		// Fencing does not matter: the data is there and nowhere else.
		plan := Options{Fenced: map[string]bool{"b": true}}.Compute(st, t0, NewRandIDs(1, 1))
		want := "waiting for node b, which holds volume data-db-0"
		if len(plan.Create) != 1 || plan.Create[0].NodeName != "" || plan.Create[0].SchedulingMessage != want {
			t.Fatalf("%s: created %+v", status, plan.Create[0])
		}
		// Once in the state, the reason is not sent again.
		st = applyVolumes(t, st, plan)
		if plan := Compute(st, t0, NewRandIDs(1, 1)); !plan.Empty() {
			t.Fatalf("%s: second plan %+v", status, plan)
		}
	}
}

func TestStatefulPodMovesFromCordonedNodeWithItsData(t *testing.T) {
	w, st := oneSts()
	st = converge(t, st)
	db0, _ := st.Pod(cluster.DefaultNamespace, "db-0")
	st = withClaim(st, "db-0", db0.NodeName)
	from := db0.NodeName

	// Drain: cordon and terminate; the node stops the pod, it leaves the
	// state, and the new db-0 goes elsewhere, copying from the old node.
	tx := st.Txn(st.Index() + 1)
	n, _ := tx.Node(from)
	n = n.Clone()
	n.Unschedulable = true
	tx.PutNode(n)
	db0 = db0.Clone()
	db0.Terminating = true
	tx.PutPod(db0)
	st = kubelet(tx.Commit(), allReady)
	ids := NewRandIDs(3, 4)
	for range 3 {
		plan := Compute(st, t0, ids)
		st = applyVolumes(t, st, plan)
	}
	pods := live(st, w.UID)
	if len(pods) != 1 || pods[0].NodeName == from || pods[0].NodeName == "" || pods[0].VolumeFrom != from {
		t.Fatalf("db-0 %+v", pods)
	}
	if loc, _ := st.ClaimLocation(cluster.DefaultNamespace, "data-db-0"); loc.Node != from {
		t.Fatalf("claim moved before the copy: %+v", loc)
	}
}

// downPod is db-0 placed on Down node a.
func downPod(claims bool) (*cluster.Workload, *cluster.State) {
	w := mkSts(1)
	if !claims {
		w = mkWorkload(cluster.KindStatefulSet, "db", 1, small)
	}
	nodes := threeNodes()
	nodes[0].Status = cluster.NodeDown
	p := mkPod(w, "db-0", "a", true, t0)
	p.Ordinal = 0
	p.Spec = (&pass{ids: NewRandIDs(1, 1)}).newStatefulPod(w, 0).Spec
	st := mkState(nodes, []*cluster.Workload{w}, p)
	if claims {
		st = withClaim(st, "db-0", "a")
	}
	return w, st
}

func TestFencedStatefulPodWithoutClaimsRescheduled(t *testing.T) {
	w, st := downPod(false)
	if plan := Compute(st, t0, NewRandIDs(1, 1)); !plan.Empty() {
		t.Fatalf("unfenced: plan %+v", plan)
	}
	opts := Options{Fenced: map[string]bool{"a": true}}
	ids := NewRandIDs(1, 1)
	plan := opts.Compute(st, t0, ids)
	if !slices.Equal(refNames(plan.Delete), []string{"db-0"}) || len(plan.Create) != 0 {
		t.Fatalf("plan %+v", plan)
	}
	st = apply(t, st, plan)
	plan = opts.Compute(st, t0, ids)
	if len(plan.Create) != 1 || plan.Create[0].NodeName == "" || plan.Create[0].NodeName == "a" {
		t.Fatalf("recreated %+v", plan.Create)
	}
	st = apply(t, st, plan)
	if n := len(live(st, w.UID)); n != 1 {
		t.Fatalf("%d pods", n)
	}
}

func TestFencedStatefulPodWithClaimsWaits(t *testing.T) {
	_, st := downPod(true)
	if plan := Compute(st, t0, NewRandIDs(1, 1)); !plan.Empty() {
		t.Fatalf("unfenced: plan %+v", plan)
	}
	opts := Options{Fenced: map[string]bool{"a": true}}
	ids := NewRandIDs(1, 1)
	st = applyVolumes(t, st, opts.Compute(st, t0, ids))
	plan := opts.Compute(st, t0, ids)
	if len(plan.Create) != 1 || plan.Create[0].NodeName != "" ||
		plan.Create[0].SchedulingMessage != "waiting for node a, which holds volume data-db-0" {
		t.Fatalf("recreated %+v", plan.Create)
	}
}
