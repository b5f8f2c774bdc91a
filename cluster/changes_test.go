package cluster

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

func testPod(name, node string) *Pod {
	return &Pod{Namespace: "default", Name: name, UID: "u-" + name, NodeName: node,
		Owner:  &OwnerRef{Kind: KindDeployment, Name: "web", UID: "uid-web"},
		Labels: map[string]string{"app": "web"},
		Spec:   PodSpec{Containers: []Container{{Name: "c", Requests: Resources{MilliCPU: 100}}}}}
}

// TestChangesRecord checks what each kind of change names, and whether it
// says that room for pending pods may have changed.
func TestChangesRecord(t *testing.T) {
	base := Empty().Txn(1)
	base.PutNode(&Node{Name: "n1", Status: NodeReady})
	base.PutWorkload(&Workload{Kind: KindDeployment, Namespace: "default", Name: "web", UID: "uid-web"})
	base.PutWorkload(&Workload{Kind: KindJob, Namespace: "default", Name: "j1", UID: "uid-j1",
		Owner: &OwnerRef{Kind: KindCronJob, Name: "cj", UID: "uid-cj"}})
	base.PutPod(testPod("a", "n1"))
	base.PutPod(testPod("p", ""))
	st := base.Commit()

	tests := []struct {
		name      string
		edit      func(*Txn)
		pods      []string
		workloads []string
		nodes     []string
		owners    []string
		gone      []string
		capacity  bool
		all       bool
	}{
		{name: "status only", edit: func(tx *Txn) {
			p, _ := tx.Pod("default", "a")
			c := p.Clone()
			c.Status.Ready = true
			tx.PutPod(c)
		}, pods: []string{"default/a"}, owners: []string{"uid-web"}},
		{name: "pod stops holding its node", edit: func(tx *Txn) {
			p, _ := tx.Pod("default", "a")
			c := p.Clone()
			c.Status.Stopped = true
			tx.PutPod(c)
		}, pods: []string{"default/a"}, owners: []string{"uid-web"}, capacity: true},
		{name: "pod resized", edit: func(tx *Txn) {
			p, _ := tx.Pod("default", "a")
			c := p.Clone()
			c.Spec.Containers[0].Requests.MilliCPU = 200
			tx.PutPod(c)
		}, pods: []string{"default/a"}, owners: []string{"uid-web"}, capacity: true},
		{name: "pod relabelled", edit: func(tx *Txn) {
			p, _ := tx.Pod("default", "a")
			c := p.Clone()
			c.Labels = map[string]string{"app": "other"}
			tx.PutPod(c)
		}, pods: []string{"default/a"}, owners: []string{"uid-web"}, capacity: true},
		{name: "pod placed", edit: func(tx *Txn) {
			p, _ := tx.Pod("default", "p")
			c := p.Clone()
			c.NodeName = "n1"
			tx.PutPod(c)
		}, pods: []string{"default/p"}, owners: []string{"uid-web"}, capacity: true},
		{name: "pod deleted", edit: func(tx *Txn) { tx.DeletePod("default", "a") },
			pods: []string{"default/a"}, owners: []string{"uid-web"}, capacity: true},
		{name: "node cordoned", edit: func(tx *Txn) {
			tx.PutNode(&Node{Name: "n1", Status: NodeReady, Unschedulable: true})
		}, nodes: []string{"n1"}, capacity: true},
		{name: "job names its cronjob", edit: func(tx *Txn) {
			w, _ := tx.Workload(KindJob, "default", "j1")
			tx.PutWorkload(w.Clone())
		}, workloads: []string{"CronJob/default/cj", "Job/default/j1"}},
		{name: "workload deleted", edit: func(tx *Txn) { tx.DeleteWorkload(KindDeployment, "default", "web") },
			workloads: []string{"Deployment/default/web"}, gone: []string{"uid-web"}},
		{name: "service", edit: func(tx *Txn) { tx.PutService(&Service{Namespace: "default", Name: "s"}) }},
		{name: "configmap", edit: func(tx *Txn) {
			tx.PutObject(&Object{Kind: KindConfigMap, Namespace: "default", Name: "cm"})
		}},
		{name: "claim", edit: func(tx *Txn) {
			tx.PutObject(&Object{Kind: KindPersistentVolumeClaim, Namespace: "default", Name: "data"})
		}, capacity: true},
		{name: "settings", edit: func(tx *Txn) { tx.SetConfig(Config{Domain: "x"}) }, all: true},
		{name: "restore", edit: func(tx *Txn) { tx.RestoreNode(&Node{Name: "n2"}) }, nodes: []string{"n2"}, capacity: true, all: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tx := st.Txn(st.Index() + 1)
			tc.edit(tx)
			next := tx.Commit()
			c, ok := next.ChangesSince(st.Index())
			if ok == tc.all {
				t.Fatalf("ChangesSince ok = %v, want %v", ok, !tc.all)
			}
			if tc.all {
				return
			}
			for _, f := range []struct {
				what      string
				got, want []string
			}{
				{"pods", keys(c.Pods), tc.pods}, {"workloads", keys(c.Workloads), tc.workloads},
				{"nodes", keys(c.Nodes), tc.nodes}, {"owners", keys(c.Owners), tc.owners}, {"gone", keys(c.Gone), tc.gone},
			} {
				if !slices.Equal(f.got, f.want) {
					t.Errorf("%s = %v, want %v", f.what, f.got, f.want)
				}
			}
			if c.Capacity != tc.capacity {
				t.Errorf("capacity = %v, want %v", c.Capacity, tc.capacity)
			}
		})
	}
}

