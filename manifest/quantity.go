package manifest

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"shoal/cluster"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// resources converts a container's requests and limits with Kubernetes'
// rules: a limit without a request makes the request equal to the limit;
// a request may not exceed its limit; GPUs cannot be overcommitted, so a
// GPU limit is required and its request, if given, must equal it.
func (c *conv) resources(p string, r corev1.ResourceRequirements) (req, lim cluster.Resources) {
	req = c.resourceList(p+".requests", r.Requests)
	lim = c.resourceList(p+".limits", r.Limits)
	_, hasReqCPU := r.Requests[corev1.ResourceCPU]
	_, hasReqMem := r.Requests[corev1.ResourceMemory]
	_, hasReqEph := r.Requests[corev1.ResourceEphemeralStorage]
	_, hasReqGPU := r.Requests[cluster.ResourceGPU]
	_, hasLimCPU := r.Limits[corev1.ResourceCPU]
	_, hasLimMem := r.Limits[corev1.ResourceMemory]
	_, hasLimEph := r.Limits[corev1.ResourceEphemeralStorage]
	_, hasLimGPU := r.Limits[cluster.ResourceGPU]
	if hasLimCPU && !hasReqCPU {
		req.MilliCPU = lim.MilliCPU
	}
	if hasLimMem && !hasReqMem {
		req.Memory = lim.Memory
	}
	if hasLimEph && !hasReqEph {
		req.EphemeralStorage = lim.EphemeralStorage
	}
	switch {
	case hasReqGPU && !hasLimGPU:
		c.errf(field(p+".limits", cluster.ResourceGPU), "required when requests set it: GPUs are set in limits (the request equals the limit)")
	case hasLimGPU && !hasReqGPU:
		req.GPU = lim.GPU
	case hasReqGPU && req.GPU != lim.GPU:
		c.errf(field(p+".requests", cluster.ResourceGPU), "%d must equal the limit (%d): GPUs cannot be overcommitted", req.GPU, lim.GPU)
	}
	if hasLimCPU && req.MilliCPU > lim.MilliCPU {
		c.errf(p+".requests.cpu", "%s must be less than or equal to the cpu limit (%s)",
			cluster.FormatMilliCPU(req.MilliCPU), cluster.FormatMilliCPU(lim.MilliCPU))
	}
	if hasLimMem && req.Memory > lim.Memory {
		c.errf(p+".requests.memory", "%s must be less than or equal to the memory limit (%s)",
			cluster.FormatBytes(req.Memory), cluster.FormatBytes(lim.Memory))
	}
	if hasLimEph && req.EphemeralStorage > lim.EphemeralStorage {
		c.errf(p+".requests.ephemeral-storage", "%s must be less than or equal to the ephemeral-storage limit (%s)",
			cluster.FormatBytes(req.EphemeralStorage), cluster.FormatBytes(lim.EphemeralStorage))
	}
	return req, lim
}

func (c *conv) resourceList(p string, l corev1.ResourceList) cluster.Resources {
	var out cluster.Resources
	for _, name := range sortedResourceNames(l) {
		q := l[name]
		if err := setResource(&out, string(name), q); err != nil {
			c.errf(field(p, string(name)), "%v", err)
		}
	}
	return out
}

func sortedResourceNames(l corev1.ResourceList) []corev1.ResourceName {
	return slices.Sorted(maps.Keys(l))
}

// setResource stores one quantity: cpu in millicores (rounded up, as
// Kubernetes does below 1m), memory and ephemeral-storage in bytes, GPUs as
// a whole count.
func setResource(r *cluster.Resources, name string, q resource.Quantity) error {
	if q.Sign() < 0 {
		return fmt.Errorf("%q must be 0 or more", q.String())
	}
	if limit, ok := maxQuantity[name]; ok && q.Cmp(limit) > 0 {
		return fmt.Errorf("%q is too large", q.String())
	}
	switch name {
	case cluster.ResourceCPU:
		r.MilliCPU = q.MilliValue()
	case cluster.ResourceMemory:
		r.Memory = q.Value()
	case cluster.ResourceEphemeralStorage:
		r.EphemeralStorage = q.Value()
	case cluster.ResourceGPU:
		n := q.Value()
		if q.Cmp(*resource.NewQuantity(n, resource.DecimalSI)) != 0 {
			return fmt.Errorf("%q must be a whole number of GPUs", q.String())
		}
		r.GPU = n
	default:
		return fmt.Errorf("resource %q is not supported by Shoal (cpu, memory, %s, %s)", name, cluster.ResourceEphemeralStorage, cluster.ResourceGPU)
	}
	return nil
}

// maxQuantity keeps quantities where millicores and bytes fit an int64
// (Quantity.Value would silently saturate beyond).
var maxQuantity = map[string]resource.Quantity{
	cluster.ResourceCPU:              resource.MustParse("1T"),
	cluster.ResourceMemory:           resource.MustParse("4Ei"),
	cluster.ResourceEphemeralStorage: resource.MustParse("4Ei"),
	cluster.ResourceGPU:              resource.MustParse("1M"),
	"storage":                        resource.MustParse("4Ei"),
}

// bytesOf converts a size (memory, storage, sizeLimit) to bytes.
func bytesOf(q resource.Quantity) (int64, error) {
	if q.Sign() < 0 {
		return 0, fmt.Errorf("%q must be 0 or more", q.String())
	}
	if q.Cmp(maxQuantity["storage"]) > 0 {
		return 0, fmt.Errorf("%q is too large", q.String())
	}
	return q.Value(), nil
}

// ParseResourceList parses a command-line resource list such as
// "cpu=500m,memory=1Gi,ephemeral-storage=10Gi,nvidia.com/gpu=1" (for
// `shoal set resources` and `shoal agent --capacity`). An empty string is
// no resources.
func ParseResourceList(s string) (cluster.Resources, error) {
	var out cluster.Resources
	seen := map[string]bool{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, val, ok := strings.Cut(item, "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok || name == "" || val == "" {
			return cluster.Resources{}, fmt.Errorf("resource list %q: %q is not name=quantity", s, item)
		}
		if seen[name] {
			return cluster.Resources{}, fmt.Errorf("resource list %q: %s is given twice", s, name)
		}
		seen[name] = true
		q, err := resource.ParseQuantity(val)
		if err != nil {
			return cluster.Resources{}, fmt.Errorf("resource list %q: %s: %q is not a valid quantity", s, name, val)
		}
		if err := setResource(&out, name, q); err != nil {
			return cluster.Resources{}, fmt.Errorf("resource list %q: %s: %w", s, name, err)
		}
	}
	return out, nil
}
