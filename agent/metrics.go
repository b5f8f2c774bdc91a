package agent

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"shoal/cluster"
	"shoal/gpu"
	"shoal/metrics"
	"shoal/metrics/cgroup"
)

// metricsSpan is how much history each container's window keeps: a
// minute, as metrics-server's default resolution allows an HPA to look
// back over.
const metricsSpan = time.Minute

// metricsWindowSize is how many samples cover metricsSpan at every.
func metricsWindowSize(every time.Duration) int {
	return int(metricsSpan/every) + 1
}

// cgroupReader reads one cgroup's counters (cgroup.Reader).
type cgroupReader interface {
	Read(path string) (cgroup.Counters, error)
}

// nodeCounters reads the machine's counters (cgroup.NodeReader).
type nodeCounters interface {
	Read() (cgroup.Counters, error)
}

// gpuReader reads GPUs' use (gpu.Monitor; a nil one reads nothing).
type gpuReader interface {
	Usage(ids []string) ([]metrics.GPUUsage, error)
}

// metricsSampler reads, every interval, the counters of the containers
// of the pods placed on this node and of the node itself, and the GPUs
// those pods hold, into the recorder. It reads cgroup files directly
// (a few small reads per container), never through containerd.
type metricsSampler struct {
	node  string
	every time.Duration
	state func() *cluster.State
	// cgroupOf names a container's cgroup (runtime.CgroupPath).
	cgroupOf func(podUID, container string) string
	cgroups  cgroupReader
	host     nodeCounters
	gpus     gpuReader
	rec      *metrics.Recorder
	now      func() time.Time
	log      *slog.Logger
	// warned remembers the containers whose read failed for another
	// reason than a missing cgroup, so each is logged once.
	warned map[metrics.ContainerKey]bool
}

func (s *metricsSampler) run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample takes one reading of everything.
func (s *metricsSampler) sample() {
	if s.warned == nil {
		s.warned = map[metrics.ContainerKey]bool{}
	}
	if c, err := s.host.Read(); err != nil {
		s.log.Warn("metrics: read the node's counters", "err", err)
	} else {
		s.rec.AddNode(metrics.Sample{At: s.now(), CPUNanos: c.CPUNanos, WorkingSet: c.WorkingSet})
	}
	live := map[metrics.ContainerKey]bool{}
	for _, p := range s.state().PodsOnNode(s.node) {
		s.samplePod(p, live)
	}
	s.rec.Retain(func(k metrics.ContainerKey) bool { return live[k] })
	for k := range s.warned {
		if !live[k] {
			delete(s.warned, k)
		}
	}
}

func (s *metricsSampler) samplePod(p *cluster.Pod, live map[metrics.ContainerKey]bool) {
	// Init containers too: a native sidecar runs all along; one that has
	// finished has no cgroup and is skipped.
	for _, c := range append(append([]cluster.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		k := metrics.ContainerKey{Namespace: p.Namespace, Pod: p.Name, PodUID: p.UID, Container: c.Name}
		cs, err := s.cgroups.Read(s.cgroupOf(p.UID, c.Name))
		if errors.Is(err, cgroup.ErrNotFound) {
			continue
		}
		live[k] = true
		if err != nil {
			if !s.warned[k] {
				s.warned[k] = true
				s.log.Warn("metrics: read a container's cgroup", "pod", p.Key(), "container", c.Name, "err", err)
			}
			continue
		}
		s.rec.AddContainer(k, metrics.Sample{At: s.now(), CPUNanos: cs.CPUNanos, WorkingSet: cs.WorkingSet})
	}
	if len(p.GPUs) == 0 || s.gpus == nil {
		return
	}
	g, err := s.gpus.Usage(p.GPUs)
	if err != nil {
		s.log.Debug("metrics: read a pod's GPUs", "pod", p.Key(), "err", err)
	}
	s.rec.SetGPUs(p.UID, g)
}

// metricsSampler builds this node's sampler: cgroups and /proc of this
// machine, and NVML when it found GPUs here (not for GPUs only
// advertised with --capacity, which NVML cannot see).
func (cp *controlPlane) metricsSampler(ctx context.Context, cfg Config, rt nodeRuntime, lc *lifecycle, log *slog.Logger) *metricsSampler {
	s := &metricsSampler{
		node:     cfg.Name,
		every:    cfg.MetricsInterval,
		state:    cp.store.State,
		cgroupOf: rt.CgroupPath,
		cgroups:  cgroup.Host(),
		host:     cgroup.HostNode(),
		rec:      cp.metrics,
		now:      time.Now,
		log:      log.With("component", "metrics"),
	}
	if slices.ContainsFunc(cp.gpus, func(g cluster.GPU) bool { return g.UUID != "" }) {
		if m := gpu.OpenMonitor(ctx, log); m != nil {
			lc.onStop(m.Close)
			s.gpus = m
		}
	}
	return s
}
