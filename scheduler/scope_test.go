package scheduler

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"shoal/cluster"
)

// history is a cluster driven by random commands between passes, for the
// property that a Tracker's pass (restricted to what changed) decides what
// a full pass decides.
type history struct {
	t   *testing.T
	rnd *rand.Rand
	st  *cluster.State
	now time.Time
	// fenced are the Down nodes the "leader" judges fenced by now.
	fenced map[string]bool
	nodes  int
}

func newHistory(t *testing.T, seed uint64) *history {
	h := &history{t: t, rnd: rand.New(rand.NewPCG(seed, seed+1)), now: t0, fenced: map[string]bool{}}
	var nodes []*cluster.Node
	for i := range 4 {
		nodes = append(nodes, mkNode(fmt.Sprintf("n%d", i), 4000, 8*gi, withLabels("kubernetes.io/hostname", fmt.Sprintf("n%d", i))))
	}
	h.nodes = len(nodes)
	ws := []*cluster.Workload{
		mkWorkload(cluster.KindDeployment, "web", 3, cluster.Resources{MilliCPU: 500, Memory: 256 * mi}),
		mkWorkload(cluster.KindDeployment, "slow", 2, cluster.Resources{MilliCPU: 1000, Memory: 256 * mi}, func(w *cluster.Workload) {
			w.MinReadySeconds = 5
		}),
		mkWorkload(cluster.KindDeployment, "apart", 2, cluster.Resources{MilliCPU: 200, Memory: 64 * mi}, func(w *cluster.Workload) {
			w.Template.Affinity = &cluster.Affinity{PodAntiAffinity: &cluster.PodAffinity{Required: []cluster.PodAffinityTerm{{
				LabelSelector: &cluster.LabelSelector{MatchLabels: map[string]string{"app": "apart"}}, TopologyKey: "kubernetes.io/hostname"}}}}
		}),
		mkWorkload(cluster.KindReplicaSet, "rs", 2, cluster.Resources{MilliCPU: 300, Memory: 128 * mi}),
		mkWorkload(cluster.KindDaemonSet, "agent", 0, cluster.Resources{MilliCPU: 100, Memory: 64 * mi}),
		mkWorkload(cluster.KindStatefulSet, "db", 2, cluster.Resources{MilliCPU: 700, Memory: 512 * mi}),
	}
	if seed%2 == 1 {
		// Without pods with required anti-affinity a restricted pass
		// charges nodes lazily: half the histories take that path.
		ws = slices.DeleteFunc(ws, func(w *cluster.Workload) bool { return w.Name == "apart" })
	}
	job := mkJob(func(s *cluster.JobSpec) {
		s.Parallelism, s.Completions = 2, ptrTo(int32(4))
		s.ActiveDeadlineSeconds = ptrTo(int64(120))
		s.TTLSecondsAfterFinished = ptrTo(int32(30))
	})
	cron := mkCron(func(s *cluster.CronJobSpec) {
		s.ConcurrencyPolicy = cluster.ConcurrencyForbid
		s.JobTemplate.TTLSecondsAfterFinished = ptrTo(int32(90))
	})
	h.st = mkState(nodes, append(ws, job, cron))
	return h
}

