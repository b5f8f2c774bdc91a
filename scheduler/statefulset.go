package scheduler

import (
	"maps"
	"slices"

	"shoal/cluster"
)

const policyParallel = "Parallel"

// statefulSet converges one StatefulSet: pods "<name>-<ordinal>" for
// ordinals 0..Replicas-1, each with its own claim volumes. Unlike a
// Deployment it never runs two pods of one name: a replacement is created
// only once its predecessor has left the state.
func (p *pass) statefulSet(w *cluster.Workload) {
	byOrdinal, busy := p.statefulPods(w)
	ordered := w.PodManagementPolicy != policyParallel
	replicas := max(int(w.Replicas), 0)
	ordinals := slices.Sorted(maps.Keys(byOrdinal))

	if p.stopFinished(byOrdinal, ordinals) {
		busy = true
	}
	p.createOrdinals(w, byOrdinal, replicas, ordered)
	if p.scaleDownStateful(byOrdinal, ordinals, replicas, ordered, busy) {
		busy = true
	}
	if busy || !exactlyOrdinals(byOrdinal, replicas) {
		return
	}
	p.rollStateful(w, byOrdinal, replicas)
}

// statefulPods sorts the set's pods by ordinal. On the way it lets go of
// pods surely stopped on a dead node (their ordinal is created anew next
// pass, going where its data is) and stops pods whose name is not theirs.
// busy: some pod of the set is on its way out; ordered scale-down and
// updates go one pod at a time, so they wait.
func (p *pass) statefulPods(w *cluster.Workload) (byOrdinal map[int]*cluster.Pod, busy bool) {
	byOrdinal = map[int]*cluster.Pod{}
	for _, pod := range p.ownedBy(w.UID) {
		if p.released(pod) {
			p.delete(pod)
			continue
		}
		if pod.Ordinal < 0 || pod.Name != statefulName(w.Name, pod.Ordinal) {
			// Not one of ours by name (renamed set?): it can only go.
			if !pod.Terminating && !p.fenced(pod) {
				p.stop(pod)
			}
			continue
		}
		byOrdinal[pod.Ordinal] = pod
		if pod.Terminating {
			busy = true
		}
	}
	return byOrdinal, busy
}

// stopFinished stops the pods that ended, reporting whether it stopped
// any; their ordinals are recreated once they are gone.
func (p *pass) stopFinished(byOrdinal map[int]*cluster.Pod, ordinals []int) (stopped bool) {
	for _, o := range ordinals {
		if pod := byOrdinal[o]; !pod.Terminating && finished(pod) && !p.fenced(pod) {
			p.stop(pod)
			stopped = true
		}
	}
	return stopped
}

// createOrdinals creates missing ordinals: all at once (Parallel), or the
// lowest one only when every lower ordinal runs and is ready
// (OrderedReady).
func (p *pass) createOrdinals(w *cluster.Workload, byOrdinal map[int]*cluster.Pod, replicas int, ordered bool) {
	for i := range replicas {
		pod, ok := byOrdinal[i]
		if !ok && p.taken(w.Namespace, statefulName(w.Name, i)) {
			// Another owner's pod has the name (an earlier set of the same
			// name, being deleted): wait for it to leave the state.
			if ordered {
				break
			}
			continue
		}
		if !ok {
			p.create(p.newStatefulPod(w, i))
			if ordered {
				break
			}
			continue
		}
		if ordered && !p.availableNow(w, pod) {
			break
		}
	}
}

// scaleDownStateful stops the ordinals at and above replicas, highest
// first; OrderedReady waits for each pod to be gone before the next. It
// returns busy, updated with the pods it stopped.
func (p *pass) scaleDownStateful(byOrdinal map[int]*cluster.Pod, ordinals []int, replicas int, ordered, busy bool) bool {
	for i := len(ordinals) - 1; i >= 0 && ordinals[i] >= replicas; i-- {
		pod := byOrdinal[ordinals[i]]
		if pod.Terminating || p.stopped[pod] || p.fenced(pod) {
			continue
		}
		if ordered && busy {
			break
		}
		p.stop(pod)
		busy = true
	}
	return busy
}

// exactlyOrdinals reports whether the set has ordinals 0..replicas-1 and
// no other: a rolling update waits for scaling to finish.
func exactlyOrdinals(byOrdinal map[int]*cluster.Pod, replicas int) bool {
	if len(byOrdinal) != replicas {
		return false
	}
	for i := range replicas {
		if byOrdinal[i] == nil {
			return false // still being created
		}
	}
	return true
}

// rollStateful replaces the highest ordinal still on an old template, one
// at a time, and only while all the others are ready.
func (p *pass) rollStateful(w *cluster.Workload, byOrdinal map[int]*cluster.Pod, replicas int) {
	for i := replicas - 1; i >= 0; i-- {
		pod := byOrdinal[i]
		if pod.TemplateHash == w.TemplateHash {
			continue
		}
		if p.fenced(pod) {
			return // fencing decides about pods on dead nodes, not us
		}
		for j := range replicas {
			if j != i && !p.availableNow(w, byOrdinal[j]) {
				return
			}
		}
		p.stop(pod)
		return
	}
}

// availableNow reports whether a pod is available (ready, for
// minReadySeconds) and stays so after this pass: a pod on a dead node only
// looks ready (its last report).
func (p *pass) availableNow(w *cluster.Workload, pod *cluster.Pod) bool {
	return w.PodAvailable(pod) && !p.stopped[pod] && !p.fenced(pod)
}

// fenced reports whether a StatefulSet pod sits on a Down or vanished node
// whose lease is not known to have expired: such a pod may still be running
// there, so nothing about it changes until fencing releases it.
func (p *pass) fenced(pod *cluster.Pod) bool { return p.lost(pod) && !p.opts.Fenced[pod.NodeName] }

// released reports whether a StatefulSet pod is on a lost node whose
// fencing lease has surely expired: its agent stopped it, so it may be
// replaced. A replacement with claim data still waits for that node (the
// volume rule), with a message that says so.
func (p *pass) released(pod *cluster.Pod) bool {
	return p.lost(pod) && p.opts.Fenced[pod.NodeName]
}

// newStatefulPod makes pod <name>-<ordinal> with one claim volume per
// volumeClaimTemplate. The volume keeps the template's name, so that the
// containers' volumeMounts resolve, while the claim is per pod.
func (p *pass) newStatefulPod(w *cluster.Workload, ordinal int) *cluster.Pod {
	name := statefulName(w.Name, ordinal)
	pod := p.newPod(w, name)
	pod.Ordinal = ordinal
	// Kubernetes' StatefulSet identity: the pod's name under its governing
	// service, whatever the template says.
	pod.Spec.Hostname, pod.Spec.Subdomain = name, w.ServiceName
	for _, tmpl := range w.VolumeClaimTemplates {
		v := cluster.Volume{Name: tmpl.ClaimName, Claim: &cluster.ClaimSource{
			ClaimName: tmpl.ClaimName + "-" + name,
			Storage:   tmpl.Storage,
		}}
		// A claim template shadows a template volume of the same name.
		i := slices.IndexFunc(pod.Spec.Volumes, func(x cluster.Volume) bool { return x.Name == v.Name })
		if i >= 0 {
			pod.Spec.Volumes[i] = v
		} else {
			pod.Spec.Volumes = append(pod.Spec.Volumes, v)
		}
	}
	return pod
}
