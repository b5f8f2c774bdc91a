//go:build cgo

package gpu

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"

	"shoal/metrics"
)

func usageDevice(util uint32, used, total uint64, utilRet, memRet nvml.Return) *mock.Device {
	return &mock.Device{
		GetUtilizationRatesFunc: func() (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: util, Memory: 1}, utilRet
		},
		GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
			return nvml.Memory{Used: used, Total: total}, memRet
		},
	}
}

func TestMonitorUsage(t *testing.T) {
	const gib = 1 << 30
	devs := map[string]*mock.Device{
		"GPU-a":    usageDevice(80, 10*gib, 80*gib, nvml.SUCCESS, nvml.SUCCESS),
		"GPU-b":    usageDevice(5, 0, 0, nvml.SUCCESS, nvml.ERROR_NOT_SUPPORTED),
		"GPU-bad":  usageDevice(0, 0, 0, nvml.ERROR_GPU_IS_LOST, nvml.SUCCESS),
		"GPU-bad2": usageDevice(1, 0, 0, nvml.SUCCESS, nvml.ERROR_UNKNOWN),
	}
	lib := &mock.Interface{
		InitFunc:     func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc: func() nvml.Return { return nvml.SUCCESS },
		DeviceGetHandleByUUIDFunc: func(uuid string) (nvml.Device, nvml.Return) {
			if d, ok := devs[uuid]; ok {
				return d, nvml.SUCCESS
			}
			return nil, nvml.ERROR_NOT_FOUND
		},
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			if i == 3 {
				return usageDevice(42, 1, 2, nvml.SUCCESS, nvml.SUCCESS), nvml.SUCCESS
			}
			return nil, nvml.ERROR_INVALID_ARGUMENT
		},
	}
	m := OpenMonitorWith(context.Background(), lib, nil)
	if m == nil {
		t.Fatal("no monitor")
	}
	defer m.Close()
	tests := []struct {
		ids     []string
		want    []metrics.GPUUsage
		wantErr string
	}{
		{ids: []string{"GPU-a", "GPU-b"}, want: []metrics.GPUUsage{
			{ID: "GPU-a", UtilizationPercent: 80, MemoryUsedBytes: 10 * gib, MemoryTotalBytes: 80 * gib},
			{ID: "GPU-b", UtilizationPercent: 5},
		}},
		{ids: []string{"3"}, want: []metrics.GPUUsage{{ID: "3", UtilizationPercent: 42, MemoryUsedBytes: 1, MemoryTotalBytes: 2}}},
		{ids: []string{"GPU-a", "GPU-missing"}, want: []metrics.GPUUsage{{ID: "GPU-a", UtilizationPercent: 80, MemoryUsedBytes: 10 * gib, MemoryTotalBytes: 80 * gib}}, wantErr: "GPU GPU-missing: nvmlDeviceGetHandle: ERROR_NOT_FOUND"},
		{ids: []string{"GPU-bad"}, wantErr: "nvmlDeviceGetUtilizationRates: ERROR_GPU_IS_LOST"},
		{ids: []string{"GPU-bad2"}, wantErr: "nvmlDeviceGetMemoryInfo: ERROR_UNKNOWN"},
		{ids: nil},
	}
	for _, tt := range tests {
		got, err := m.Usage(tt.ids)
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%v: err %v, want %q", tt.ids, err, tt.wantErr)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%v: got %+v, want %+v", tt.ids, got, tt.want)
		}
	}
}

func TestOpenMonitorWithoutNVML(t *testing.T) {
	for _, ret := range []nvml.Return{nvml.ERROR_LIBRARY_NOT_FOUND, nvml.ERROR_DRIVER_NOT_LOADED} {
		lib := &mock.Interface{InitFunc: func() nvml.Return { return ret }}
		m := OpenMonitorWith(context.Background(), lib, nil)
		if m != nil {
			t.Errorf("%v: got a monitor", ret)
		}
		// A nil monitor reads nothing, without NVML.
		if got, err := m.Usage([]string{"GPU-a"}); got != nil || err != nil {
			t.Errorf("nil monitor: %v %v", got, err)
		}
		m.Close()
	}
}
