//go:build cgo

package gpu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"shoal/cluster"
)

// Discover returns the GPUs NVML reports on this machine, ordered by index.
// It never fails: without the NVML library, without GPUs, or when NVML does
// not answer within InitTimeout (or before ctx ends), it returns nil and logs
// one line saying why.
func Discover(ctx context.Context, logger *slog.Logger) []cluster.GPU {
	return DiscoverWith(ctx, nvml.New(), logger)
}

// DiscoverWith is Discover on a given NVML implementation (go-nvml's mock in
// tests).
//
// All NVML calls run in one goroutine that the caller waits for, at most
// until ctx ends or InitTimeout passes: a driver in a bad state can block
// nvmlInit (or a device query) for minutes, and agent start-up must not hang
// on it. An abandoned goroutine still finishes and calls Shutdown itself, so
// a late successful Init is not leaked. It never logs: everything it found
// comes back in its result and is logged here, so a timed-out discovery
// prints exactly one line.
func DiscoverWith(ctx context.Context, lib nvml.Interface, logger *slog.Logger) []cluster.GPU {
	logger = orDiscard(logger)
	ctx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()

	// Buffered, so an abandoned worker can deliver and exit.
	done := make(chan discovery, 1)
	go func() { done <- discover(lib) }()

	var d discovery
	select {
	case d = <-done:
	case <-ctx.Done():
		logger.Warn("gpu: NVML did not answer in time; no GPUs discovered",
			"timeout", InitTimeout, "err", ctx.Err())
		return nil
	}

	switch {
	case d.noLibrary:
		logger.Info("gpu: NVML library not found; no GPUs discovered")
		return nil
	case d.err != nil:
		logger.Warn("gpu: NVML discovery failed; no GPUs discovered", "err", d.err)
		return nil
	}
	for _, p := range d.problems {
		if p.index >= 0 {
			logger.Warn("gpu: skipping GPU", "index", p.index, "err", p.err)
		} else {
			logger.Warn("gpu: NVML", "err", p.err)
		}
	}
	if len(d.gpus) == 0 {
		logger.Info("gpu: no NVIDIA GPUs found")
		return nil
	}
	models := make([]string, 0, len(d.gpus))
	for _, g := range d.gpus {
		models = append(models, g.Model)
	}
	logger.Info("gpu: discovered GPUs", "count", len(d.gpus), "models", models)
	return d.gpus
}

// discovery is what the NVML worker found.
type discovery struct {
	gpus      []cluster.GPU
	problems  []problem // per-device failures: the device was skipped
	noLibrary bool
	err       error // Init or DeviceGetCount failed: nothing found
}

// problem is a non-fatal NVML failure; index is -1 when no device is to
// blame (Shutdown).
type problem struct {
	index int
	err   error
}

// discover does every NVML call. A panic from go-nvml (a library that loads
// but lacks symbols) is turned into an error rather than taking the agent
// down.
func discover(lib nvml.Interface) (d discovery) {
	defer func() {
		if r := recover(); r != nil {
			d = discovery{err: fmt.Errorf("NVML panicked: %v", r)}
		}
	}()

	switch ret := lib.Init(); ret {
	case nvml.SUCCESS:
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return discovery{noLibrary: true}
	default:
		return discovery{err: fmt.Errorf("nvmlInit: %w", ret)}
	}
	// Registered after the recover above, so it also runs when a query panics.
	defer func() {
		if ret := lib.Shutdown(); ret != nvml.SUCCESS {
			d.problems = append(d.problems, problem{-1, fmt.Errorf("nvmlShutdown: %w", ret)})
		}
	}()

	n, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		d.err = fmt.Errorf("nvmlDeviceGetCount: %w", ret)
		return d
	}
	for i := range n {
		dev, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			d.problems = append(d.problems, problem{i, fmt.Errorf("nvmlDeviceGetHandleByIndex: %w", ret)})
			continue
		}
		g, err := describe(i, dev)
		if err != nil {
			d.problems = append(d.problems, problem{i, err})
			continue
		}
		d.gpus = append(d.gpus, g)
	}
	return d
}

// describe reads one device. UUID and name are required (the UUID is how
// pods and containers name the GPU). Memory and MIG mode are optional:
// NVML answers NOT_SUPPORTED for them on some GPUs (unified-memory parts,
// GPUs without MIG), which is not a reason to hide the GPU.
func describe(index int, dev nvml.Device) (cluster.GPU, error) {
	g := cluster.GPU{Index: index}
	var ret nvml.Return
	if g.UUID, ret = dev.GetUUID(); ret != nvml.SUCCESS {
		return g, fmt.Errorf("nvmlDeviceGetUUID: %w", ret)
	}
	if g.UUID == "" {
		return g, errors.New("nvmlDeviceGetUUID: empty UUID")
	}
	if g.Model, ret = dev.GetName(); ret != nvml.SUCCESS {
		return g, fmt.Errorf("nvmlDeviceGetName: %w", ret)
	}
	mem, ret := dev.GetMemoryInfo()
	switch ret {
	case nvml.SUCCESS:
		g.MemoryBytes = int64(mem.Total)
	case nvml.ERROR_NOT_SUPPORTED:
	default:
		return g, fmt.Errorf("nvmlDeviceGetMemoryInfo: %w", ret)
	}
	current, _, ret := dev.GetMigMode()
	switch ret {
	case nvml.SUCCESS:
		g.MIG = current == nvml.DEVICE_MIG_ENABLE
	case nvml.ERROR_NOT_SUPPORTED:
	default:
		return g, fmt.Errorf("nvmlDeviceGetMigMode: %w", ret)
	}
	return g, nil
}
