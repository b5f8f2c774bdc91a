package scheduler

import (
	"reflect"
	"slices"
	"testing"

	"shoal/cluster"
)

func mkSts(replicas int32, edit ...func(*cluster.Workload)) *cluster.Workload {
	return mkWorkload(cluster.KindStatefulSet, "db", replicas, small, append([]func(*cluster.Workload){func(w *cluster.Workload) {
		w.ServiceName = "db"
		w.VolumeClaimTemplates = []cluster.ClaimSource{{ClaimName: "data", Storage: gi}}
		w.Template.Containers[0].VolumeMounts = []cluster.VolumeMount{{Name: "data", MountPath: "/data"}}
	}}, edit...)...)
}

func createdNames(plan *cluster.Plan) []string {
	var out []string
	for _, p := range plan.Create {
		out = append(out, p.Name)
	}
	return out
}

func TestStatefulSetOrderedReady(t *testing.T) {
	w := mkSts(3)
	st := mkState(threeNodes(), []*cluster.Workload{w})
	ids := NewRandIDs(1, 1)
	plan := Compute(st, t0, ids)
	if got := createdNames(plan); !slices.Equal(got, []string{"db-0"}) {
		t.Fatalf("first pass created %v", got)
	}
	p := plan.Create[0]
	want := cluster.Volume{Name: "data", Claim: &cluster.ClaimSource{ClaimName: "data-db-0", Storage: gi}}
	if p.Ordinal != 0 || p.Spec.Hostname != "db-0" || p.Spec.Subdomain != "db" ||
		len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].Name != want.Name || !reflect.DeepEqual(p.Spec.Volumes[0].Claim, want.Claim) {
		t.Fatalf("db-0: ordinal %d hostname %q subdomain %q volumes %+v", p.Ordinal, p.Spec.Hostname, p.Spec.Subdomain, p.Spec.Volumes)
	}
	st = apply(t, st, plan)
	// Running but not ready: db-1 waits.
	st = kubelet(st, func(*cluster.Pod) bool { return false })
	if plan := Compute(st, t0, ids); !plan.Empty() {
		t.Fatalf("created before db-0 was ready: %v", createdNames(plan))
	}
	st = kubelet(st, allReady)
	plan = Compute(st, t0, ids)
	if got := createdNames(plan); !slices.Equal(got, []string{"db-1"}) {
		t.Fatalf("second: %v", got)
	}
	st = converge(t, apply(t, st, plan))
	if n := len(live(st, w.UID)); n != 3 {
		t.Fatalf("%d pods", n)
	}
}

func TestStatefulSetParallel(t *testing.T) {
	w := mkSts(3, func(w *cluster.Workload) { w.PodManagementPolicy = "Parallel" })
	plan := Compute(mkState(threeNodes(), []*cluster.Workload{w}), t0, NewRandIDs(1, 1))
	if got := createdNames(plan); !slices.Equal(got, []string{"db-0", "db-1", "db-2"}) {
		t.Fatalf("created %v", got)
	}
}

// TestStatefulSetNoDuplicateName: a replacement db-0 is made only once the
// old one has left the state.
func TestStatefulSetNoDuplicateName(t *testing.T) {
	w := mkSts(1)
	old := mkPod(w, "db-0", "a", true, t0)
	old.Ordinal = 0
	old.Terminating = true
	st := mkState(threeNodes(), []*cluster.Workload{w}, old)
	ids := NewRandIDs(1, 1)
	if plan := Compute(st, t0, ids); !plan.Empty() {
		t.Fatalf("while terminating: %+v", plan)
	}
	st = kubelet(st, allReady) // reports it stopped
	plan := Compute(st, t0, ids)
	if len(plan.Create) != 0 || !slices.Equal(refNames(plan.Delete), []string{"db-0"}) {
		t.Fatalf("after stop: created %v deleted %v", createdNames(plan), refNames(plan.Delete))
	}
	st = apply(t, st, plan)
	plan = Compute(st, t0, ids)
	if got := createdNames(plan); !slices.Equal(got, []string{"db-0"}) {
		t.Fatalf("after delete: %v", got)
	}
}

func TestStatefulSetScaleDown(t *testing.T) {
	for _, policy := range []string{"OrderedReady", "Parallel"} {
		t.Run(policy, func(t *testing.T) {
			w := mkSts(4, func(w *cluster.Workload) { w.PodManagementPolicy = policy })
			st := converge(t, mkState(threeNodes(), []*cluster.Workload{w}))
			w2 := w.Clone()
			w2.Replicas = 1
			tx := st.Txn(st.Index() + 1)
			tx.PutWorkload(w2)
			st = tx.Commit()
			ids := NewRandIDs(1, 1)
			var order []string
			for range 20 {
				plan := Compute(st, t0, ids)
				if plan.Empty() {
					break
				}
				if policy == "OrderedReady" && len(plan.Terminate) > 1 {
					t.Fatalf("terminated %v at once", refNames(plan.Terminate))
				}
				order = append(order, refNames(plan.Terminate)...)
				st = kubelet(apply(t, st, plan), allReady)
			}
			if !slices.Equal(order, []string{"db-3", "db-2", "db-1"}) {
				t.Fatalf("terminated %v", order)
			}
		})
	}
}

