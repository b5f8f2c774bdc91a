package node

import (
	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// stopResize stops a container to resize it: its resizePolicy says
// RestartContainer for a resource that changed. It restarts at once, with
// the new resources, and its restart count grows as Kubernetes' does.
const stopResize = "ResizeRestart"

// resizeStep compares what a running container was given (its applied
// resources) with the pod's spec, which changes when the scheduler admits
// an in-place resize. It returns stopResize when the container must
// restart for it; otherwise, if the two differ, it sets v.act to update the
// container in place, after the back-off of a failed attempt (a memory
// limit below usage, refused by the runtime, is retried so).
func (m *podMemory) resizeStep(in stepInput, c cluster.Container, oc *rtapi.ContainerState, v *ctrView) string {
	if !isMain(in.pod, c.Name) {
		return "" // only main containers are resized
	}
	cm := m.ctr(c.Name)
	want := cluster.AppliedResources{Requests: c.Requests, Limits: c.Limits}
	applied := m.applied(c, oc)
	if applied == want {
		cm.resizeFail = failure{}
		return ""
	}
	if restartsFor(c, applied, want) {
		return stopResize
	}
	if f := cm.resizeFail; f.err != nil && in.now.Before(f.retryAt) {
		v.wakeAt = f.retryAt
		return ""
	}
	v.act = action{kind: actResize, container: c}
	return ""
}

// applied is what the running container oc was given. The runtime records
// it; for a container started by an agent that did not, the spec it was
// first seen with stands in (the spec it was started from, unless a resize
// was admitted while no agent ran).
func (m *podMemory) applied(c cluster.Container, oc *rtapi.ContainerState) cluster.AppliedResources {
	if oc.Resources != nil {
		return *oc.Resources
	}
	cm := m.ctr(c.Name)
	if cm.assumed == nil {
		cm.assumed = &cluster.AppliedResources{Requests: c.Requests, Limits: c.Limits}
	}
	return *cm.assumed
}

// restartsFor reports whether going from old to new changes a resource
// whose resizePolicy is RestartContainer.
func restartsFor(c cluster.Container, old, new cluster.AppliedResources) bool {
	cpu := old.Requests.MilliCPU != new.Requests.MilliCPU || old.Limits.MilliCPU != new.Limits.MilliCPU
	mem := old.Requests.Memory != new.Requests.Memory || old.Limits.Memory != new.Limits.Memory
	return (cpu && c.ResizeRestart(cluster.ResourceCPU)) || (mem && c.ResizeRestart(cluster.ResourceMemory))
}

func isMain(pod *cluster.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// resizeStatus sets the pod's Resizing (Kubernetes' PodResizeInProgress)
// while a main container runs with other resources than its spec's, or is
// being restarted for them, and says what holds the resize up.
func (m *podMemory) resizeStatus(pod *cluster.Pod, observed map[string]*rtapi.ContainerState, st *cluster.PodStatus) {
	for _, c := range pod.Spec.Containers {
		oc := observed[c.Name]
		if oc == nil {
			continue
		}
		cm := m.ctr(c.Name)
		restarting := cm.stoppedWhy == stopResize && cm.stoppedAttempt == oc.Attempt
		if !(oc.Running || restarting) || m.applied(c, oc) == (cluster.AppliedResources{Requests: c.Requests, Limits: c.Limits}) {
			continue
		}
		st.Resizing = true
		if f := cm.resizeFail; f.err != nil && st.ResizeMessage == "" {
			st.ResizeMessage = "container " + c.Name + ": " + f.err.Error()
		}
	}
}
