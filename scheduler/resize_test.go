package scheduler

import (
	"strings"
	"testing"

	"shoal/cluster"
)

// resized returns a copy of w whose container asks for req, keeping the
// template hash as the FSM does for a resources-only change.
func resized(w *cluster.Workload, req cluster.Resources) *cluster.Workload {
	c := w.Clone()
	c.Template.Containers[0].Requests = req
	c.Template.Containers[0].Limits = req
	return c
}

func TestResizeAdmission(t *testing.T) {
	half := cluster.Resources{MilliCPU: 500, Memory: 512 * mi}
	base := mkWorkload(cluster.KindDeployment, "web", 1, half)
	hog := &cluster.Pod{Namespace: "default", Name: "hog", UID: "uid-hog", Ordinal: -1, NodeName: "a",
		Spec:   cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Requests: cluster.Resources{MilliCPU: 1000, Memory: gi}}}},
		Status: cluster.PodStatus{Phase: cluster.PodRunning, Ready: true}}
	node := mkNode("a", 2000, 4*gi)
	deferred := &cluster.ResizePending{Reason: cluster.ResizeDeferred,
		Message: "Node didn't have enough resource: cpu, requested: 1600m, used: 1, capacity: 2"}

	tests := []struct {
		name string
		w    *cluster.Workload
		pod  func(*cluster.Pod)
		// want: "resize", a pending reason, "clear", or "" for nothing.
		want     string
		message  string
		replaced bool
	}{
		{name: "fits", w: resized(base, cluster.Resources{MilliCPU: 800, Memory: gi}), want: "resize"},
		{name: "decrease", w: resized(base, cluster.Resources{MilliCPU: 100, Memory: 64 * mi}), want: "resize"},
		{name: "deferred: the other pod holds the room", w: resized(base, cluster.Resources{MilliCPU: 1600, Memory: gi}),
			want: cluster.ResizeDeferred, message: deferred.Message},
		{name: "infeasible: more than the node has", w: resized(base, cluster.Resources{MilliCPU: 3000, Memory: gi}),
			want: cluster.ResizeInfeasible, message: "Node didn't have enough capacity: cpu, requested: 3, capacity: 2"},
		{name: "infeasible memory", w: resized(base, cluster.Resources{MilliCPU: 500, Memory: 8 * gi}),
			want: cluster.ResizeInfeasible, message: "memory, requested: 8Gi, capacity: 4Gi"},
		{name: "pending already recorded: nothing new", w: resized(base, cluster.Resources{MilliCPU: 1600, Memory: gi}),
			pod: func(p *cluster.Pod) { p.ResizePending = deferred }, want: ""},
		{name: "no longer wanted: the record is cleared", w: base,
			pod: func(p *cluster.Pod) { p.ResizePending = deferred }, want: "clear"},
		{name: "pod of an older template: the rollout replaces it", w: resized(base, cluster.Resources{MilliCPU: 800}),
			pod: func(p *cluster.Pod) { p.TemplateHash = "older" }, want: "", replaced: true},
		{name: "terminating pod", w: resized(base, cluster.Resources{MilliCPU: 800}),
			pod: func(p *cluster.Pod) { p.Terminating = true }, want: "", replaced: true},
		{name: "unchanged", w: base, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := mkPod(base, "web-1", "a", true, t0)
			if tc.pod != nil {
				tc.pod(pod)
			}
			st := mkState([]*cluster.Node{node}, []*cluster.Workload{tc.w}, pod, hog)
			plan := Compute(st, t0, NewRandIDs(1, 1))
			// A resize never rolls: no pod is stopped, and only a pod that
			// leaves is replaced.
			if len(plan.Terminate)+len(plan.Delete) != 0 || (len(plan.Create) != 0) != tc.replaced {
				t.Fatalf("plan: %+v", plan)
			}
			plan.Create = nil
			got, msg := "", ""
			switch {
			case len(plan.Resize) == 1:
				got = "resize"
				if rz := plan.Resize[0]; rz.Pod != pod.Ref() || rz.Containers[0].Requests != tc.w.Template.Containers[0].Requests {
					t.Errorf("resize %+v", rz)
				}
			case len(plan.ResizePending) == 1 && plan.ResizePending[0].Pending == nil:
				got = "clear"
			case len(plan.ResizePending) == 1:
				got, msg = plan.ResizePending[0].Pending.Reason, plan.ResizePending[0].Pending.Message
			case !plan.Empty():
				t.Fatalf("plan %+v", plan)
			}
			if got != tc.want || !strings.Contains(msg, tc.message) {
				t.Errorf("got %q %q, want %q %q", got, msg, tc.want, tc.message)
			}
		})
	}
}

