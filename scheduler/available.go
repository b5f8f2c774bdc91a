package scheduler

import "shoal/cluster"

// readiness stamps the pods of a workload with minReadySeconds (see
// cluster/available.go): when this pass first sees one ready, and once it
// has been ready that long. The pass's now is the only clock: a pod
// becomes available on the first pass after its time (the pass asks for a
// wake-up then, see scope.go), and the workload's controller counts it from
// the next.
func (p *pass) readiness(w *cluster.Workload) {
	if w.MinReadySeconds <= 0 {
		return
	}
	for _, pod := range p.ownedBy(w.UID) {
		if !pod.Ready() {
			continue
		}
		switch {
		case pod.ReadySince.IsZero():
			p.plan.Readiness = append(p.plan.Readiness, cluster.PodReadiness{Pod: pod.Ref(), ReadySince: p.now})
		case !pod.Available && !p.now.Before(pod.ReadySince.Add(w.MinReady())):
			p.plan.Readiness = append(p.plan.Readiness, cluster.PodReadiness{Pod: pod.Ref(), ReadySince: pod.ReadySince, Available: true})
		case !pod.Available:
			p.wakeAt(w, pod.ReadySince.Add(w.MinReady()))
		}
	}
}
