package scheduler

import (
	"iter"
	"maps"
	"time"

	"shoal/cluster"
)

// Options tune a pass. The zero value gives the defaults.
type Options struct {
	// MinFeasible is the least number of feasible nodes a placement looks
	// for before it scores them (default 100; every node when there are
	// fewer).
	MinFeasible int
	// PercentageOfNodes raises that number to this share of the nodes
	// (default: Kubernetes' adaptive 50% - nodes/125, at least 5%).
	PercentageOfNodes int
	// Fenced are the Down nodes whose fencing lease has surely expired (the
	// leader's judgement: lease time plus a margin since the last renewal),
	// so their StatefulSet pods are surely stopped. Only then is such a pod
	// replaced; see statefulSetReleased.
	Fenced map[string]bool
	// JobBackoff is the wait after a Job's first pod failure, doubled for
	// each further one (default DefaultJobBackoff).
	JobBackoff time.Duration
}

// Compute runs one scheduling pass with the default Options.
func Compute(st *cluster.State, now time.Time, ids IDSource) *cluster.Plan {
	return Options{}.Compute(st, now, ids)
}

// Compute runs one scheduling pass over st: it reconciles every workload,
// cleans up garbage and orphans and places unplaced pods. now stamps created
// pods (CreatedAt); ids supplies their UIDs and name suffixes. It never
// modifies st or the objects in it. A converged cluster yields an empty
// plan.
func (o Options) Compute(st *cluster.State, now time.Time, ids IDSource) *cluster.Plan {
	return o.Run(st, now, ids, nil).Plan
}

// Run is Compute restricted to a Scope (nil: everything). The restricted
// pass is the full one over fewer keys: same steps, same order, so that on
// a state whose earlier passes' plans were applied it decides exactly what
// the full pass would (scope_test.go checks this over random histories).
func (o Options) Run(st *cluster.State, now time.Time, ids IDSource, sc *Scope) Result {
	p := &pass{
		st:      st,
		now:     now,
		ids:     ids,
		opts:    o,
		plan:    &cluster.Plan{},
		nodes:   make(map[string]*cluster.Node, st.NodeCount()),
		owned:   map[string][]*cluster.Pod{},
		stopped: map[*cluster.Pod]bool{},
		deleted: map[*cluster.Pod]bool{},
		names:   map[string]bool{},
		wake:    map[string]time.Time{},
	}
	for _, n := range st.Nodes() {
		p.nodes[n.Name] = n
	}
	workloads := st.Workloads()
	todo := workloads
	if sc.full() {
		p.scan(workloads, st.Pods())
	} else {
		todo = p.restrict(workloads, sc)
	}
	for _, w := range todo {
		p.readiness(w)
		switch w.Kind {
		case cluster.KindDeployment:
			p.deployment(w)
		case cluster.KindStatefulSet:
			p.statefulSet(w)
		case cluster.KindDaemonSet:
			p.daemonSet(w)
		case cluster.KindReplicaSet:
			p.replicaSet(w)
		case cluster.KindJob:
			p.job(w)
		case cluster.KindCronJob:
			p.cronJob(w)
		}
	}
	p.resizeAll(todo)
	p.placeAll()
	p.releaseClaims()
	res := Result{Plan: p.plan, Wake: p.wake, Full: sc.full(), Reconciled: make([]string, len(todo))}
	for i, w := range todo {
		res.Reconciled[i] = w.Key()
	}
	return res
}

// pass is the working state of one Compute call.
type pass struct {
	st   *cluster.State
	now  time.Time
	ids  IDSource
	opts Options
	plan *cluster.Plan

	nodes map[string]*cluster.Node // by name, so lookups skip the radix tree
	// partial is set for a pass restricted to a Scope: all and owned are
	// then filled on demand (allPods, ownedBy).
	partial bool
	// all is every pod in the state, in key order; the node table is built
	// from it only when something needs placing, so an idle pass stays cheap.
	all []*cluster.Pod
	// scanned are the pods scan looked at: all of them, or a Scope's.
	scanned []*cluster.Pod
	// owned groups pods by owner UID (one scan instead of a radix walk per
	// workload).
	owned map[string][]*cluster.Pod
	// pending are the unplaced, non-terminating pods already in the state.
	pending []*cluster.Pod
	// stopped are the pods this pass terminates or deletes; deleted the
	// subset that leaves the state when the plan applies.
	stopped map[*cluster.Pod]bool
	deleted map[*cluster.Pod]bool
	// names are the keys of pods created in this pass.
	names   map[string]bool
	created []*cluster.Pod

	table *nodeTable // built lazily by placeAll
	// claims: standalone claims' users, built lazily (claims.go).
	claims map[string]*claimUse
	// resized are the new requests of the pods whose resize this pass
	// admits (resize.go): placements count them.
	resized map[*cluster.Pod]cluster.Resources
	// wake is, per workload key, when the pass must look again although
	// nothing changed (scope.go).
	wake map[string]time.Time
}

