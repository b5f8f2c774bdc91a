package manifest

import (
	corev1 "k8s.io/api/core/v1"

	"shoal/cluster"
)

// resizePolicy converts a container's resizePolicy, as Kubernetes
// validates it: cpu or memory, each once, NotRequired or RestartContainer;
// an init container that runs to completion has none (it is never
// resized).
func (c *conv) resizePolicy(p string, in []corev1.ContainerResizePolicy, runsToCompletion bool) []cluster.ContainerResizePolicy {
	if len(in) == 0 {
		return nil
	}
	if runsToCompletion {
		c.errf(p, "may not be set on init containers that are not sidecars (restartPolicy: Always)")
		return nil
	}
	var out []cluster.ContainerResizePolicy
	seen := map[corev1.ResourceName]bool{}
	for i, r := range in {
		pp := index(p, i)
		switch r.ResourceName {
		case corev1.ResourceCPU, corev1.ResourceMemory:
			if seen[r.ResourceName] {
				c.errf(pp+".resourceName", "%q is given twice", r.ResourceName)
			}
			seen[r.ResourceName] = true
		case "":
			c.errf(pp+".resourceName", "required (cpu or memory)")
		default:
			c.errf(pp+".resourceName", "%q is not supported (cpu or memory)", r.ResourceName)
		}
		switch r.RestartPolicy {
		case corev1.NotRequired, corev1.RestartContainer:
		case "":
			c.errf(pp+".restartPolicy", "required (NotRequired or RestartContainer)")
		default:
			c.errf(pp+".restartPolicy", "%q is not valid (NotRequired or RestartContainer)", r.RestartPolicy)
		}
		out = append(out, cluster.ContainerResizePolicy{ResourceName: string(r.ResourceName),
			RestartPolicy: cluster.ResizeRestartPolicy(r.RestartPolicy)})
	}
	return out
}

// resizeNeverRestarts refuses, as Kubernetes does, a resizePolicy that
// restarts a container of a pod whose restartPolicy is Never.
func (c *conv) resizeNeverRestarts(s *cluster.PodSpec, p string) {
	if s.RestartPolicy != cluster.RestartNever {
		return
	}
	for i, ct := range s.Containers {
		for j, r := range ct.ResizePolicy {
			if r.RestartPolicy == cluster.ResizeRestartContainer {
				c.errf(index(index(p+".containers", i)+".resizePolicy", j)+".restartPolicy",
					"must be NotRequired when the pod's restartPolicy is Never")
			}
		}
	}
}

// resizeConditions are Kubernetes' (1.33+) resize conditions: a resize the
// scheduler has not admitted (PodResizePending, Deferred or Infeasible)
// and one the node has not applied yet (PodResizeInProgress, reason Error
// with the node's words when it failed).
func resizeConditions(p *cluster.Pod) []corev1.PodCondition {
	var out []corev1.PodCondition
	if r := p.ResizePending; r != nil {
		out = append(out, corev1.PodCondition{Type: corev1.PodResizePending, Status: corev1.ConditionTrue,
			Reason: r.Reason, Message: r.Message})
	}
	if p.Status.Resizing {
		c := corev1.PodCondition{Type: corev1.PodResizeInProgress, Status: corev1.ConditionTrue}
		if p.Status.ResizeMessage != "" {
			c.Reason, c.Message = corev1.PodReasonError, p.Status.ResizeMessage
		}
		out = append(out, c)
	}
	return out
}

// appliedToK8s shows, as status.containerStatuses[].resources, the
// requests and limits the node applied to the container, and as its
// allocatedResources the requests the scheduler admitted (a main
// container's spec).
func appliedToK8s(k *corev1.ContainerStatus, cs cluster.ContainerStatus, mains []cluster.Container) {
	if cs.Resources != (cluster.AppliedResources{}) {
		k.Resources = &corev1.ResourceRequirements{
			Requests: resourceListToK8s(cs.Resources.Requests), Limits: resourceListToK8s(cs.Resources.Limits),
		}
	}
	for i := range mains {
		if mains[i].Name == cs.Name && !mains[i].Requests.IsZero() {
			k.AllocatedResources = resourceListToK8s(mains[i].Requests)
		}
	}
}
