//go:build cgo

package gpu

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"shoal/metrics"
)

// Monitor reads GPUs' utilization and memory through NVML for the metrics
// sampler. It keeps NVML initialised from OpenMonitor to Close.
type Monitor struct {
	mu  sync.Mutex
	lib nvml.Interface
}

// OpenMonitor initialises NVML for sampling; nil (and one log line) when
// NVML is not there or does not answer within InitTimeout: the sampler
// then reports no GPU figures.
func OpenMonitor(ctx context.Context, logger *slog.Logger) *Monitor {
	return OpenMonitorWith(ctx, nvml.New(), logger)
}

// OpenMonitorWith is OpenMonitor on a given NVML implementation (go-nvml's
// mock in tests).
func OpenMonitorWith(ctx context.Context, lib nvml.Interface, logger *slog.Logger) *Monitor {
	logger = orDiscard(logger)
	ctx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()
	done := make(chan nvml.Return, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- nvml.ERROR_UNKNOWN
			}
		}()
		done <- lib.Init()
	}()
	select {
	case ret := <-done:
		switch ret {
		case nvml.SUCCESS:
			return &Monitor{lib: lib}
		case nvml.ERROR_LIBRARY_NOT_FOUND:
			logger.Debug("gpu: NVML library not found; no GPU metrics")
		default:
			logger.Warn("gpu: NVML init failed; no GPU metrics", "err", ret)
		}
	case <-ctx.Done():
		logger.Warn("gpu: NVML did not answer in time; no GPU metrics", "timeout", InitTimeout)
	}
	return nil
}

// Usage reads the GPUs named by ids (UUIDs, or indexes for GPUs NVML did
// not name). A nil Monitor reads nothing. A GPU NVML cannot read is left
// out and named in the error; the others are returned.
func (m *Monitor) Usage(ids []string) ([]metrics.GPUUsage, error) {
	if m == nil || len(ids) == 0 {
		return nil, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []metrics.GPUUsage
	var firstErr error
	for _, id := range ids {
		u, err := m.read(id)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("read GPU %s: %w", id, err)
			}
			continue
		}
		out = append(out, u)
	}
	return out, firstErr
}

func (m *Monitor) read(id string) (u metrics.GPUUsage, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("NVML panicked: %v", r)
		}
	}()
	u.ID = id
	var dev nvml.Device
	var ret nvml.Return
	if i, aerr := strconv.Atoi(id); aerr == nil {
		dev, ret = m.lib.DeviceGetHandleByIndex(i)
	} else {
		dev, ret = m.lib.DeviceGetHandleByUUID(id)
	}
	if ret != nvml.SUCCESS {
		return u, fmt.Errorf("nvmlDeviceGetHandle: %w", ret)
	}
	util, ret := dev.GetUtilizationRates()
	if ret != nvml.SUCCESS {
		return u, fmt.Errorf("nvmlDeviceGetUtilizationRates: %w", ret)
	}
	u.UtilizationPercent = int(util.Gpu)
	mem, ret := dev.GetMemoryInfo()
	switch ret {
	case nvml.SUCCESS:
		u.MemoryUsedBytes, u.MemoryTotalBytes = int64(mem.Used), int64(mem.Total)
	case nvml.ERROR_NOT_SUPPORTED:
		// Unified-memory parts: utilization only.
	default:
		return u, fmt.Errorf("nvmlDeviceGetMemoryInfo: %w", ret)
	}
	return u, nil
}

// Close shuts NVML down.
func (m *Monitor) Close() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_ = m.lib.Shutdown()
}