// Resizes on one node count each other, in pod order; a bare pod resizes
// to its DesiredResources; an unplaced pod takes its new size at once and
// is placed with it on the next pass.
func TestResizeCountsEarlierResizes(t *testing.T) {
	w := mkWorkload(cluster.KindDeployment, "web", 2, cluster.Resources{MilliCPU: 500})
	big := resized(w, cluster.Resources{MilliCPU: 900})
	a, b := mkPod(w, "web-a", "a", true, t0), mkPod(w, "web-b", "a", true, t0)
	st := mkState([]*cluster.Node{mkNode("a", 1500, 4*gi)}, []*cluster.Workload{big}, a, b)
	plan := Compute(st, t0, NewRandIDs(1, 1))
	if len(plan.Resize) != 1 || plan.Resize[0].Pod.Name != "web-a" {
		t.Fatalf("resize %+v", plan.Resize)
	}
	if len(plan.ResizePending) != 1 || plan.ResizePending[0].Pod.Name != "web-b" ||
		plan.ResizePending[0].Pending.Reason != cluster.ResizeDeferred {
		t.Fatalf("pending %+v", plan.ResizePending)
	}

	bare := &cluster.Pod{Namespace: "default", Name: "solo", UID: "u-solo", Ordinal: -1, NodeName: "a",
		Spec:             cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Requests: cluster.Resources{MilliCPU: 100}}}},
		DesiredResources: []cluster.ContainerResources{{Name: "c", Requests: cluster.Resources{MilliCPU: 200}}},
		Status:           cluster.PodStatus{Phase: cluster.PodRunning}}
	unplaced := mkPod(w, "web-c", "", false, t0)
	st = mkState([]*cluster.Node{mkNode("a", 2000, 4*gi)}, []*cluster.Workload{big}, bare, unplaced)
	plan = Compute(st, t0, NewRandIDs(1, 1))
	names := map[string]bool{}
	for _, rz := range plan.Resize {
		names[rz.Pod.Name] = true
	}
	if len(plan.Resize) != 2 || !names["solo"] || !names["web-c"] || len(plan.Place) != 0 {
		t.Fatalf("plan %+v", plan)
	}
}

// The scheduler's converged state stays converged with pending resizes:
// an Infeasible resize yields an empty plan once recorded.
func TestResizePendingConverges(t *testing.T) {
	w := mkWorkload(cluster.KindDeployment, "web", 1, cluster.Resources{MilliCPU: 500})
	st := converge(t, mkState([]*cluster.Node{mkNode("a", 2000, 4*gi)}, []*cluster.Workload{w}))
	tx := st.Txn(st.Index() + 1)
	tx.PutWorkload(resized(w, cluster.Resources{MilliCPU: 5000}))
	st = tx.Commit()
	plan := Compute(st, t0, NewRandIDs(1, 1))
	if len(plan.ResizePending) != 1 {
		t.Fatalf("plan %+v", plan)
	}
	tx = st.Txn(st.Index() + 1)
	p := live(st, w.UID)[0].Clone()
	p.ResizePending = plan.ResizePending[0].Pending
	tx.PutPod(p)
	if plan := Compute(tx.Commit(), t0, NewRandIDs(1, 1)); !plan.Empty() {
		t.Fatalf("second pass: %+v", plan)
	}
}

// Every kind whose controller compares pods with its current template
// resizes them in place: none is created or stopped.
func TestResizeEveryKind(t *testing.T) {
	for _, kind := range []cluster.WorkloadKind{cluster.KindDeployment, cluster.KindStatefulSet, cluster.KindDaemonSet, cluster.KindReplicaSet} {
		t.Run(string(kind), func(t *testing.T) {
			w := mkWorkload(kind, "web", 2, cluster.Resources{MilliCPU: 100}, func(w *cluster.Workload) {
				if kind == cluster.KindStatefulSet {
					w.ServiceName = "web"
				}
			})
			st := converge(t, mkState([]*cluster.Node{mkNode("a", 4000, 8*gi), mkNode("b", 4000, 8*gi)}, []*cluster.Workload{w}))
			pods := live(st, w.UID)
			if len(pods) != 2 {
				t.Fatalf("%d pods", len(pods))
			}
			tx := st.Txn(st.Index() + 1)
			tx.PutWorkload(resized(w, cluster.Resources{MilliCPU: 300}))
			plan := Compute(tx.Commit(), t0, NewRandIDs(1, 1))
			if len(plan.Resize) != 2 || len(plan.Create)+len(plan.Terminate)+len(plan.Delete)+len(plan.Place) != 0 {
				t.Fatalf("plan %+v", plan)
			}
		})
	}
}