// scan walks the pods once, in key order (every pod, or a Scope's):
// garbage and orphans are handled here, the rest is grouped for the
// workload reconcilers and the placer.
func (p *pass) scan(workloads []*cluster.Workload, pods iter.Seq[*cluster.Pod]) {
	uids := make(map[string]bool, len(workloads))
	for _, w := range workloads {
		uids[w.UID] = true
	}
	if !p.partial {
		p.scanned = make([]*cluster.Pod, 0, p.st.PodCount())
		defer func() { p.all = p.scanned }()
	}
	for pod := range pods {
		p.scanned = append(p.scanned, pod)
		if pod.Terminating {
			// Nobody will report on it again: it was never placed, its node
			// says it is gone, or the node itself is gone. On a Down node it
			// goes too, unless it is a StatefulSet pod whose node may still
			// run it (not fenced): a Deployment's pod may briefly run twice,
			// a StatefulSet's never.
			_, ok := p.nodes[pod.NodeName]
			stateful := pod.Owner != nil && pod.Owner.Kind == cluster.KindStatefulSet
			if pod.NodeName == "" || pod.Status.Stopped || !ok ||
				(p.lost(pod) && (!stateful || p.opts.Fenced[pod.NodeName])) {
				p.delete(pod)
			}
		}
		if pod.Owner != nil {
			if !uids[pod.Owner.UID] {
				if !pod.Terminating {
					p.stop(pod) // orphan: its workload was deleted
				}
				continue
			}
			if !p.partial {
				p.owned[pod.Owner.UID] = append(p.owned[pod.Owner.UID], pod)
			}
		}
		if !pod.Terminating && pod.NodeName == "" {
			p.pending = append(p.pending, pod)
		}
	}
}

// stop ends a pod: an unplaced pod, or one whose node is gone, simply leaves
// the state (no node would ever confirm it stopped); a placed one is
// terminated by its node first.
func (p *pass) stop(pod *cluster.Pod) {
	if p.stopped[pod] {
		return
	}
	if _, ok := p.nodes[pod.NodeName]; pod.NodeName == "" || !ok {
		p.delete(pod)
		return
	}
	p.stopped[pod] = true
	p.plan.Terminate = append(p.plan.Terminate, pod.Ref())
}

func (p *pass) delete(pod *cluster.Pod) {
	if p.deleted[pod] {
		return
	}
	p.stopped[pod] = true
	p.deleted[pod] = true
	p.plan.Delete = append(p.plan.Delete, pod.Ref())
}

// lost reports whether a placed pod's node is Down or gone from the state.
func (p *pass) lost(pod *cluster.Pod) bool {
	if pod.NodeName == "" {
		return false
	}
	n, ok := p.nodes[pod.NodeName]
	return !ok || n.Status == cluster.NodeDown
}

// finished reports whether a pod's containers have all ended.
func finished(pod *cluster.Pod) bool {
	return pod.Status.Phase == cluster.PodFailed || pod.Status.Phase == cluster.PodSucceeded
}

// taken reports whether a pod name is in use, in the state or in this pass.
func (p *pass) taken(namespace, name string) bool {
	if p.names[cluster.Key(namespace, name)] {
		return true
	}
	_, ok := p.st.Pod(namespace, name)
	return ok
}

// create adds a new pod to the plan; placeAll binds it if it fits.
func (p *pass) create(pod *cluster.Pod) {
	p.names[pod.Key()] = true
	p.created = append(p.created, pod)
	p.plan.Create = append(p.plan.Create, pod)
}

// newPod makes a pod from w's current template; the caller names it.
func (p *pass) newPod(w *cluster.Workload, name string) *cluster.Pod {
	pod := &cluster.Pod{
		Namespace:    w.Namespace,
		Name:         name,
		UID:          p.ids.NewUID(),
		Labels:       maps.Clone(w.TemplateLabels),
		Annotations:  maps.Clone(w.TemplateAnnotations),
		Owner:        &cluster.OwnerRef{Kind: w.Kind, Name: w.Name, UID: w.UID},
		Ordinal:      -1,
		TemplateHash: w.TemplateHash,
		Spec:         w.Template.Clone(),
		CreatedAt:    p.now,
	}
	// A template's hostname is every replica's, as in Kubernetes; without
	// one the pod is called by its name.
	if pod.Spec.Hostname == "" {
		pod.Spec.Hostname = name
	}
	return pod
}