func keys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(m))
}

// TestChangesSince checks the log across several transactions, from an
// index it does not reach, and after it was cut.
func TestChangesSince(t *testing.T) {
	st := Empty()
	var states []*State
	for i := range 10 {
		tx := st.Txn(st.Index() + 1)
		tx.PutPod(testPod(fmt.Sprintf("p%d", i), ""))
		st = tx.Commit()
		states = append(states, st)
	}
	c, ok := st.ChangesSince(states[6].Index())
	if !ok || !slices.Equal(keys(c.Pods), []string{"default/p7", "default/p8", "default/p9"}) {
		t.Fatalf("since index %d: ok %v, pods %v", states[6].Index(), ok, keys(c.Pods))
	}
	if c, ok := st.ChangesSince(st.Index()); !ok || !c.Empty() {
		t.Fatalf("since its own index: ok %v, %+v", ok, c)
	}
	if _, ok := states[3].ChangesSince(st.Index()); ok {
		t.Fatal("an older state answered for a newer index")
	}
	// A Txn committed twice, with more in between, keeps the first
	// State's changes as they were.
	tx := st.Txn(st.Index() + 1)
	tx.PutPod(testPod("x", ""))
	first := tx.Commit()
	tx.PutPod(testPod("y", ""))
	second := tx.Commit()
	if c, _ := first.ChangesSince(st.Index()); len(c.Pods) != 1 {
		t.Fatalf("first commit's changes grew: %v", keys(c.Pods))
	}
	if c, _ := second.ChangesSince(st.Index()); len(c.Pods) != 2 {
		t.Fatalf("second commit's changes: %v", keys(c.Pods))
	}
	// Past the entry budget the oldest half goes: old indexes can no
	// longer be answered, recent ones still can.
	old := st.Index()
	for range changeLogEntries + 1 {
		st = st.Txn(st.Index() + 1).Commit()
	}
	if _, ok := st.ChangesSince(old); ok {
		t.Fatal("a cut log still answered for an index before the cut")
	}
	if _, ok := st.ChangesSince(st.Index() - 10); !ok {
		t.Fatal("a cut log lost its recent entries")
	}
}

// TestWaitingPods checks the index of pods waiting for room.
func TestWaitingPods(t *testing.T) {
	tx := Empty().Txn(1)
	tx.PutPod(testPod("pending", ""))
	tx.PutPod(testPod("placed", "n1"))
	resizing := testPod("resizing", "n1")
	resizing.ResizePending = &ResizePending{Reason: ResizeDeferred}
	tx.PutPod(resizing)
	gone := testPod("gone", "")
	gone.Terminating = true
	tx.PutPod(gone)
	st := tx.Commit()
	var names []string
	for _, p := range st.WaitingPods() {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"pending", "resizing"}) {
		t.Fatalf("waiting = %v", names)
	}
	tx = st.Txn(2)
	p, _ := tx.Pod("default", "pending")
	c := p.Clone()
	c.NodeName = "n1"
	tx.PutPod(c)
	if n := len(tx.Commit().WaitingPods()); n != 1 {
		t.Fatalf("placed pod still waits: %d waiting", n)
	}
}
