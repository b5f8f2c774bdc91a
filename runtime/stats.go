package runtime

import (
	"context"
	"fmt"
	"time"

	cgroup1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	cgroup2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"shoal/cluster"
)

// ContainerStats is a running container's resource usage.
type ContainerStats struct {
	// CPUNanos is the CPU time used since the task started.
	CPUNanos uint64
	// MemoryBytes is the memory in use (page cache included, as the
	// cgroup counts it against the limit).
	MemoryBytes uint64
	Pids        uint64
	At          time.Time
}

// Stats reads a running container's usage from its cgroup through
// containerd (cgroup v1 or v2).
func (r *Runtime) Stats(ctx context.Context, podUID, container string) (ContainerStats, error) {
	st, err := r.stats(r.ctx(ctx), podUID, container)
	if err != nil {
		return st, fmt.Errorf("stats of container %s of pod %s: %w", container, podUID, err)
	}
	return st, nil
}

func (r *Runtime) stats(ctx context.Context, podUID, container string) (ContainerStats, error) {
	ctr, err := r.client.LoadContainer(ctx, ContainerID(podUID, container))
	if err != nil {
		return ContainerStats{}, notFound(err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return ContainerStats{}, notFound(err)
	}
	m, err := task.Metrics(ctx)
	if err != nil {
		return ContainerStats{}, err
	}
	v, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return ContainerStats{}, err
	}
	out := ContainerStats{At: m.Timestamp.AsTime()}
	switch s := v.(type) {
	case *cgroup1.Metrics:
		if s.CPU != nil && s.CPU.Usage != nil {
			out.CPUNanos = s.CPU.Usage.Total
		}
		if s.Memory != nil && s.Memory.Usage != nil {
			out.MemoryBytes = s.Memory.Usage.Usage
		}
		if s.Pids != nil {
			out.Pids = s.Pids.Current
		}
	case *cgroup2.Metrics:
		if s.CPU != nil {
			out.CPUNanos = s.CPU.UsageUsec * 1000
		}
		if s.Memory != nil {
			out.MemoryBytes = s.Memory.Usage
		}
		if s.Pids != nil {
			out.Pids = s.Pids.Current
		}
	default:
		return out, fmt.Errorf("unknown metrics type %T", v)
	}
	return out, nil
}

// UpdateResources applies c's CPU and memory limits to the running
// container in place (`shoal set resources`), without a restart. The
// container's generation is unchanged; a later recreate uses the pod spec.
func (r *Runtime) UpdateResources(ctx context.Context, podUID string, c cluster.Container) error {
	if err := r.updateResources(r.ctx(ctx), podUID, c); err != nil {
		return fmt.Errorf("update resources of container %s of pod %s: %w", c.Name, podUID, err)
	}
	return nil
}

func (r *Runtime) updateResources(ctx context.Context, podUID string, c cluster.Container) error {
	ctr, err := r.client.LoadContainer(ctx, ContainerID(podUID, c.Name))
	if err != nil {
		return notFound(err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return notFound(err)
	}
	res := &specs.LinuxResources{CPU: &specs.LinuxCPU{}, Memory: &specs.LinuxMemory{}}
	// -1 lifts a limit that the new spec no longer sets.
	quota, period := int64(-1), uint64(cpuPeriod)
	if c.Limits.MilliCPU > 0 {
		quota = max(c.Limits.MilliCPU*cpuPeriod/1000, 1000)
	}
	res.CPU.Quota, res.CPU.Period = &quota, &period
	if req := orElse(c.Requests.MilliCPU, c.Limits.MilliCPU); req > 0 {
		shares := uint64(max(req*1024/1000, 2))
		res.CPU.Shares = &shares
	}
	mem := int64(-1)
	if c.Limits.Memory > 0 {
		mem = c.Limits.Memory
	}
	res.Memory.Limit = &mem
	if err := r.memoryFits(ctx, podUID, c); err != nil {
		return err
	}
	if err := task.Update(ctx, client.WithResources(res)); err != nil {
		return err
	}
	return recordResources(ctx, ctr, c)
}

// orElse returns a, or b when a is zero.
func orElse(a, b int64) int64 {
	if a != 0 {
		return a
	}
	return b
}

// CgroupPath is the cgroup of a pod's container, as containerd's default
// spec names it ("/<namespace>/<container id>"), relative to the cgroup
// root (v2) or to each controller's hierarchy (v1).
func (r *Runtime) CgroupPath(podUID, container string) string {
	return "/" + r.cfg.Namespace + "/" + ContainerID(podUID, container)
}
