package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"shoal/agent/apiclient"
	"shoal/autoscale"
	"shoal/cluster"
	"shoal/manifest"
	"shoal/metrics"
)

// autoscalerFetchTimeout bounds each node's answer to the autoscaler.
const autoscalerFetchTimeout = 5 * time.Second

// metricsFetch reads this node's own recorder and the other nodes'
// agents over mutual TLS with this node's certificate, the last
// sampling interval of each (what the pods use now).
func (cp *controlPlane) metricsFetch(cfg Config) func(st *cluster.State) metrics.Fetch {
	hc := apiclient.NewHTTPClient(cp.creds.id.ClientTLS(""))
	return func(st *cluster.State) metrics.Fetch {
		return apiclient.MetricsFetch(st, cfg.Name, cp.metrics.Report, hc, 0, autoscalerFetchTimeout)
	}
}

// propose asks the nodes running the workload's pods for their usage
// and returns the largest proposal of the autoscaler's metrics (the
// metric that made it) and every metric's current value. When a metric
// fails and the others propose fewer replicas, it keeps the current
// count, as Kubernetes does: a scale-down needs every metric.
func (u *autoscalerUnit) propose(ctx context.Context, st *cluster.State, a *cluster.Autoscaler, wl *cluster.Workload, now time.Time) (int32, cluster.AutoscalerMetric, []cluster.MetricValue, error) {
	pods := st.PodsOwnedBy(wl.UID)
	usage, err := u.usage(ctx, st, pods)
	if err != nil && len(usage) == 0 {
		return 0, cluster.AutoscalerMetric{}, nil, fmt.Errorf("unable to get metrics: %w", err)
	}
	list := a.Metrics
	if len(list) == 0 {
		list = []cluster.AutoscalerMetric{manifest.DefaultAutoscalerMetric}
	}
	var (
		best     int32 = -1
		bestM    cluster.AutoscalerMetric
		values   []cluster.MetricValue
		failures []error
	)
	for _, m := range list {
		in := metricInput(m, pods, usage, u.readiness, wl.Replicas, now)
		res, err := autoscale.Replicas(in)
		if err != nil {
			failures = append(failures, fmt.Errorf("unable to get %s: %w", metricWords(m), err))
			continue
		}
		v := cluster.MetricValue{Resource: m.Resource, AverageValue: res.Average}
		if m.TargetType == cluster.UtilizationTarget {
			util := res.Utilization
			v.AverageUtilization = &util
		}
		values = append(values, v)
		if res.Replicas > best {
			best, bestM = res.Replicas, m
		}
	}
	if best < 0 {
		return 0, cluster.AutoscalerMetric{}, values, errors.Join(failures...)
	}
	if len(failures) > 0 && best < wl.Replicas {
		best = wl.Replicas
	}
	return best, bestM, values, nil
}

// usage gathers the pods' usage, by pod UID, from the nodes they run
// on; a node that does not answer leaves its pods without metrics.
func (u *autoscalerUnit) usage(ctx context.Context, st *cluster.State, pods []*cluster.Pod) (map[string]metrics.PodUsage, error) {
	var nodes []string
	for _, p := range pods {
		if p.NodeName != "" && !slices.Contains(nodes, p.NodeName) {
			if n, ok := st.Node(p.NodeName); ok && n.Status != cluster.NodeDown {
				nodes = append(nodes, p.NodeName)
			}
		}
	}
	slices.Sort(nodes)
	reports, err := metrics.Gather(ctx, nodes, u.fetch(st))
	out := map[string]metrics.PodUsage{}
	for _, r := range reports {
		for _, pu := range r.Pods {
			out[pu.UID] = pu
		}
	}
	return out, err
}

// metricInput is one metric's view of the pods for autoscale.Replicas.
func metricInput(m cluster.AutoscalerMetric, pods []*cluster.Pod, usage map[string]metrics.PodUsage, ready map[string]readiness, current int32, now time.Time) autoscale.Input {
	in := autoscale.Input{CPU: m.Resource == cluster.CPUResource, Current: current, Metrics: map[string]autoscale.Sample{},
		TargetUtilization: m.AverageUtilization, TargetAverage: m.AverageValue, Now: now}
	if m.TargetType != cluster.UtilizationTarget {
		in.TargetUtilization = 0
	}
	for _, p := range pods {
		ap := autoscale.Pod{Name: p.Name, Gone: p.Terminating || p.Status.Phase == cluster.PodFailed || p.Status.Phase == cluster.PodSucceeded,
			Pending: p.NodeName == "" || p.Status.Phase == cluster.PodPending || p.Status.Phase == "",
			Ready:   p.Ready(), StartedAt: p.Status.StartedAt, ReadySince: ready[p.UID].since}
		ap.Request, ap.NoRequest = podRequest(m.Resource, p)
		in.Pods = append(in.Pods, ap)
		pu, ok := usage[p.UID]
		if !ok {
			continue
		}
		if v, ok := usageValue(m.Resource, pu); ok {
			in.Metrics[p.Name] = autoscale.Sample{Value: v, At: pu.At, Window: pu.Window}
		}
	}
	return in
}

// podRequest sums the containers' requests of the resource; for GPUs,
// whose target is percent busy, a pod holding any counts 100.
func podRequest(res string, p *cluster.Pod) (int64, bool) {
	var sum int64
	for _, c := range p.Spec.Containers {
		var r int64
		switch res {
		case cluster.CPUResource:
			r = c.Requests.MilliCPU
		case cluster.MemoryResource:
			r = c.Requests.Memory
		case cluster.GPUResource:
			sum += c.Requests.GPU
			continue
		}
		if r == 0 {
			return 0, true
		}
		sum += r
	}
	if res == cluster.GPUResource {
		if sum == 0 {
			return 0, true
		}
		return 100, false
	}
	return sum, false
}

// usageValue is a pod's usage of the resource: millicores, working set
// bytes, or its GPUs' average percent busy.
func usageValue(res string, pu metrics.PodUsage) (int64, bool) {
	switch res {
	case cluster.CPUResource:
		return pu.Total().MilliCPU, len(pu.Containers) > 0
	case cluster.MemoryResource:
		return pu.Total().MemoryBytes, len(pu.Containers) > 0
	}
	if len(pu.GPUs) == 0 {
		return 0, false
	}
	var sum int64
	for _, g := range pu.GPUs {
		sum += int64(g.UtilizationPercent)
	}
	return sum / int64(len(pu.GPUs)), true
}
