package scheduler

import "shoal/cluster"

// replicaSet keeps Replicas pods of a ReplicaSet: it replaces lost and
// finished pods and scales, but never rolls out a changed template (as in
// Kubernetes, where that is a Deployment's job): pods of an older template
// stay until they end or are deleted.
func (p *pass) replicaSet(w *cluster.Workload) {
	var live []*cluster.Pod
	for _, pod := range p.ownedBy(w.UID) {
		if pod.Terminating {
			continue
		}
		if p.lost(pod) || finished(pod) {
			p.stop(pod)
			continue
		}
		live = append(live, pod)
	}
	desired := max(int(w.Replicas), 0)
	if n := desired - len(live); n > 0 {
		p.createPods(w, w.Name+"-", n)
		return
	}
	p.stopExtra(live, len(live)-desired)
}
