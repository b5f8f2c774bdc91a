package cluster

import (
	"fmt"
	"strings"
)

// Resource names as Kubernetes spells them.
const (
	ResourceCPU              = "cpu"
	ResourceMemory           = "memory"
	ResourceEphemeralStorage = "ephemeral-storage"
	ResourceGPU              = "nvidia.com/gpu"
)

// Resources is an amount of CPU (millicores), memory (bytes), local
// ephemeral storage (bytes: containers' writable layers, their logs and
// emptyDirs on disk) and NVIDIA GPUs (a count). The zero value is "nothing".
type Resources struct {
	MilliCPU         int64 `json:"milliCPU,omitempty"`
	Memory           int64 `json:"memory,omitempty"`
	EphemeralStorage int64 `json:"ephemeralStorage,omitempty"`
	GPU              int64 `json:"gpu,omitempty"`
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU + o.MilliCPU, Memory: r.Memory + o.Memory,
		EphemeralStorage: r.EphemeralStorage + o.EphemeralStorage, GPU: r.GPU + o.GPU}
}

// Sub returns r - o (which may be negative).
func (r Resources) Sub(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU - o.MilliCPU, Memory: r.Memory - o.Memory,
		EphemeralStorage: r.EphemeralStorage - o.EphemeralStorage, GPU: r.GPU - o.GPU}
}

// Max returns the larger of r and o, resource by resource.
func (r Resources) Max(o Resources) Resources {
	return Resources{MilliCPU: max(r.MilliCPU, o.MilliCPU), Memory: max(r.Memory, o.Memory),
		EphemeralStorage: max(r.EphemeralStorage, o.EphemeralStorage), GPU: max(r.GPU, o.GPU)}
}

// Fits reports whether o fits into r.
func (r Resources) Fits(o Resources) bool {
	return len(r.Insufficient(o)) == 0
}

// Insufficient names the resources of o that do not fit into r, in a fixed
// order (cpu, memory, ephemeral-storage, nvidia.com/gpu).
func (r Resources) Insufficient(o Resources) []string {
	var out []string
	if o.MilliCPU > r.MilliCPU {
		out = append(out, ResourceCPU)
	}
	if o.Memory > r.Memory {
		out = append(out, ResourceMemory)
	}
	if o.EphemeralStorage > r.EphemeralStorage {
		out = append(out, ResourceEphemeralStorage)
	}
	if o.GPU > r.GPU {
		out = append(out, ResourceGPU)
	}
	return out
}

// IsZero reports whether r is nothing at all.
func (r Resources) IsZero() bool { return r == Resources{} }

// String prints r the way Kubernetes writes quantities:
// "cpu=500m,memory=64Mi,ephemeral-storage=1Gi".
func (r Resources) String() string {
	var parts []string
	if r.MilliCPU != 0 {
		parts = append(parts, ResourceCPU+"="+FormatMilliCPU(r.MilliCPU))
	}
	if r.Memory != 0 {
		parts = append(parts, ResourceMemory+"="+FormatBytes(r.Memory))
	}
	if r.EphemeralStorage != 0 {
		parts = append(parts, ResourceEphemeralStorage+"="+FormatBytes(r.EphemeralStorage))
	}
	if r.GPU != 0 {
		parts = append(parts, fmt.Sprintf("%s=%d", ResourceGPU, r.GPU))
	}
	return strings.Join(parts, ",")
}

// FormatMilliCPU writes millicores as Kubernetes does: "2" or "250m".
func FormatMilliCPU(m int64) string {
	if m%1000 == 0 {
		return fmt.Sprintf("%d", m/1000)
	}
	return fmt.Sprintf("%dm", m)
}

// FormatBytes writes a byte count with the largest exact binary suffix:
// "64Mi", "1Gi", "1500".
func FormatBytes(b int64) string {
	suffixes := []string{"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
	s := ""
	for _, suf := range suffixes {
		if b == 0 || b%1024 != 0 {
			break
		}
		b /= 1024
		s = suf
	}
	return fmt.Sprintf("%d%s", b, s)
}
