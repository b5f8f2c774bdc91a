package podconfig

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"shoal/cluster"
)

// defaultServiceAccount is the account every pod runs as in Kubernetes
// unless it names another: Shoal has no serviceAccountName, so it is
// what spec.serviceAccountName reads.
const defaultServiceAccount = "default"

// fieldValue is the downward API's value of a field path of the pod
// (the manifest allowed only known paths).
func fieldValue(src *Source, fieldPath string) (string, error) {
	p := src.Pod
	if key, ok := strings.CutPrefix(fieldPath, "metadata.labels['"); ok {
		return p.Labels[strings.TrimSuffix(key, "']")], nil
	}
	if key, ok := strings.CutPrefix(fieldPath, "metadata.annotations['"); ok {
		return p.Annotations[strings.TrimSuffix(key, "']")], nil
	}
	switch fieldPath {
	case "metadata.name":
		return p.Name, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "metadata.uid":
		return p.UID, nil
	case "metadata.labels":
		return formatMap(p.Labels), nil
	case "metadata.annotations":
		return formatMap(p.Annotations), nil
	case "spec.nodeName":
		return p.NodeName, nil
	case "spec.serviceAccountName":
		return defaultServiceAccount, nil
	case "status.podIP", "status.podIPs":
		// One address family: the list is the one IP.
		return src.PodIP, nil
	case "status.hostIP", "status.hostIPs":
		return src.HostIP, nil
	}
	return "", fmt.Errorf("field path %q is not supported", fieldPath)
}

// formatMap writes labels or annotations as the downward API does: one
// key="value" per line, sorted, values quoted Go-style.
func formatMap(m map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}

// resourceValue is a container's request or limit, divided by the
// divisor and rounded up, as the downward API gives it. An unset limit
// reads as the node's allocatable amount. self is the container asking
// (for env vars that name none).
func resourceValue(src *Source, self string, r *cluster.ResourceFieldRef) (string, error) {
	name := r.ContainerName
	if name == "" {
		name = self
	}
	spec := &src.Pod.Spec
	i := slices.IndexFunc(spec.Containers, func(c cluster.Container) bool { return c.Name == name })
	var c cluster.Container
	switch {
	case i >= 0:
		c = spec.Containers[i]
	default:
		j := slices.IndexFunc(spec.InitContainers, func(c cluster.Container) bool { return c.Name == name })
		if j < 0 {
			return "", fmt.Errorf("resourceFieldRef: container %q not found in pod %s", name, src.Pod.Key())
		}
		c = spec.InitContainers[j]
	}
	kind, res, _ := strings.Cut(r.Resource, ".")
	var amounts cluster.Resources
	switch kind {
	case "limits":
		amounts = withDefaults(c.Limits, src.Allocatable)
	case "requests":
		amounts = c.Requests
	default:
		return "", fmt.Errorf("resourceFieldRef: resource %q is not supported", r.Resource)
	}
	var v, unit int64
	switch res {
	case cluster.ResourceCPU:
		v, unit = amounts.MilliCPU, 1000 // millicores; the divisor defaults to one core
	case cluster.ResourceMemory:
		v, unit = amounts.Memory, 1
	case cluster.ResourceEphemeralStorage:
		v, unit = amounts.EphemeralStorage, 1
	default:
		return "", fmt.Errorf("resourceFieldRef: resource %q is not supported", r.Resource)
	}
	d := r.Divisor
	if d <= 0 {
		d = unit
	}
	return strconv.FormatInt(ceilDiv(v, d), 10), nil
}

// withDefaults fills the limits a container leaves unset with the node's
// allocatable amounts, as kubelet does for the downward API.
func withDefaults(limits, allocatable cluster.Resources) cluster.Resources {
	out := limits
	if out.MilliCPU == 0 {
		out.MilliCPU = allocatable.MilliCPU
	}
	if out.Memory == 0 {
		out.Memory = allocatable.Memory
	}
	if out.EphemeralStorage == 0 {
		out.EphemeralStorage = allocatable.EphemeralStorage
	}
	return out
}

func ceilDiv(v, d int64) int64 {
	if v <= 0 {
		return 0
	}
	return (v + d - 1) / d
}
