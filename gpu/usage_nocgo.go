//go:build !cgo

package gpu

import (
	"context"
	"log/slog"

	"shoal/metrics"
)

// Monitor is never opened in a binary built without cgo (go-nvml needs
// it); its methods on nil read nothing.
type Monitor struct{}

// OpenMonitor returns nil: no NVML without cgo.
func OpenMonitor(context.Context, *slog.Logger) *Monitor { return nil }

// Usage reads nothing.
func (m *Monitor) Usage([]string) ([]metrics.GPUUsage, error) { return nil, nil }

// Close does nothing.
func (m *Monitor) Close() {}
