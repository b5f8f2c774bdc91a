package api

import (
	"time"

	"shoal/metrics"
)

// Resource metrics in the shape of Kubernetes' metrics.k8s.io/v1beta1
// (what metrics-server serves and `kubectl top` reads), under
// /v1/metrics/nodes and /v1/metrics/pods.
const (
	MetricsAPIVersion   = "metrics.k8s.io/v1beta1"
	KindNodeMetrics     = "NodeMetrics"
	KindPodMetrics      = "PodMetrics"
	KindNodeMetricsList = "NodeMetricsList"
	KindPodMetricsList  = "PodMetricsList"
)

// MetricsMeta is the objects' metadata.
type MetricsMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace,omitempty"`
	CreationTimestamp time.Time         `json:"creationTimestamp"`
	Labels            map[string]string `json:"labels,omitempty"`
}

// Usage is a resource list of quantities: "cpu" ("250m") and "memory"
// ("64Mi").
type Usage map[string]string

// NodeMetrics is one node's usage over Window, ending at Timestamp.
type NodeMetrics struct {
	Kind       string      `json:"kind"`
	APIVersion string      `json:"apiVersion"`
	Metadata   MetricsMeta `json:"metadata"`
	Timestamp  time.Time   `json:"timestamp"`
	// Window is a Go duration ("10s"), as Kubernetes writes it.
	Window string `json:"window"`
	Usage  Usage  `json:"usage"`
}

// ContainerMetrics is one container's usage.
type ContainerMetrics struct {
	Name  string `json:"name"`
	Usage Usage  `json:"usage"`
}

// PodMetrics is one pod's containers' usage. GPUs is Shoal's own
// (metrics.k8s.io has none): the GPUs the pod holds, read through NVML.
type PodMetrics struct {
	Kind       string             `json:"kind"`
	APIVersion string             `json:"apiVersion"`
	Metadata   MetricsMeta        `json:"metadata"`
	Timestamp  time.Time          `json:"timestamp"`
	Window     string             `json:"window"`
	Containers []ContainerMetrics `json:"containers"`
	GPUs       []metrics.GPUUsage `json:"gpus,omitempty"`
}

// NodeMetricsList is GET /v1/metrics/nodes.
type NodeMetricsList struct {
	Kind       string        `json:"kind"`
	APIVersion string        `json:"apiVersion"`
	Items      []NodeMetrics `json:"items"`
}

// PodMetricsList is GET /v1/metrics/pods.
type PodMetricsList struct {
	Kind       string       `json:"kind"`
	APIVersion string       `json:"apiVersion"`
	Items      []PodMetrics `json:"items"`
}

// UsageOf writes u as a metrics.k8s.io resource list.
func UsageOf(u metrics.Usage) Usage {
	return Usage{"cpu": metrics.FormatCPU(u.MilliCPU), "memory": metrics.FormatMemory(u.MemoryBytes)}
}

// Parse reads the list back (`shoal top`).
func (u Usage) Parse() (metrics.Usage, error) {
	cpu, err := metrics.ParseCPU(u["cpu"])
	if err != nil {
		return metrics.Usage{}, err
	}
	mem, err := metrics.ParseMemory(u["memory"])
	if err != nil {
		return metrics.Usage{}, err
	}
	return metrics.Usage{MilliCPU: cpu, MemoryBytes: mem}, nil
}

// NodeMetricsOf is a node report's node in metrics.k8s.io shape.
func NodeMetricsOf(r metrics.Report) NodeMetrics {
	n := r.NodeInfo
	return NodeMetrics{
		Kind: KindNodeMetrics, APIVersion: MetricsAPIVersion,
		Metadata:  MetricsMeta{Name: r.Node, CreationTimestamp: n.At},
		Timestamp: n.At, Window: n.Window.String(), Usage: UsageOf(n.Usage),
	}
}

// PodMetricsOf is one pod of a report in metrics.k8s.io shape.
func PodMetricsOf(p metrics.PodUsage) PodMetrics {
	out := PodMetrics{
		Kind: KindPodMetrics, APIVersion: MetricsAPIVersion,
		Metadata:  MetricsMeta{Name: p.Name, Namespace: p.Namespace, CreationTimestamp: p.At},
		Timestamp: p.At, Window: p.Window.String(), GPUs: p.GPUs,
		Containers: make([]ContainerMetrics, 0, len(p.Containers)),
	}
	for _, c := range p.Containers {
		out.Containers = append(out.Containers, ContainerMetrics{Name: c.Name, Usage: UsageOf(c.Usage)})
	}
	return out
}
