package scheduler

import (
	"maps"
	"slices"
	"time"

	"shoal/cluster"
)

// Scope restricts a pass to what changed since the state an earlier pass
// read, whose plan has been applied since (Options.Run). What a restricted
// pass looks at:
//
//   - the workloads changed, those owning a changed pod, every DaemonSet
//     when a node changed, a CronJob whose Job changed, and the workloads
//     whose wake-up came (Due);
//   - the pods changed, the pods on changed nodes, the pods of deleted
//     workloads (orphans), and, when room may have changed
//     (Changes.Capacity), the pods waiting to be placed or resized, whose
//     owners it reconciles too.
//
// Nothing else can have a different outcome than in the pass before, which
// was converged for it: a converged workload yields nothing, and a pending
// pod that did not fit still does not, with the same reason, unless room
// changed.
type Scope struct {
	// Changes are what the transactions since that state touched
	// (cluster.State.ChangesSince); nil or All means a full pass.
	Changes *cluster.Changes
	// Due are the workloads (Workload.Key) whose wake-up time came.
	Due []string
	// Nodes are nodes to look at again though their record is the same:
	// those whose fencing (Options.Fenced) changed.
	Nodes []string
}

func (sc *Scope) full() bool { return sc == nil || sc.Changes == nil || sc.Changes.All }

// Result is what one pass decided.
type Result struct {
	Plan *cluster.Plan
	// Wake is, per workload reconciled, the earliest time it must be
	// reconciled again although nothing changes: minReadySeconds, a Job's
	// deadline, back-off or TTL, a CronJob's next slot.
	Wake map[string]time.Time
	// Reconciled are the workloads the pass looked at (all of them in a
	// full pass).
	Reconciled []string
	Full       bool
}

// restrict picks the workloads a Scope names and scans its pods.
func (p *pass) restrict(workloads []*cluster.Workload, sc *Scope) []*cluster.Workload {
	p.partial = true
	ch := sc.Changes
	owners := maps.Clone(ch.Owners)
	if owners == nil {
		owners = map[string]bool{}
	}
	pods := map[string]*cluster.Pod{}
	for key := range ch.Pods {
		if pod, ok := p.st.PodByKey(key); ok {
			pods[key] = pod
		}
	}
	nodes := maps.Clone(ch.Nodes)
	for _, n := range sc.Nodes {
		if nodes == nil {
			nodes = map[string]bool{}
		}
		nodes[n] = true
	}
	for n := range nodes {
		for _, pod := range p.st.PodsOnNode(n) {
			pods[pod.Key()] = pod
			if pod.Owner != nil {
				owners[pod.Owner.UID] = true
			}
		}
	}
	for uid := range ch.Gone {
		for _, pod := range p.st.PodsOwnedBy(uid) {
			pods[pod.Key()] = pod
		}
	}
	if ch.Capacity {
		for _, pod := range p.st.WaitingPods() {
			pods[pod.Key()] = pod
			if pod.ResizePending != nil && pod.Owner != nil {
				owners[pod.Owner.UID] = true
			}
		}
	}
	due := make(map[string]bool, len(sc.Due))
	for _, k := range sc.Due {
		due[k] = true
	}
	var todo []*cluster.Workload
	for _, w := range workloads {
		k := w.Key()
		if ch.Workloads[k] || due[k] || owners[w.UID] || (len(nodes) > 0 && w.Kind == cluster.KindDaemonSet) {
			todo = append(todo, w)
		}
	}
	keys := slices.Sorted(maps.Keys(pods))
	p.scan(workloads, func(yield func(*cluster.Pod) bool) {
		for _, k := range keys {
			if !yield(pods[k]) {
				return
			}
		}
	})
	return todo
}

// ownedBy returns the pods of an owner (by UID), in key order.
func (p *pass) ownedBy(uid string) []*cluster.Pod {
	if !p.partial {
		return p.owned[uid]
	}
	pods, ok := p.owned[uid]
	if !ok {
		pods = p.st.PodsOwnedBy(uid)
		p.owned[uid] = pods
	}
	return pods
}

// allPods returns every pod in key order; a restricted pass collects them
// only when it needs them (placing or claims).
func (p *pass) allPods() []*cluster.Pod {
	if p.all == nil && p.partial {
		p.all = slices.Collect(p.st.Pods())
	}
	return p.all
}

// wakeAt asks for w to be reconciled again at t, if t is still to come.
func (p *pass) wakeAt(w *cluster.Workload, t time.Time) {
	if !t.After(p.now) {
		return
	}
	k := w.Key()
	if cur, ok := p.wake[k]; !ok || t.Before(cur) {
		p.wake[k] = t
	}
}
