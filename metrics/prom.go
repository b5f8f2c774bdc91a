package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	containerLabels = []string{"namespace", "pod", "container"}
	gpuLabels       = []string{"namespace", "pod", "gpu"}

	descContainerCPU = prometheus.NewDesc("shoal_container_cpu_usage_seconds_total",
		"Cumulative CPU time of a container, in seconds (its cgroup's counter).", containerLabels, nil)
	descContainerMem = prometheus.NewDesc("shoal_container_memory_working_set_bytes",
		"Working set of a container: memory in use minus inactive file cache, in bytes.", containerLabels, nil)
	descNodeCPU = prometheus.NewDesc("shoal_node_cpu_usage_seconds_total",
		"Cumulative CPU time of the node outside idle and iowait, all CPUs, in seconds.", []string{"node"}, nil)
	descNodeMem = prometheus.NewDesc("shoal_node_memory_working_set_bytes",
		"Working set of the node: memory in use minus inactive file cache, in bytes.", []string{"node"}, nil)
	descGPUUtil = prometheus.NewDesc("shoal_pod_gpu_utilization_ratio",
		"Share of the last NVML sample period a kernel ran on a GPU the pod holds (0 to 1).", gpuLabels, nil)
	descGPUMem = prometheus.NewDesc("shoal_pod_gpu_memory_used_bytes",
		"Memory in use on a GPU the pod holds, in bytes.", gpuLabels, nil)
)

// Describe implements prometheus.Collector.
func (r *Recorder) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descContainerCPU, descContainerMem, descNodeCPU, descNodeMem, descGPUUtil, descGPUMem} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the latest sample of every
// container and of the node (counters as they are: Prometheus computes
// rates itself), and the pods' GPU readings.
func (r *Recorder) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.nodeWin.Latest(); ok {
		ch <- prometheus.MustNewConstMetric(descNodeCPU, prometheus.CounterValue, float64(s.CPUNanos)/1e9, r.node)
		ch <- prometheus.MustNewConstMetric(descNodeMem, prometheus.GaugeValue, float64(s.WorkingSet), r.node)
	}
	pods := map[string]ContainerKey{}
	for k, w := range r.containers {
		pods[k.PodUID] = k
		s, ok := w.Latest()
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descContainerCPU, prometheus.CounterValue, float64(s.CPUNanos)/1e9, k.Namespace, k.Pod, k.Container)
		ch <- prometheus.MustNewConstMetric(descContainerMem, prometheus.GaugeValue, float64(s.WorkingSet), k.Namespace, k.Pod, k.Container)
	}
	for uid, gs := range r.gpus {
		k, ok := pods[uid]
		if !ok {
			continue
		}
		for _, g := range gs {
			ch <- prometheus.MustNewConstMetric(descGPUUtil, prometheus.GaugeValue, float64(g.UtilizationPercent)/100, k.Namespace, k.Pod, g.ID)
			ch <- prometheus.MustNewConstMetric(descGPUMem, prometheus.GaugeValue, float64(g.MemoryUsedBytes), k.Namespace, k.Pod, g.ID)
		}
	}
}
