package scheduler

import (
	"fmt"

	"shoal/cluster"
)

// The volume node rule. A StatefulSet pod's claim data lives on one node
// (cluster.ClaimLocation), recorded when the claim is first placed. The
// pod goes:
//
//   - only to that node while it is schedulable;
//   - anywhere else when it is cordoned or draining but Ready, copying the
//     data from it before starting (Placement.VolumeFrom): the pod being
//     placed is Pending, so the one that used it is gone from the state
//     and the node has stopped it;
//   - nowhere while it is NotReady or Down: the data is there and nowhere
//     else, so the pod waits and says why.
//
// A claim whose node left the cluster has no data any more: the pod starts
// afresh wherever it fits. The FSM re-checks all of this at the write.

// placeVolumes places pod under the volume rule; it returns the node, the
// GPU IDs, the node to copy claim data from ("" for none) and, when the
// pod stays Pending, why.
func (p *pass) placeVolumes(pod *cluster.Pod) (node string, gpus []string, from, msg string) {
	if pod.DaemonNode != "" {
		node, gpus, msg = p.placeDaemon(pod)
		return node, gpus, "", msg
	}
	loc, claim := p.st.VolumeNode(pod)
	if loc == "" {
		node, gpus, msg = p.place(pod)
		return node, gpus, "", msg
	}
	n, ok := p.nodes[loc]
	switch {
	case !ok:
		node, gpus, msg = p.place(pod)
		return node, gpus, "", msg
	case n.Status != cluster.NodeReady:
		return "", nil, "", fmt.Sprintf("waiting for node %s, which holds volume %s", loc, claim)
	case n.Unschedulable:
		node, gpus, msg = p.place(pod)
		if node == "" {
			return "", nil, "", msg
		}
		return node, gpus, loc, ""
	}
	node, gpus, msg = p.placeOn(pod, loc, claim)
	return node, gpus, "", msg
}

// fitsOne checks one node against every filter (but the cordon, with
// ignoreCordon) for a pod bound to it, and explains a refusal as
// Kubernetes does for one node; "" when it fits.
func (p *pass) fitsOne(ni *nodeInfo, s *shape, ignoreCordon bool) string {
	var counts [numFilters]int
	var taints []taintCount
	ok := true
	for j, f := range staticFilters {
		if _, cordon := f.(cordonFilter); cordon && ignoreCordon {
			continue
		}
		if !f.fits(ni, s) {
			counts[j]++
			ok = false
			if j == taintIndex {
				bad, _ := cluster.Untolerated(ni.node.SchedulingTaints(), s.tolerations, cluster.TaintNoSchedule, cluster.TaintNoExecute)
				taints = countTaint(taints, bad)
			}
		}
	}
	for _, j := range s.dynamic {
		if !allFilters[j].fits(ni, s) {
			counts[j]++
			ok = false
		}
	}
	if s.rules != nil {
		s.rules.sync(p.table.ip)
		if j, _ := s.rules.fails(ni.idx, false); j >= 0 {
			counts[j]++
			ok = false
		}
	}
	if ok {
		return ""
	}
	return explain(1, &counts, taints)
}

// placeOn places pod on node name (which holds its volume claim) if it
// passes every filter there, claiming its resources.
func (p *pass) placeOn(pod *cluster.Pod, name, claim string) (string, []string, string) {
	t := p.table
	i := t.index[name]
	ni := t.info(i)
	s := t.shapeOf(pod)
	if why := p.fitsOne(ni, s, false); why != "" {
		return "", nil, fmt.Sprintf("waiting for room on node %s, which holds volume %s: %s", name, claim, why)
	}
	gpus := t.bind(pod, i, s)
	if pod.Owner != nil {
		p.spreadOf(pod.Owner.UID)[i]++
	}
	return name, gpus, ""
}