func TestStatefulSetRollingUpdate(t *testing.T) {
	w := mkSts(3)
	st := converge(t, mkState(threeNodes(), []*cluster.Workload{w}))
	w2 := newImage(w, "img:2")
	tx := st.Txn(st.Index() + 1)
	tx.PutWorkload(w2)
	st = tx.Commit()
	ids := NewRandIDs(1, 1)
	var order []string
	for range 30 {
		plan := Compute(st, t0, ids)
		if plan.Empty() {
			break
		}
		if len(plan.Terminate) > 1 {
			t.Fatalf("terminated %v at once", refNames(plan.Terminate))
		}
		order = append(order, refNames(plan.Terminate)...)
		st = apply(t, st, plan)
		// Every pod not on its way out stays ready except the replacement.
		notReady := 0
		for _, p := range st.PodsOwnedBy(w.UID) {
			if !p.Ready() {
				notReady++
			}
		}
		if notReady > 1 {
			t.Fatalf("%d pods unavailable at once", notReady)
		}
		st = kubelet(st, allReady)
	}
	if !slices.Equal(order, []string{"db-2", "db-1", "db-0"}) {
		t.Fatalf("replaced %v", order)
	}
	for _, p := range st.PodsOwnedBy(w.UID) {
		if p.TemplateHash != w2.TemplateHash || p.Spec.Volumes[0].Claim.ClaimName != "data-"+p.Name {
			t.Fatalf("%s: hash %s volumes %+v", p.Name, p.TemplateHash, p.Spec.Volumes)
		}
	}
}

// TestStatefulSetDownNodeLeftAlone: a pod on a dead node may still run
// there; fencing, not the scheduler, decides when it is safe to move.
func TestStatefulSetDownNodeLeftAlone(t *testing.T) {
	w := mkSts(2)
	nodes := threeNodes()
	nodes[0].Status = cluster.NodeDown
	p0 := mkPod(w, "db-0", "a", true, t0)
	p0.Ordinal = 0
	p1 := mkPod(w, "db-1", "b", true, t0)
	p1.Ordinal = 1
	st := mkState(nodes, []*cluster.Workload{w}, p0, p1)
	if plan := Compute(st, t0, NewRandIDs(1, 1)); !plan.Empty() {
		t.Fatalf("plan %+v", plan)
	}
	// Not even a rollout touches it.
	tx := st.Txn(st.Index() + 1)
	tx.PutWorkload(newImage(w, "img:2"))
	if plan := Compute(tx.Commit(), t0, NewRandIDs(1, 1)); len(plan.Terminate)+len(plan.Delete) != 0 {
		t.Fatalf("rollout touched a fenced pod: %+v", plan)
	}
}

// TestStatefulSetRecreatedWaitsForOldPods: a set deleted and created again
// under the same name gets a new UID; the old set's db-0 is an orphan on
// its way out, and the new db-0 waits for it.
func TestStatefulSetRecreatedWaitsForOldPods(t *testing.T) {
	old := mkSts(1)
	p0 := mkPod(old, "db-0", "a", true, t0)
	p0.Ordinal = 0
	w := mkSts(1, func(w *cluster.Workload) { w.UID = "uid-db-2" })
	st := mkState(threeNodes(), []*cluster.Workload{w}, p0)
	ids := NewRandIDs(1, 1)
	plan := Compute(st, t0, ids)
	if !slices.Equal(refNames(plan.Terminate), []string{"db-0"}) || len(plan.Create) != 0 {
		t.Fatalf("plan %+v", plan)
	}
	st = kubelet(apply(t, st, plan), allReady)
	plan = Compute(st, t0, ids)
	if !slices.Equal(refNames(plan.Delete), []string{"db-0"}) || len(plan.Create) != 0 {
		t.Fatalf("plan %+v", plan)
	}
	plan = Compute(apply(t, st, plan), t0, ids)
	if got := createdNames(plan); !slices.Equal(got, []string{"db-0"}) || plan.Create[0].Owner.UID != "uid-db-2" {
		t.Fatalf("created %v", got)
	}
}

func TestExactlyOrdinals(t *testing.T) {
	pods := func(ordinals ...int) map[int]*cluster.Pod {
		m := map[int]*cluster.Pod{}
		for _, o := range ordinals {
			m[o] = &cluster.Pod{Ordinal: o}
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		have     map[int]*cluster.Pod
		replicas int
		want     bool
	}{
		{"none of none", pods(), 0, true},
		{"all", pods(0, 1, 2), 3, true},
		{"one missing", pods(0, 2), 3, false},
		{"a gap, as many pods", pods(0, 1, 3), 3, false},
		{"one too many", pods(0, 1, 2, 3), 3, false},
		{"scaled to zero, one left", pods(0), 0, false},
	} {
		if got := exactlyOrdinals(tc.have, tc.replicas); got != tc.want {
			t.Errorf("%s: exactlyOrdinals = %v, want %v", tc.name, got, tc.want)
		}
	}
}
