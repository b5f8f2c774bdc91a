package scheduler

import (
	"slices"
	"strings"

	"shoal/cluster"
)

// DaemonSet update strategies.
const (
	strategyOnDelete      = "OnDelete"
	defaultDaemonSurge    = "0"
	defaultDaemonUnavail  = "1"
	daemonPodNameRandomLn = 5
)

// daemonNode is one node's pods of a DaemonSet.
type daemonNode struct {
	node     string
	cur, old []*cluster.Pod
}

// daemonSet converges one DaemonSet: a pod of its current template bound to
// every node that should run one (cluster.ShouldRunDaemon), none elsewhere. A pod
// whose node left or stopped qualifying is stopped and not made again on
// another node.
func (p *pass) daemonSet(w *cluster.Workload) {
	byNode := map[string]*daemonNode{}
	var nodes []*daemonNode
	for _, n := range p.st.Nodes() {
		// A Down node keeps the pod it has but gets no new one: it would
		// only wait there. So does a node tainted NoSchedule since.
		if cluster.ShouldKeepDaemon(n, &w.Template) {
			dn := &daemonNode{node: n.Name}
			byNode[n.Name] = dn
			if n.Status != cluster.NodeDown && cluster.ShouldRunDaemon(n, &w.Template) {
				nodes = append(nodes, dn)
			}
		}
	}
	for _, pod := range p.ownedBy(w.UID) {
		if pod.Terminating {
			continue
		}
		dn := byNode[pod.DaemonNode]
		if dn == nil || finished(pod) {
			p.stop(pod) // its node left or no longer qualifies; or it ended
			continue
		}
		if pod.TemplateHash == w.TemplateHash {
			dn.cur = append(dn.cur, pod)
		} else {
			dn.old = append(dn.old, pod)
		}
	}
	for _, dn := range byNode {
		// Two current pods on one node (a retried plan, say): keep one.
		dn.cur = p.stopExtra(dn.cur, len(dn.cur)-1)
	}
	slices.SortFunc(nodes, func(a, b *daemonNode) int { return strings.Compare(a.node, b.node) })
	switch w.Strategy {
	case strategyOnDelete:
		for _, dn := range nodes {
			if len(dn.cur)+len(dn.old) == 0 {
				p.createDaemonPod(w, dn.node)
			}
		}
	default:
		p.daemonRollingUpdate(w, nodes)
	}
}

// daemonRollingUpdate follows Kubernetes' DaemonSet rolling update: without
// surge, old pods are stopped on at most maxUnavailable nodes at a time
// (counting nodes already without an available pod), and the new pod is
// made once the old one is gone; with surge, a new pod starts beside the old
// one on at most maxSurge nodes, and the old one goes when the new is ready.
func (p *pass) daemonRollingUpdate(w *cluster.Workload, nodes []*daemonNode) {
	desired := len(nodes)
	surge := intOrPercentDefault(w.MaxSurge, defaultDaemonSurge, desired, true)
	unavailable := intOrPercentDefault(w.MaxUnavailable, defaultDaemonUnavail, desired, true)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	var candidates []*daemonNode // old pod available, no new one yet
	numUnavailable, surging := 0, 0
	for _, dn := range nodes {
		switch {
		case len(dn.cur) == 0 && len(dn.old) == 0:
			p.createDaemonPod(w, dn.node)
			numUnavailable++
		case len(dn.old) == 0:
			if !w.PodAvailable(dn.cur[0]) {
				numUnavailable++
			}
		case len(dn.cur) > 0:
			surging++
			if w.PodAvailable(dn.cur[0]) {
				for _, pod := range dn.old {
					p.stop(pod) // replaced by a ready new pod
				}
			}
		case countAvailable(w, dn.old) == 0:
			// Nothing available to lose: replace at once.
			for _, pod := range dn.old {
				p.stop(pod)
			}
			numUnavailable++
		default:
			candidates = append(candidates, dn)
		}
	}
	if surge > 0 {
		for _, dn := range candidates[:min(len(candidates), max(surge-surging, 0))] {
			p.createDaemonPod(w, dn.node)
		}
		return
	}
	for _, dn := range candidates[:min(len(candidates), max(unavailable-numUnavailable, 0))] {
		for _, pod := range dn.old {
			p.stop(pod)
		}
	}
}

// intOrPercentDefault resolves an int or percentage against total, with def
// for an empty value.
func intOrPercentDefault(s, def string, total int, roundUp bool) int {
	if s == "" {
		s = def
	}
	return intOrPercent(s, total, roundUp)
}

// createDaemonPod makes a pod named "<daemonset>-<5 random characters>"
// bound to node.
func (p *pass) createDaemonPod(w *cluster.Workload, node string) {
	prefix := w.Name + "-"
	name := prefix + suffix(p.ids, daemonPodNameRandomLn)
	for p.taken(w.Namespace, name) {
		name = prefix + suffix(p.ids, daemonPodNameRandomLn)
	}
	pod := p.newPod(w, name)
	pod.DaemonNode = node
	// As the DaemonSet controller does: a node short of disk keeps its
	// daemons (log shippers, node agents) and still gets new ones.
	pod.Spec.Tolerations = append(pod.Spec.Tolerations, cluster.Toleration{Key: cluster.TaintDiskPressure, Operator: cluster.TolerationExists, Effect: cluster.TaintNoSchedule})
	p.create(pod)
}

// placeDaemon places a daemon pod on its own node if it fits there,
// claiming its resources; cordoning does not keep it away.
func (p *pass) placeDaemon(pod *cluster.Pod) (string, []string, string) {
	t := p.table
	i, ok := t.index[pod.DaemonNode]
	if !ok {
		return "", nil, "node " + pod.DaemonNode + " is gone"
	}
	ni := t.info(i)
	s := t.shapeOf(pod)
	if why := p.fitsOne(ni, s, true); why != "" {
		return "", nil, "daemon pod for node " + pod.DaemonNode + ": " + why
	}
	return pod.DaemonNode, t.bind(pod, i, s), ""
}
