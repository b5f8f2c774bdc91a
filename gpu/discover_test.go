//go:build cgo

package gpu

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"

	"shoal/cluster"
)

// fakeGPU describes one mocked device; zero Returns are SUCCESS.
type fakeGPU struct {
	uuid, name                  string
	mem                         uint64
	mig                         int
	handleRet, uuidRet, nameRet nvml.Return
	memRet, migRet              nvml.Return
}

func (f fakeGPU) device() *mock.Device {
	return &mock.Device{
		GetUUIDFunc:       func() (string, nvml.Return) { return f.uuid, f.uuidRet },
		GetNameFunc:       func() (string, nvml.Return) { return f.name, f.nameRet },
		GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) { return nvml.Memory{Total: f.mem}, f.memRet },
		GetMigModeFunc:    func() (int, int, nvml.Return) { return f.mig, f.mig, f.migRet },
	}
}

// fakeLib is an NVML with the given devices; initRet and countRet make
// Init and DeviceGetCount fail.
func fakeLib(initRet, countRet nvml.Return, gpus ...fakeGPU) *mock.Interface {
	return &mock.Interface{
		InitFunc:     func() nvml.Return { return initRet },
		ShutdownFunc: func() nvml.Return { return nvml.SUCCESS },
		DeviceGetCountFunc: func() (int, nvml.Return) {
			return len(gpus), countRet
		},
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			return gpus[i].device(), gpus[i].handleRet
		},
	}
}

// testLogger records log lines.
func testLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

func logLines(buf *bytes.Buffer) []string {
	return strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
}

const (
	gib   = 1 << 30
	uuid0 = "GPU-00000000-0000-0000-0000-000000000000"
	uuid1 = "GPU-11111111-1111-1111-1111-111111111111"
	uuid2 = "GPU-22222222-2222-2222-2222-222222222222"
)

func TestDiscoverWith(t *testing.T) {
	h100 := func(uuid string) fakeGPU {
		return fakeGPU{uuid: uuid, name: "NVIDIA H100 80GB HBM3", mem: 80 * gib}
	}
	tests := []struct {
		name         string
		lib          *mock.Interface
		want         []cluster.GPU
		wantLog      []string // substrings, one per expected line, in order
		wantShutdown int
	}{
		{
			name: "several GPUs, MIG on one",
			lib: fakeLib(nvml.SUCCESS, nvml.SUCCESS,
				h100(uuid0),
				fakeGPU{uuid: uuid1, name: "NVIDIA A100-SXM4-40GB", mem: 40 * gib, mig: nvml.DEVICE_MIG_ENABLE},
				h100(uuid2)),
			want: []cluster.GPU{
				{Index: 0, UUID: uuid0, Model: "NVIDIA H100 80GB HBM3", MemoryBytes: 80 * gib},
				{Index: 1, UUID: uuid1, Model: "NVIDIA A100-SXM4-40GB", MemoryBytes: 40 * gib, MIG: true},
				{Index: 2, UUID: uuid2, Model: "NVIDIA H100 80GB HBM3", MemoryBytes: 80 * gib},
			},
			wantLog:      []string{`discovered GPUs" count=3`},
			wantShutdown: 1,
		},
		{
			name:         "no GPUs",
			lib:          fakeLib(nvml.SUCCESS, nvml.SUCCESS),
			wantLog:      []string{"no NVIDIA GPUs found"},
			wantShutdown: 1,
		},
		{
			name:    "library not found",
			lib:     fakeLib(nvml.ERROR_LIBRARY_NOT_FOUND, nvml.SUCCESS, h100(uuid0)),
			wantLog: []string{"NVML library not found"},
		},
		{
			name:    "Init fails",
			lib:     fakeLib(nvml.ERROR_DRIVER_NOT_LOADED, nvml.SUCCESS, h100(uuid0)),
			wantLog: []string{"level=WARN msg=\"gpu: NVML discovery failed; no GPUs discovered\" err=\"nvmlInit: ERROR_DRIVER_NOT_LOADED\""},
		},
		{
			name:         "DeviceGetCount fails",
			lib:          fakeLib(nvml.SUCCESS, nvml.ERROR_UNKNOWN, h100(uuid0)),
			wantLog:      []string{"nvmlDeviceGetCount: ERROR_UNKNOWN"},
			wantShutdown: 1,
		},
		{
			name: "one GetUUID fails",
			lib: fakeLib(nvml.SUCCESS, nvml.SUCCESS,
				h100(uuid0), fakeGPU{uuidRet: nvml.ERROR_GPU_IS_LOST}, h100(uuid2)),
			want: []cluster.GPU{
				{Index: 0, UUID: uuid0, Model: "NVIDIA H100 80GB HBM3", MemoryBytes: 80 * gib},
				{Index: 2, UUID: uuid2, Model: "NVIDIA H100 80GB HBM3", MemoryBytes: 80 * gib},
			},
			wantLog:      []string{`skipping GPU" index=1 err="nvmlDeviceGetUUID: ERROR_GPU_IS_LOST"`, "count=2"},
			wantShutdown: 1,
		},
		{
			name: "one handle, one name, one MIG query fail",
			lib: fakeLib(nvml.SUCCESS, nvml.SUCCESS,
				fakeGPU{handleRet: nvml.ERROR_UNKNOWN},
				fakeGPU{uuid: uuid1, nameRet: nvml.ERROR_UNKNOWN},
				fakeGPU{uuid: uuid2, name: "x", migRet: nvml.ERROR_UNKNOWN}),
			wantLog: []string{
				"index=0 err=\"nvmlDeviceGetHandleByIndex",
				"index=1 err=\"nvmlDeviceGetName",
				"index=2 err=\"nvmlDeviceGetMigMode",
				"no NVIDIA GPUs found",
			},
			wantShutdown: 1,
		},
		{
			name: "memory and MIG not supported",
			lib: fakeLib(nvml.SUCCESS, nvml.SUCCESS,
				fakeGPU{uuid: uuid0, name: "NVIDIA GB10", memRet: nvml.ERROR_NOT_SUPPORTED, migRet: nvml.ERROR_NOT_SUPPORTED}),
			want:         []cluster.GPU{{Index: 0, UUID: uuid0, Model: "NVIDIA GB10"}},
			wantLog:      []string{"count=1"},
			wantShutdown: 1,
		},
		{
			name: "empty UUID",
			lib:  fakeLib(nvml.SUCCESS, nvml.SUCCESS, fakeGPU{name: "x"}),
			wantLog: []string{
				"index=0 err=\"nvmlDeviceGetUUID: empty UUID\"",
				"no NVIDIA GPUs found",
			},
			wantShutdown: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logger, buf := testLogger()
			got := DiscoverWith(context.Background(), tt.lib, logger)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("GPUs = %+v, want %+v", got, tt.want)
			}
			lines := logLines(buf)
			if len(lines) != len(tt.wantLog) {
				t.Fatalf("log has %d lines, want %d:\n%s", len(lines), len(tt.wantLog), buf)
			}
			for i, want := range tt.wantLog {
				if !strings.Contains(lines[i], want) {
					t.Errorf("log line %d = %q, want it to contain %q", i, lines[i], want)
				}
			}
			if n := len(tt.lib.ShutdownCalls()); n != tt.wantShutdown {
				t.Errorf("Shutdown called %d times, want %d", n, tt.wantShutdown)
			}
		})
	}
}

