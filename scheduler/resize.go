package scheduler

import (
	"fmt"
	"slices"
	"strings"

	"shoal/cluster"
)

// resizeAll admits in-place resizes: a pod whose resources differ from what
// it should have (its workload's current template, or a bare pod's
// DesiredResources) gets them if its node has room for the difference;
// otherwise it keeps running with what it holds and the pod records why
// (PodResizePending: Deferred when the room may come, Infeasible when the
// node is too small). Resizes on one node are admitted in a fixed order
// (workloads', then bare pods', each in key order), each counting the
// ones before it. Unplaced pods take their new resources at once and wait
// for the next pass to be placed with them.
func (p *pass) resizeAll(workloads []*cluster.Workload) {
	r := resizer{pass: p, unplaced: map[*cluster.Pod]bool{}}
	for _, w := range workloads {
		switch w.Kind {
		case cluster.KindDeployment, cluster.KindStatefulSet, cluster.KindDaemonSet, cluster.KindReplicaSet:
		default:
			continue
		}
		want := w.Template.ContainerResources()
		for _, pod := range p.ownedBy(w.UID) {
			if pod.TemplateHash != w.TemplateHash {
				r.resize(pod, nil) // an older template's: the rollout replaces it
				continue
			}
			r.resize(pod, want)
		}
	}
	for _, pod := range p.scanned {
		if pod.Owner == nil && (len(pod.DesiredResources) > 0 || pod.ResizePending != nil) {
			r.resize(pod, pod.DesiredResources)
		}
	}
	if len(r.unplaced) > 0 {
		p.pending = slices.DeleteFunc(p.pending, func(pod *cluster.Pod) bool { return r.unplaced[pod] })
	}
}

// resizer is the state of resizeAll.
type resizer struct {
	*pass
	free     map[string]cluster.Resources // by node, filled as needed
	unplaced map[*cluster.Pod]bool
}

// resize gives pod res (nil: what it has) if it should and can take it.
func (r *resizer) resize(pod *cluster.Pod, res []cluster.ContainerResources) {
	if pod.Terminating || r.stopped[pod] || finished(pod) || len(res) == 0 || !pod.Spec.ResourcesDiffer(res) {
		if pod.ResizePending != nil && !pod.Terminating {
			r.plan.ResizePending = append(r.plan.ResizePending, cluster.ResizePendingUpdate{Pod: pod.Ref()})
		}
		return
	}
	if pod.NodeName == "" {
		r.plan.Resize = append(r.plan.Resize, cluster.PodResize{Pod: pod.Ref(), Containers: res})
		r.unplaced[pod] = true
		return
	}
	n, ok := r.nodes[pod.NodeName]
	if !ok {
		return
	}
	if r.free == nil {
		r.free = map[string]cluster.Resources{}
	}
	f, ok := r.free[n.Name]
	if !ok {
		f = allocatable(n).Sub(cluster.UsageOf(r.st.PodsOnNode(n.Name)).Requested)
	}
	spec := pod.Spec.WithResources(res)
	pending := resizeVerdict(n, f, pod.Spec.Requests(), spec.Requests())
	if pending == nil {
		f = f.Add(pod.Spec.Requests()).Sub(spec.Requests())
		r.plan.Resize = append(r.plan.Resize, cluster.PodResize{Pod: pod.Ref(), Containers: res})
		if r.resized == nil {
			r.resized = map[*cluster.Pod]cluster.Resources{}
		}
		r.resized[pod] = spec.Requests()
	} else if !samePending(pod.ResizePending, pending) {
		r.plan.ResizePending = append(r.plan.ResizePending, cluster.ResizePendingUpdate{Pod: pod.Ref(), Pending: pending})
	}
	r.free[n.Name] = f
}

// allocatable is what pods may request of n (its capacity when it reported
// no reservations, as the FSM counts it).
func allocatable(n *cluster.Node) cluster.Resources {
	if n.Allocatable.IsZero() {
		return n.Capacity
	}
	return n.Allocatable
}

// resizeVerdict says why a pod requesting old on node n, which has free
// left, cannot request new instead, or nil when it can; the message is the
// kubelet's.
func resizeVerdict(n *cluster.Node, free, old, new cluster.Resources) *cluster.ResizePending {
	alloc := allocatable(n)
	if names := alloc.Insufficient(new); len(names) > 0 {
		return &cluster.ResizePending{Reason: cluster.ResizeInfeasible,
			Message: fmt.Sprintf("Node didn't have enough capacity: %s", describeShort(names, new, cluster.Resources{}, alloc, false))}
	}
	room := free.Add(old)
	if names := room.Insufficient(new); len(names) > 0 {
		return &cluster.ResizePending{Reason: cluster.ResizeDeferred,
			Message: fmt.Sprintf("Node didn't have enough resource: %s", describeShort(names, new, alloc.Sub(room), alloc, true))}
	}
	return nil
}

// describeShort writes, per resource short of room, what is requested,
// used by the other pods (withUsed) and the node's allocatable.
func describeShort(names []string, req, used, alloc cluster.Resources, withUsed bool) string {
	parts := make([]string, 0, len(names))
	for _, name := range names {
		q := func(r cluster.Resources) string { return quantity(name, r) }
		s := fmt.Sprintf("%s, requested: %s", name, q(req))
		if withUsed {
			s += ", used: " + q(used)
		}
		parts = append(parts, s+", capacity: "+q(alloc))
	}
	return strings.Join(parts, "; ")
}

func quantity(name string, r cluster.Resources) string {
	switch name {
	case cluster.ResourceCPU:
		return cluster.FormatMilliCPU(r.MilliCPU)
	case cluster.ResourceMemory:
		return cluster.FormatBytes(r.Memory)
	case cluster.ResourceEphemeralStorage:
		return cluster.FormatBytes(r.EphemeralStorage)
	}
	return fmt.Sprint(r.GPU)
}

func samePending(a, b *cluster.ResizePending) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