// step changes the cluster the way clients, nodes and time do.
func (h *history) step() string {
	st := h.st
	tx := st.Txn(st.Index() + 1)
	var what string
	ws := st.Workloads()
	if len(ws) == 0 {
		return "noop"
	}
	switch h.rnd.IntN(12) {
	case 0, 1, 2:
		what = "kubelet"
		h.kubelet(tx)
	case 3:
		w := ws[h.rnd.IntN(len(ws))].Clone()
		if w.Kind == cluster.KindJob || w.Kind == cluster.KindCronJob {
			return "noop"
		}
		w.Replicas = int32(h.rnd.IntN(6))
		what = fmt.Sprintf("scale %s to %d", w.Name, w.Replicas)
		tx.PutWorkload(w)
	case 4:
		w := ws[h.rnd.IntN(len(ws))]
		if w.Kind == cluster.KindJob || w.Kind == cluster.KindCronJob {
			return "noop"
		}
		c := newImage(w, fmt.Sprintf("img:%d", h.rnd.IntN(100)))
		what = "rollout " + w.Name
		tx.PutWorkload(c)
	case 5:
		what = h.nodeChange(tx)
	case 6:
		pods := allOf(st)
		if len(pods) == 0 {
			return "noop"
		}
		p := pods[h.rnd.IntN(len(pods))]
		what = "delete pod " + p.Name
		tx.DeletePod(p.Namespace, p.Name)
	case 7:
		d := time.Duration(h.rnd.IntN(20)) * time.Second
		h.now = h.now.Add(d)
		for n := range h.fenced {
			h.fenced[n] = true // a Down node's lease runs out with time
		}
		return fmt.Sprintf("time +%s", d)
	case 8:
		tx.PutService(&cluster.Service{Namespace: cluster.DefaultNamespace, Name: "svc", Selector: map[string]string{"app": "web"}})
		what = "service"
	case 9:
		w := ws[h.rnd.IntN(len(ws))]
		if h.rnd.IntN(4) != 0 {
			return "noop" // deletions are rarer than the rest
		}
		what = "delete workload " + w.Name
		tx.DeleteWorkload(w.Kind, w.Namespace, w.Name)
	case 10:
		w := ws[h.rnd.IntN(len(ws))].Clone()
		if w.Kind == cluster.KindJob || w.Kind == cluster.KindDaemonSet || w.Kind == cluster.KindCronJob {
			return "noop"
		}
		w.Template.Containers[0].Requests.MilliCPU = int64(100 * (1 + h.rnd.IntN(15)))
		rehash(w)
		what = fmt.Sprintf("resources %s %dm", w.Name, w.Template.Containers[0].Requests.MilliCPU)
		tx.PutWorkload(w)
	default:
		what = "nothing"
	}
	h.st = tx.Commit()
	return what
}

// kubelet starts, readies, fails and stops a random part of the pods.
func (h *history) kubelet(tx *cluster.Txn) {
	for _, p := range allOf(h.st) {
		if p.NodeName == "" || h.rnd.IntN(3) == 0 {
			continue
		}
		if n, ok := h.st.Node(p.NodeName); ok && n.Status == cluster.NodeDown {
			continue
		}
		c := p.Clone()
		switch {
		case p.Terminating:
			c.Status.Stopped = true
		case p.Owner != nil && p.Owner.Kind == cluster.KindJob && p.Status.Phase == cluster.PodRunning:
			c.Status.Phase = []cluster.PodPhase{cluster.PodSucceeded, cluster.PodFailed, cluster.PodRunning}[h.rnd.IntN(3)]
		case p.Status.Phase == cluster.PodPending || p.Status.Phase == "" || p.Status.Phase == cluster.PodRunning:
			c.Status.Phase = cluster.PodRunning
			c.Status.Ready = h.rnd.IntN(4) != 0
			if !c.Status.Ready {
				c.ClearReadiness()
			}
		}
		tx.PutPod(c)
	}
}

// nodeChange takes a node down or back, cordons it, adds or removes one.
func (h *history) nodeChange(tx *cluster.Txn) string {
	nodes := h.st.Nodes()
	n := nodes[h.rnd.IntN(len(nodes))].Clone()
	switch h.rnd.IntN(5) {
	case 0:
		n.Status = cluster.NodeDown
		h.fenced[n.Name] = false
	case 1:
		n.Status = cluster.NodeReady
		delete(h.fenced, n.Name)
	case 2:
		n.Unschedulable = !n.Unschedulable
	case 3:
		name := fmt.Sprintf("n%d", h.nodes)
		h.nodes++
		tx.PutNode(mkNode(name, 4000, 8*gi, withLabels("kubernetes.io/hostname", name)))
		return "add node " + name
	default:
		if len(nodes) < 3 {
			return "noop"
		}
		tx.DeleteNode(n.Name)
		delete(h.fenced, n.Name)
		return "delete node " + n.Name
	}
	tx.PutNode(n)
	return fmt.Sprintf("node %s %s unschedulable=%v", n.Name, n.Status, n.Unschedulable)
}

