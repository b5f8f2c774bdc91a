package consensus

import (
	"fmt"
	"strings"

	"shoal/cluster"
)

// applyResizes admits the plan's in-place resizes and records its pending
// ones. A resize is re-checked against the node as a placement is: the
// scheduler decided on an older state. One that no longer fits is left
// out; the next pass records why. It counts in r.Plan.Resized the pods it
// changed and returns the placer, which the placements that follow share.
func applyResizes(a *applier, plan *cluster.Plan, r *Result) *placer {
	changed, pl, skipped := 0, a.placer(), &r.Skipped
	for _, rz := range plan.Resize {
		p, ok := a.txn.Pod(orDefault(rz.Pod.Namespace), rz.Pod.Name)
		if !ok || p.UID != rz.Pod.UID {
			*skipped++
			continue
		}
		if why := pl.resize(p, rz.Containers); why != "" {
			*skipped++
			continue
		}
		changed++
	}
	for _, u := range plan.ResizePending {
		p, ok := a.txn.Pod(orDefault(u.Pod.Namespace), u.Pod.Name)
		if !ok || p.UID != u.Pod.UID || samePending(p.ResizePending, u.Pending) {
			*skipped++
			continue
		}
		p = p.Clone()
		p.ResizePending = cloneResizePending(u.Pending)
		a.txn.PutPod(p)
		changed++
	}
	r.Plan.Resized = changed
	return pl
}

func samePending(a, b *cluster.ResizePending) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func cloneResizePending(r *cluster.ResizePending) *cluster.ResizePending {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

// resize gives the stored pod p the containers' new resources if its node
// has room for the difference, and reports why not otherwise ("" when
// done). An unplaced pod takes them at once: it holds nothing yet.
func (pl *placer) resize(p *cluster.Pod, res []cluster.ContainerResources) string {
	if p.Terminating {
		return "pod is terminating"
	}
	for _, r := range res {
		if !hasContainer(p, r.Name) {
			return "pod has no container " + r.Name
		}
	}
	spec := p.Spec.WithResources(res)
	if !cluster.ResizeOnly(p.Spec, spec) {
		return "not an in-place resize"
	}
	oldReq, newReq := p.Spec.Requests(), spec.Requests()
	if p.Holds() {
		room, ok := pl.room(p.NodeName)
		if !ok {
			return "node " + p.NodeName + " not found"
		}
		if free := room.free.Add(oldReq); !free.Fits(newReq) {
			return fmt.Sprintf("node %s: insufficient %s", p.NodeName, strings.Join(free.Insufficient(newReq), ", "))
		}
		room.free = room.free.Add(oldReq).Sub(newReq)
	}
	p = p.Clone()
	p.Spec = spec
	p.ResizePending = nil
	if !p.Spec.ResourcesDiffer(p.DesiredResources) {
		p.DesiredResources = nil // a bare pod's resize is done
	}
	pl.txn.PutPod(p)
	return ""
}

// desiredInvalid says why a bare pod's DesiredResources could never be
// admitted ("" when they can): the scheduler would propose them forever.
func desiredInvalid(p *cluster.Pod) string {
	if len(p.DesiredResources) == 0 {
		return ""
	}
	if p.Owner != nil {
		return "only a bare pod has its own (a workload's pods follow its template)"
	}
	for _, r := range p.DesiredResources {
		if !hasContainer(p, r.Name) {
			return "pod has no container " + r.Name
		}
	}
	if !cluster.ResizeOnly(p.Spec, p.Spec.WithResources(p.DesiredResources)) {
		return "only cpu and memory change in place"
	}
	return ""
}

func hasContainer(p *cluster.Pod, name string) bool {
	for _, c := range p.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}
