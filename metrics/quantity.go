package metrics

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"

	"shoal/cluster"
)

// FormatCPU writes millicores as a Kubernetes quantity in its canonical
// form ("250m", "2"), as metrics.k8s.io serves it.
func FormatCPU(milli int64) string { return cluster.FormatMilliCPU(milli) }

// FormatMemory writes bytes as a Kubernetes quantity in its canonical
// form: the largest exact binary suffix ("64Mi", "6619Ki", "1000").
func FormatMemory(bytes int64) string { return cluster.FormatBytes(bytes) }

// ParseCPU reads a CPU quantity ("250m", "1", "1500000n") as millicores,
// rounded up as Kubernetes rounds quantities to a precision.
func ParseCPU(s string) (int64, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, fmt.Errorf("cpu %q: want a Kubernetes quantity such as 250m: %w", s, err)
	}
	return q.MilliValue(), nil
}

// ParseMemory reads a memory quantity ("64Mi", "1G", "123456") as bytes.
func ParseMemory(s string) (int64, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, fmt.Errorf("memory %q: want a Kubernetes quantity such as 64Mi: %w", s, err)
	}
	return q.Value(), nil
}