func allOf(st *cluster.State) []*cluster.Pod {
	var out []*cluster.Pod
	for p := range st.Pods() {
		out = append(out, p)
	}
	return out
}

// applyAll applies every kind of plan entry the history's workloads make.
func applyAll(t *testing.T, st *cluster.State, plan *cluster.Plan) *cluster.State {
	t.Helper()
	st = apply(t, st, plan)
	if len(plan.Readiness)+len(plan.Resize)+len(plan.ResizePending)+len(plan.CronRuns) == 0 {
		return st
	}
	tx := st.Txn(st.Index() + 1)
	for _, run := range plan.CronRuns {
		cj, ok := tx.Workload(cluster.KindCronJob, run.CronJob.Namespace, run.CronJob.Name)
		if !ok {
			continue
		}
		cj = cj.Clone()
		cj.CronStatus = &cluster.CronJobStatus{LastScheduleTime: &run.Slot}
		tx.PutWorkload(cj)
		tx.PutWorkload(run.Job.Clone())
	}
	edit := func(ref cluster.PodRef, f func(*cluster.Pod)) {
		p, ok := tx.Pod(ref.Namespace, ref.Name)
		if !ok || p.UID != ref.UID {
			return // deleted by the same plan
		}
		c := p.Clone()
		f(c)
		tx.PutPod(c)
	}
	for _, r := range plan.Readiness {
		edit(r.Pod, func(p *cluster.Pod) { p.ReadySince, p.Available = r.ReadySince, r.Available })
	}
	for _, r := range plan.Resize {
		edit(r.Pod, func(p *cluster.Pod) { p.Spec, p.ResizePending = p.Spec.WithResources(r.Containers), nil })
	}
	for _, r := range plan.ResizePending {
		edit(r.Pod, func(p *cluster.Pod) { p.ResizePending = r.Pending })
	}
	return tx.Commit()
}

// TestTrackerMatchesFullPass drives random histories and checks, after
// every change, that the Tracker's pass (restricted, or none at all)
// decides exactly what a full pass over the same state decides.
func TestTrackerMatchesFullPass(t *testing.T) {
	seeds, steps := 40, 150
	if testing.Short() {
		seeds = 10
	}
	kinds := map[string]int{}
	for seed := range uint64(seeds) {
		h := newHistory(t, seed)
		tr := &Tracker{FullEvery: -1}
		var log []string
		for i := range steps {
			log = append(log, h.step())
			o := Options{Fenced: map[string]bool{}}
			tr.Down(h.st)
			for n, f := range h.fenced {
				if f {
					o.Fenced[n] = true
				}
			}
			res, ran := tr.Pass(o, h.st, h.now, NewRandIDs(seed, uint64(i)))
			want := o.Compute(h.st, h.now, NewRandIDs(seed, uint64(i)))
			switch {
			case !ran:
				kinds["skipped"]++
			case res.Full:
				kinds["full"]++
			default:
				kinds["restricted"]++
			}
			if g, w := planJSON(t, res.Plan), planJSON(t, want); g != w {
				t.Fatalf("seed %d step %d (ran %v, full %v): restricted pass differs from the full one\nafter: %v\nrestricted: %s\nfull:       %s",
					seed, i, ran, res.Full, log[max(0, len(log)-8):], g, w)
			}
			h.st = applyAll(t, h.st, want)
		}
	}
	t.Logf("passes: %v", kinds)
	if kinds["restricted"] == 0 || kinds["skipped"] == 0 {
		t.Fatalf("the histories never exercised restricted or skipped passes: %v", kinds)
	}
}

func planJSON(t *testing.T, p *cluster.Plan) string {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
