package gpu

import (
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"shoal/cluster"
)

// ResourceName is the resource pods request and --capacity advertises.
const ResourceName = "nvidia.com/gpu"

// Node labels, named and valued as NVIDIA's GPU feature discovery does, so
// nodeSelectors written for Kubernetes clusters carry over.
const (
	LabelProduct = "nvidia.com/gpu.product" // model, spaces → '-'
	LabelMemory  = "nvidia.com/gpu.memory"  // per-GPU memory in MiB
	LabelCount   = "nvidia.com/gpu.count"
)

// InitTimeout bounds how long discovery waits for NVML.
const InitTimeout = 5 * time.Second

// orDiscard lets callers pass a nil logger.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Labels returns the node labels describing gpus; none when there are no
// GPUs. Product and memory describe the GPU with the lowest index (GFD also
// labels a node by one model: mixed nodes are rare and a label holds one
// value); they are left out when unknown, as for GPUs advertised with
// --capacity.
func Labels(gpus []cluster.GPU) map[string]string {
	labels := map[string]string{}
	if len(gpus) == 0 {
		return labels
	}
	labels[LabelCount] = strconv.Itoa(len(gpus))
	first := slices.MinFunc(gpus, func(a, b cluster.GPU) int { return a.Index - b.Index })
	if p := productLabel(first.Model); p != "" {
		labels[LabelProduct] = p
	}
	if mib := first.MemoryBytes >> 20; mib > 0 {
		labels[LabelMemory] = strconv.FormatInt(mib, 10)
	}
	return labels
}

// productLabel turns an NVML name into a label value the way GFD does:
// characters a label value cannot hold are dropped and spaces become '-'
// ("NVIDIA H100 80GB HBM3" → "NVIDIA-H100-80GB-HBM3"). It is also cut to
// the 63 characters a label value may have, ending in an alphanumeric.
func productLabel(model string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(model) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		}
	}
	s := b.String()
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.TrimRight(strings.TrimLeft(s, "-_."), "-_.")
}

// Advertised returns n GPUs known only by index 0..n-1: what
// --capacity nvidia.com/gpu=N declares on a machine where NVML sees nothing
// (no library in the agent's environment, a driver NVML cannot talk to, or
// a test machine). Their ID is the index.
func Advertised(n int) []cluster.GPU {
	if n <= 0 {
		return nil
	}
	gpus := make([]cluster.GPU, n)
	for i := range gpus {
		gpus[i].Index = i
	}
	return gpus
}

// Merge decides the node's GPUs from what NVML discovered and the
// --capacity nvidia.com/gpu=N flag; advertised < 0 means the flag was not
// given.
//
//   - No flag: the discovered GPUs.
//   - NVML found GPUs: the flag can only restrict them, to the first N by
//     index (N=0 withholds all of them from pods). It cannot add GPUs NVML
//     did not see: the node could not give them to a container, and a GPU
//     NVML failed to read (skipped, logged) is better left unused.
//   - NVML found none: N GPUs known by index (Advertised).
//
// The result is ordered by index and does not share discovered's array.
func Merge(discovered []cluster.GPU, advertised int) []cluster.GPU {
	gpus := slices.Clone(discovered)
	slices.SortFunc(gpus, func(a, b cluster.GPU) int { return a.Index - b.Index })
	switch {
	case advertised < 0:
		return gpus
	case len(gpus) == 0:
		return Advertised(advertised)
	case advertised == 0:
		return nil
	case advertised < len(gpus):
		return gpus[:advertised:advertised]
	default:
		return gpus
	}
}
