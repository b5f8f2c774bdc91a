package runtime

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/containerd/containerd/v2/client"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// labelResources records the requests and limits applied to a container
// (at creation, then by every in-place resize), so that the node
// reconciler sees what a container runs with, across agent restarts.
const labelResources = "io.shoal.resources"

// labelOCIResources records the requests and limits in the container's
// OCI spec, which every new task of it starts with: a start with other
// ones (a restart after an in-place resize) recreates the container.
const labelOCIResources = "io.shoal.resources.spec"

func resourcesLabel(c cluster.Container) string {
	b, _ := json.Marshal(cluster.AppliedResources{Requests: c.Requests, Limits: c.Limits}) // plain data always encodes
	return string(b)
}

// appliedResources reads labelResources; nil for a container created
// before it was kept.
func appliedResources(l map[string]string) *cluster.AppliedResources {
	v, ok := l[labelResources]
	if !ok {
		return nil
	}
	var a cluster.AppliedResources
	if json.Unmarshal([]byte(v), &a) != nil {
		return nil
	}
	return &a
}

// memoryFits refuses, as the kubelet does, a memory limit below what the
// container uses now: the kernel would have to reclaim or OOM-kill it.
func (r *Runtime) memoryFits(ctx context.Context, podUID string, c cluster.Container) error {
	if c.Limits.Memory <= 0 {
		return nil
	}
	st, err := r.stats(ctx, podUID, c.Name)
	if err != nil {
		return fmt.Errorf("read memory usage: %w", err)
	}
	if st.MemoryBytes > uint64(c.Limits.Memory) {
		return &rtapi.ResizeBelowUsageError{Limit: c.Limits.Memory, Usage: int64(st.MemoryBytes)}
	}
	return nil
}

// recordResources notes c's resources as applied to ctr.
func recordResources(ctx context.Context, ctr client.Container, c cluster.Container) error {
	_, err := ctr.SetLabels(ctx, map[string]string{labelResources: resourcesLabel(c)})
	return err
}
