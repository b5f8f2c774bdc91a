package scheduler

import (
	"testing"
	"time"

	"shoal/cluster"
)

func TestReadinessStamps(t *testing.T) {
	w := mkWorkload(cluster.KindDeployment, "web", 1, small, func(w *cluster.Workload) { w.MinReadySeconds = 10 })
	tests := []struct {
		name       string
		ready      bool
		readySince time.Time
		available  bool
		now        time.Time
		want       []cluster.PodReadiness
	}{
		{"not ready", false, time.Time{}, false, t0, nil},
		{"first seen ready", true, time.Time{}, false, t0,
			[]cluster.PodReadiness{{Pod: cluster.PodRef{Namespace: "default", Name: "web-1", UID: "uid-pod-web-1"}, ReadySince: t0}}},
		{"ready, not long enough", true, t0, false, t0.Add(9 * time.Second), nil},
		{"ready long enough", true, t0, false, t0.Add(10 * time.Second),
			[]cluster.PodReadiness{{Pod: cluster.PodRef{Namespace: "default", Name: "web-1", UID: "uid-pod-web-1"}, ReadySince: t0, Available: true}}},
		{"already available", true, t0, true, t0.Add(time.Hour), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := mkPod(w, "web-1", "a", tt.ready, t0)
			pod.ReadySince, pod.Available = tt.readySince, tt.available
			st := mkState(threeNodes(), []*cluster.Workload{w}, pod)
			plan := Compute(st, tt.now, NewRandIDs(1, 1))
			if len(plan.Readiness) != len(tt.want) {
				t.Fatalf("readiness %+v, want %+v", plan.Readiness, tt.want)
			}
			for i := range tt.want {
				if got := plan.Readiness[i]; got.Pod != tt.want[i].Pod || !got.ReadySince.Equal(tt.want[i].ReadySince) || got.Available != tt.want[i].Available {
					t.Errorf("readiness %+v, want %+v", got, tt.want[i])
				}
			}
		})
	}
	// Without minReadySeconds nothing is stamped: ready is available.
	plain := mkWorkload(cluster.KindDeployment, "web", 1, small)
	st := mkState(threeNodes(), []*cluster.Workload{plain}, mkPod(plain, "web-1", "a", true, t0))
	if plan := Compute(st, t0, NewRandIDs(1, 1)); len(plan.Readiness) != 0 {
		t.Errorf("stamps without minReadySeconds: %+v", plan.Readiness)
	}
}

// stamp plays the FSM's part for the leader's readiness stamps.
func stamp(st *cluster.State, plan *cluster.Plan) *cluster.State {
	tx := st.Txn(st.Index() + 1)
	for _, r := range plan.Readiness {
		p, ok := tx.Pod(r.Pod.Namespace, r.Pod.Name)
		if !ok || p.UID != r.Pod.UID || !p.Ready() {
			continue
		}
		p = p.Clone()
		p.ReadySince, p.Available = r.ReadySince, r.Available
		tx.PutPod(p)
	}
	return tx.Commit()
}

// TestRolloutWaitsForAvailability: a rolling update with maxUnavailable 0
// stops an old pod only once a new one has been ready minReadySeconds.
func TestRolloutWaitsForAvailability(t *testing.T) {
	for _, kind := range []cluster.WorkloadKind{cluster.KindDeployment, cluster.KindStatefulSet} {
		t.Run(string(kind), func(t *testing.T) {
			w := mkWorkload(kind, "web", 2, small, func(w *cluster.Workload) {
				w.MinReadySeconds = 30
				w.MaxSurge, w.MaxUnavailable = "1", "0"
				w.ServiceName = "web"
			})
			st := mkState(threeNodes(), []*cluster.Workload{w})
			now := t0
			ids := NewRandIDs(1, 2)
			// step runs one pass at now, as the leader and the nodes would.
			step := func() *cluster.Plan {
				plan := Compute(st, now, ids)
				st = kubelet(stamp(apply(t, st, plan), plan), allReady)
				return plan
			}
			// The first pod of a StatefulSet waits for availability before
			// the second (OrderedReady); a Deployment makes both at once.
			for range 3 {
				step()
			}
			if kind == cluster.KindStatefulSet {
				if n := len(live(st, w.UID)); n != 1 {
					t.Fatalf("%d pods before web-0 is available", n)
				}
			}
			now = now.Add(31 * time.Second)
			for range 6 {
				step()
				now = now.Add(31 * time.Second)
			}
			if n := len(live(st, w.UID)); n != 2 {
				t.Fatalf("%d pods, want 2", n)
			}

			w2 := newImage(w, "img:2")
			tx := st.Txn(st.Index() + 1)
			tx.PutWorkload(w2)
			st = tx.Commit()
			for range 5 {
				for _, ref := range step().Terminate {
					if p, _ := st.Pod(ref.Namespace, ref.Name); p.TemplateHash == w.TemplateHash && kind == cluster.KindDeployment {
						t.Fatalf("old pod %s stopped before a new one is available", ref.Name)
					}
				}
			}
			old := 0
			for _, p := range live(st, w.UID) {
				if p.TemplateHash == w.TemplateHash {
					old++
				}
			}
			if old != 2 && kind == cluster.KindDeployment {
				t.Fatalf("%d old pods left before any new one is available, want 2", old)
			}
			// Time passes: the rollout completes.
			for range 20 {
				now = now.Add(31 * time.Second)
				step()
			}
			for _, p := range live(st, w.UID) {
				if p.TemplateHash != w2.TemplateHash || !p.Available {
					t.Errorf("after the rollout: %s hash %s available %t", p.Name, p.TemplateHash, p.Available)
				}
			}
		})
	}
}
