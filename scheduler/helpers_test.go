package scheduler

import (
	"fmt"
	"testing"
	"time"

	"shoal/cluster"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	mi = int64(1) << 20
	gi = int64(1) << 30
)

// mkNode is a Ready node with cpu millicores and mem bytes.
func mkNode(name string, cpu, mem int64, edit ...func(*cluster.Node)) *cluster.Node {
	n := &cluster.Node{
		Name:        name,
		Status:      cluster.NodeReady,
		Allocatable: cluster.Resources{MilliCPU: cpu, Memory: mem},
	}
	n.Capacity = n.Allocatable
	for _, e := range edit {
		e(n)
	}
	return n
}

func withDisk(b int64) func(*cluster.Node) {
	return func(n *cluster.Node) {
		n.Allocatable.EphemeralStorage = b
		n.Capacity.EphemeralStorage = b
	}
}

func withGPUs(k int) func(*cluster.Node) {
	return func(n *cluster.Node) {
		n.Allocatable.GPU = int64(k)
		for i := range k {
			n.GPUs = append(n.GPUs, cluster.GPU{Index: i, UUID: fmt.Sprintf("GPU-%s-%d", n.Name, i)})
		}
	}
}

func withLabels(kv ...string) func(*cluster.Node) {
	return func(n *cluster.Node) {
		n.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

// mkWorkload is a workload of kind with one container asking for req.
func mkWorkload(kind cluster.WorkloadKind, name string, replicas int32, req cluster.Resources, edit ...func(*cluster.Workload)) *cluster.Workload {
	w := &cluster.Workload{
		Kind:           kind,
		Namespace:      cluster.DefaultNamespace,
		Name:           name,
		UID:            "uid-" + name,
		Replicas:       replicas,
		Selector:       map[string]string{"app": name},
		TemplateLabels: map[string]string{"app": name},
		Template: cluster.PodSpec{Containers: []cluster.Container{{
			Name: "main", Image: "img:1", Requests: req,
		}}},
	}
	for _, e := range edit {
		e(w)
	}
	rehash(w)
	return w
}

func rehash(w *cluster.Workload) {
	w.TemplateHash = w.TemplateID()
}

// newImage returns a copy of w with a changed template (a rollout).
func newImage(w *cluster.Workload, image string) *cluster.Workload {
	c := w.Clone()
	c.Template.Containers[0].Image = image
	rehash(c)
	return c
}

func mkState(nodes []*cluster.Node, workloads []*cluster.Workload, pods ...*cluster.Pod) *cluster.State {
	tx := cluster.Empty().Txn(1)
	for _, n := range nodes {
		tx.PutNode(n)
	}
	for _, w := range workloads {
		tx.PutWorkload(w)
	}
	for _, p := range pods {
		tx.PutPod(p)
	}
	return tx.Commit()
}

// mkPod is a pod of w (nil: bare) on node ("" unplaced) in phase.
func mkPod(w *cluster.Workload, name, node string, ready bool, created time.Time) *cluster.Pod {
	p := &cluster.Pod{Namespace: cluster.DefaultNamespace, Name: name, UID: "uid-pod-" + name, Ordinal: -1, NodeName: node, CreatedAt: created}
	if w != nil {
		p.Owner = &cluster.OwnerRef{Kind: w.Kind, Name: w.Name, UID: w.UID}
		p.TemplateHash = w.TemplateHash
		p.Spec = w.Template.Clone()
		p.Labels = w.TemplateLabels
	}
	if node != "" {
		p.Status.Phase = cluster.PodRunning
		p.Status.Ready = ready
	} else {
		p.Status.Phase = cluster.PodPending
	}
	return p
}

// apply does what the FSM will do with a plan (without its re-checks).
func apply(t testing.TB, st *cluster.State, plan *cluster.Plan) *cluster.State {
	t.Helper()
	tx := st.Txn(st.Index() + 1)
	for _, p := range plan.Create {
		if _, ok := tx.Pod(p.Namespace, p.Name); ok {
			t.Fatalf("create %s: a pod of that name exists", p.Key())
		}
		c := p.Clone()
		c.Status.Phase = cluster.PodPending
		tx.PutPod(c)
	}
	edit := func(ref cluster.PodRef, f func(*cluster.Pod)) {
		p, ok := tx.Pod(ref.Namespace, ref.Name)
		if !ok || p.UID != ref.UID {
			t.Fatalf("plan names missing pod %v", ref)
		}
		c := p.Clone()
		f(c)
		tx.PutPod(c)
	}
	for _, pl := range plan.Place {
		edit(pl.Pod, func(p *cluster.Pod) { p.NodeName, p.GPUs, p.SchedulingMessage = pl.Node, pl.GPUs, "" })
	}
	for _, pr := range plan.Pending {
		edit(pr.Pod, func(p *cluster.Pod) { p.SchedulingMessage = pr.Message })
	}
	for _, ref := range plan.Terminate {
		edit(ref, func(p *cluster.Pod) { p.Terminating = true })
	}
	for _, ref := range plan.Delete {
		if _, ok := tx.Pod(ref.Namespace, ref.Name); !ok {
			t.Fatalf("delete of missing pod %v", ref)
		}
		tx.DeletePod(ref.Namespace, ref.Name)
	}
	for _, u := range plan.Jobs {
		w, ok := tx.Workload(cluster.KindJob, u.Namespace, u.Name)
		if !ok || w.UID != u.UID {
			t.Fatalf("status of missing job %s", u.Name)
		}
		w = w.Clone()
		w.JobStatus = u.Status.Clone()
		tx.PutWorkload(w)
	}
	for _, ref := range plan.DeleteJobs {
		tx.DeleteWorkload(cluster.KindJob, ref.Namespace, ref.Name)
	}
	return tx.Commit()
}

// kubelet plays every node: placed pods start (ready if ready(pod)),
// terminating ones report stopped.
func kubelet(st *cluster.State, ready func(*cluster.Pod) bool) *cluster.State {
	tx := st.Txn(st.Index() + 1)
	for p := range st.Pods() {
		if p.NodeName == "" {
			continue
		}
		if n, ok := st.Node(p.NodeName); ok && n.Status == cluster.NodeDown {
			continue
		}
		c := p.Clone()
		switch {
		case p.Terminating:
			c.Status.Stopped = true
		case p.Status.Phase == cluster.PodPending || p.Status.Phase == "" || p.Status.Phase == cluster.PodRunning:
			c.Status.Phase = cluster.PodRunning
			c.Status.Ready = ready(p)
		}
		tx.PutPod(c)
	}
	return tx.Commit()
}

func allReady(*cluster.Pod) bool { return true }

// converge runs passes (plan, apply, kubelet) until a plan is empty.
func converge(t testing.TB, st *cluster.State) *cluster.State {
	t.Helper()
	ids := NewRandIDs(1, 2)
	st = kubelet(st, allReady)
	for range 50 {
		plan := Compute(st, t0, ids)
		if plan.Empty() {
			return st
		}
		st = kubelet(apply(t, st, plan), allReady)
	}
	t.Fatalf("no convergence after 50 passes")
	return nil
}

// live returns the non-terminating pods of owner.
func live(st *cluster.State, uid string) []*cluster.Pod {
	var out []*cluster.Pod
	for _, p := range st.PodsOwnedBy(uid) {
		if !p.Terminating {
			out = append(out, p)
		}
	}
	return out
}

func refNames(refs []cluster.PodRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Name)
	}
	return out
}
