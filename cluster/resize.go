package cluster

import (
	"encoding/json"
	"slices"
)

// ResizeRestartPolicy says what a container needs when one of its
// resources changes in place (Kubernetes' resizePolicy[].restartPolicy).
type ResizeRestartPolicy string

// Resize restart policies, as Kubernetes spells them. NotRequired is the
// default for every resource.
const (
	ResizeNotRequired      ResizeRestartPolicy = "NotRequired"
	ResizeRestartContainer ResizeRestartPolicy = "RestartContainer"
)

// ContainerResizePolicy is one entry of a container's resizePolicy.
type ContainerResizePolicy struct {
	// ResourceName is cpu or memory.
	ResourceName  string              `json:"resourceName"`
	RestartPolicy ResizeRestartPolicy `json:"restartPolicy"`
}

// Reasons of the PodResizePending condition, as Kubernetes gives them.
const (
	// ResizeDeferred: the node has not enough free now, it may later.
	ResizeDeferred = "Deferred"
	// ResizeInfeasible: the pod would ask for more than the node has at all.
	ResizeInfeasible = "Infeasible"
)

// ResizePending is the scheduler's record of a resize it could not admit:
// the pod keeps running with what it holds, and the resize is retried on
// every pass.
type ResizePending struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// ContainerResources is what an in-place resize may change of one
// container: its cpu and memory requests and limits, and its resize
// policy.
type ContainerResources struct {
	Name         string                  `json:"name"`
	Requests     Resources               `json:"requests,omitzero"`
	Limits       Resources               `json:"limits,omitzero"`
	ResizePolicy []ContainerResizePolicy `json:"resizePolicy,omitempty"`
}

// PodResize is an admitted resize in a Plan: the containers' new resources.
type PodResize struct {
	Pod        PodRef               `json:"pod"`
	Containers []ContainerResources `json:"containers"`
}

// ResizePendingUpdate records (or, with a nil Pending, clears) a pod's
// pending resize.
type ResizePendingUpdate struct {
	Pod     PodRef         `json:"pod"`
	Pending *ResizePending `json:"pending,omitempty"`
}

// ResizeRestart reports whether c must restart to take a new value of
// resource (cpu or memory): its resizePolicy says RestartContainer.
func (c *Container) ResizeRestart(resource string) bool {
	for _, p := range c.ResizePolicy {
		if p.ResourceName == resource {
			return p.RestartPolicy == ResizeRestartContainer
		}
	}
	return false
}

// ContainerResources lists the resources of the spec's containers, in
// order.
func (s *PodSpec) ContainerResources() []ContainerResources {
	out := make([]ContainerResources, len(s.Containers))
	for i, c := range s.Containers {
		out[i] = ContainerResources{Name: c.Name, Requests: c.Requests, Limits: c.Limits,
			ResizePolicy: slices.Clone(c.ResizePolicy)}
	}
	return out
}

// ResourcesDiffer reports whether want gives any of the spec's containers
// other resources (or another resize policy) than it has. It runs for
// every pod on every scheduling pass, so it looks at the container of the
// same index first and copies none.
func (s *PodSpec) ResourcesDiffer(want []ContainerResources) bool {
	for i := range want {
		w := &want[i]
		j := i
		if j >= len(s.Containers) || s.Containers[j].Name != w.Name {
			j = slices.IndexFunc(s.Containers, func(c Container) bool { return c.Name == w.Name })
		}
		if j < 0 {
			continue
		}
		c := &s.Containers[j]
		if c.Requests != w.Requests || c.Limits != w.Limits || !slices.Equal(c.ResizePolicy, w.ResizePolicy) {
			return true
		}
	}
	return false
}

// WithResources returns a copy of s whose containers have the resources
// res gives them (by name); the others keep theirs.
func (s *PodSpec) WithResources(res []ContainerResources) PodSpec {
	out := s.Clone()
	for _, r := range res {
		for i := range out.Containers {
			if c := &out.Containers[i]; c.Name == r.Name {
				c.Requests, c.Limits, c.ResizePolicy = r.Requests, r.Limits, slices.Clone(r.ResizePolicy)
			}
		}
	}
	return out
}

// ResizeOnly reports whether b differs from a in nothing but what an
// in-place resize changes: the cpu and memory requests and limits of the
// (main) containers and their resize policies. Such a change does not
// replace pods. Ephemeral storage and GPUs cannot change in place, as in
// Kubernetes.
func ResizeOnly(a, b PodSpec) bool {
	strip := func(s PodSpec) PodSpec {
		s = s.Clone()
		for i := range s.Containers {
			c := &s.Containers[i]
			c.Requests.MilliCPU, c.Requests.Memory, c.Limits.MilliCPU, c.Limits.Memory = 0, 0, 0, 0
			c.ResizePolicy = nil
		}
		return s
	}
	ja, err1 := json.Marshal(strip(a))
	jb, err2 := json.Marshal(strip(b))
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
