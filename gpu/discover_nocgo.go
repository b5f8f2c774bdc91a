//go:build !cgo

package gpu

import (
	"context"
	"log/slog"

	"shoal/cluster"
)

// Discover returns nil: go-nvml loads libnvidia-ml with cgo, and this binary
// was built without it. It logs one line so an operator who expected GPUs
// knows why there are none (--capacity nvidia.com/gpu=N still advertises
// them).
func Discover(_ context.Context, logger *slog.Logger) []cluster.GPU {
	orDiscard(logger).Info("gpu: built without cgo, NVML unavailable; no GPUs discovered")
	return nil
}