func TestDiscoverWithPanics(t *testing.T) {
	tests := []struct {
		name         string
		lib          *mock.Interface
		wantShutdown int
	}{
		{
			name: "Init panics",
			lib: &mock.Interface{
				InitFunc: func() nvml.Return { panic("dlsym failed") },
			},
		},
		{
			name: "query panics after Init",
			lib: &mock.Interface{
				InitFunc:           func() nvml.Return { return nvml.SUCCESS },
				ShutdownFunc:       func() nvml.Return { return nvml.SUCCESS },
				DeviceGetCountFunc: func() (int, nvml.Return) { panic("boom") },
			},
			wantShutdown: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logger, buf := testLogger()
			if got := DiscoverWith(context.Background(), tt.lib, logger); got != nil {
				t.Errorf("GPUs = %+v, want none", got)
			}
			if lines := logLines(buf); len(lines) != 1 || !strings.Contains(lines[0], "panicked") {
				t.Errorf("log = %q, want one line about the panic", lines)
			}
			if n := len(tt.lib.ShutdownCalls()); n != tt.wantShutdown {
				t.Errorf("Shutdown called %d times, want %d", n, tt.wantShutdown)
			}
		})
	}
}

// A wedged NVML must not hold the agent: discovery gives up when ctx ends,
// and the abandoned worker still shuts NVML down once Init returns.
func TestDiscoverWithInitHangs(t *testing.T) {
	release := make(chan struct{})
	lib := fakeLib(nvml.SUCCESS, nvml.SUCCESS)
	lib.InitFunc = func() nvml.Return { <-release; return nvml.SUCCESS }

	logger, buf := testLogger()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if got := DiscoverWith(ctx, lib, logger); got != nil {
		t.Errorf("GPUs = %+v, want none", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("DiscoverWith took %v with a 50ms context", d)
	}
	if lines := logLines(buf); len(lines) != 1 || !strings.Contains(lines[0], "did not answer in time") {
		t.Errorf("log = %q, want one timeout line", lines)
	}

	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for len(lib.ShutdownCalls()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("abandoned discovery never called Shutdown")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The real go-nvml without its library: what every machine without the
// NVIDIA driver sees.
func TestDiscoverWithNoLibrary(t *testing.T) {
	logger, buf := testLogger()
	lib := nvml.New(nvml.WithLibraryPath(filepath.Join(t.TempDir(), "libnvidia-ml.so.1")))
	if got := DiscoverWith(context.Background(), lib, logger); got != nil {
		t.Errorf("GPUs = %+v, want none", got)
	}
	if lines := logLines(buf); len(lines) != 1 || !strings.Contains(lines[0], "NVML library not found") {
		t.Errorf("log = %q, want one line saying the library is missing", lines)
	}
}

// Discover on this machine, GPU or not: it returns, and logs one summary
// line (plus one per skipped device).
func TestDiscoverReturns(t *testing.T) {
	logger, buf := testLogger()
	gpus := Discover(context.Background(), logger)
	if buf.Len() == 0 {
		t.Error("Discover logged nothing")
	}
	t.Logf("found %d GPUs: %+v\n%s", len(gpus), gpus, buf)
}
