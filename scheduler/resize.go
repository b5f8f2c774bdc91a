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
// node is too small). Resizes on one node are admitted in pod key order,
// each counting the ones before it. Unplaced pods take their new resources
// at once and wait for the next pass to be placed with them.
func (p *pass) resizeAll(workloads []*cluster.Workload) {
	want := map[string][]cluster.ContainerResources{} // by workload UID, for current-template pods
	for _, w := range workloads {
		switch w.Kind {
		case cluster.KindDeployment, cluster.KindStatefulSet, cluster.KindDaemonSet, cluster.KindReplicaSet:
			want[w.UID] = w.Template.ContainerResources()
		}
	}
	byUID := make(map[string]*cluster.Workload, len(workloads))
	for _, w := range workloads {
		byUID[w.UID] = w
	}
	var free map[string]cluster.Resources // by node, filled as needed
	unplaced := map[*cluster.Pod]bool{}
	for _, pod := range p.all {
		res := p.wantResources(pod, byUID, want)
		if res == nil {
			if pod.ResizePending != nil && !pod.Terminating {
				p.plan.ResizePending = append(p.plan.ResizePending, cluster.ResizePendingUpdate{Pod: pod.Ref()})
			}
			continue
		}
		if pod.NodeName == "" {
			p.plan.Resize = append(p.plan.Resize, cluster.PodResize{Pod: pod.Ref(), Containers: res})
			unplaced[pod] = true
			continue
		}
		n, ok := p.nodes[pod.NodeName]
		if !ok {
			continue
		}
		if free == nil {
			free = map[string]cluster.Resources{}
		}
		f, ok := free[n.Name]
		if !ok {
			f = allocatable(n).Sub(cluster.UsageOf(p.st.PodsOnNode(n.Name)).Requested)
		}
		spec := pod.Spec.WithResources(res)
		pending := resizeVerdict(n, f, pod.Spec.Requests(), spec.Requests())
		if pending == nil {
			f = f.Add(pod.Spec.Requests()).Sub(spec.Requests())
			p.plan.Resize = append(p.plan.Resize, cluster.PodResize{Pod: pod.Ref(), Containers: res})
			if p.resized == nil {
				p.resized = map[*cluster.Pod]cluster.Resources{}
			}
			p.resized[pod] = spec.Requests()
		} else if !samePending(pod.ResizePending, pending) {
			p.plan.ResizePending = append(p.plan.ResizePending, cluster.ResizePendingUpdate{Pod: pod.Ref(), Pending: pending})
		}
		free[n.Name] = f
	}
	if len(unplaced) > 0 {
		p.pending = slices.DeleteFunc(p.pending, func(pod *cluster.Pod) bool { return unplaced[pod] })
	}
}

// wantResources is what pod's containers should have when that differs
// from what they have, else nil. A pod on its way out, or one of an older
// template (a rollout replaces it), is left alone.
func (p *pass) wantResources(pod *cluster.Pod, byUID map[string]*cluster.Workload, want map[string][]cluster.ContainerResources) []cluster.ContainerResources {
	if pod.Terminating || p.stopped[pod] || finished(pod) {
		return nil
	}
	var res []cluster.ContainerResources
	if pod.Owner == nil {
		res = pod.DesiredResources
	} else if w := byUID[pod.Owner.UID]; w != nil && w.TemplateHash == pod.TemplateHash {
		res = want[w.UID]
	}
	if len(res) == 0 || !pod.Spec.ResourcesDiffer(res) {
		return nil
	}
	return res
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
