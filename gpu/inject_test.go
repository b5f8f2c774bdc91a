package gpu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"shoal/cluster"
)

const nvidiaMajor = 195

// nodeGPUs are a node's four discovered GPUs, GPU-<i> at index i.
var nodeGPUs = func() []cluster.GPU {
	var gpus []cluster.GPU
	for i := range 4 {
		gpus = append(gpus, cluster.GPU{Index: i, UUID: fmt.Sprintf("GPU-%d", i), Model: "NVIDIA H100 80GB HBM3"})
	}
	return gpus
}()

// fakeDev is a /dev without mknod: every GPU's node, nvidiactl, nvidia-uvm
// and nvidia-uvm-tools, but no nvidia-modeset; broken names are files that
// are not devices.
func fakeDev(root string, broken ...string) func(string) (devNode, error) {
	nodes := map[string]devNode{
		"nvidiactl":        {typ: "c", major: nvidiaMajor, minor: 255, mode: 0o666},
		"nvidia-uvm":       {typ: "c", major: 510, minor: 0, mode: 0o666},
		"nvidia-uvm-tools": {typ: "c", major: 510, minor: 1, mode: 0o666},
	}
	for i := range 4 {
		nodes[fmt.Sprintf("nvidia%d", i)] = devNode{typ: "c", major: nvidiaMajor, minor: int64(i), mode: 0o666}
	}
	return func(path string) (devNode, error) {
		name, ok := strings.CutPrefix(path, root+"/")
		if !ok {
			return devNode{}, fmt.Errorf("stat %s outside the dev root %s", path, root)
		}
		if slices.Contains(broken, name) {
			return devNode{}, &fs.PathError{Op: "stat", Path: path, Err: errors.New("not a device node")}
		}
		if dn, ok := nodes[name]; ok {
			return dn, nil
		}
		return devNode{}, &fs.PathError{Op: "stat", Path: path, Err: fs.ErrNotExist}
	}
}

// imageSpec is a container spec as the image config leaves it: CUDA images
// ask for every GPU.
func imageSpec() *specs.Spec {
	return &specs.Spec{
		Process: &specs.Process{Env: []string{"PATH=/usr/bin", EnvVisibleDevices + "=all"}},
		Linux:   &specs.Linux{},
	}
}

func env(s *specs.Spec, key string) []string {
	var vals []string
	for _, kv := range s.Process.Env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			vals = append(vals, v)
		}
	}
	return vals
}

func devicePaths(s *specs.Spec) []string {
	var paths []string
	if s.Linux != nil {
		for _, d := range s.Linux.Devices {
			paths = append(paths, d.Path)
		}
	}
	slices.Sort(paths)
	return paths
}

// cgroupRules lists the allow rules as "c 195:1 rwm".
func cgroupRules(s *specs.Spec) []string {
	var rules []string
	if s.Linux != nil && s.Linux.Resources != nil {
		for _, r := range s.Linux.Resources.Devices {
			if r.Allow && r.Major != nil && r.Minor != nil {
				rules = append(rules, fmt.Sprintf("%s %d:%d %s", r.Type, *r.Major, *r.Minor, r.Access))
			}
		}
	}
	slices.Sort(rules)
	return rules
}

func TestApplyDeviceNodes(t *testing.T) {
	control := []string{"/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidiactl"}
	controlRules := []string{"c 195:255 rwm", "c 510:0 rwm", "c 510:1 rwm"}
	tests := []struct {
		name     string
		gpus     []cluster.GPU
		ids      []string
		spec     func() *specs.Spec
		wantErr  string
		devices  []string // nil: none
		rules    []string
		visible  string
		caps     string // "" when not set
		noChange bool
		broken   string // a node the fake /dev holds as a non-device file
	}{
		{
			name:    "two of four by UUID",
			ids:     []string{"GPU-3", "GPU-1"},
			devices: append([]string{"/dev/nvidia1", "/dev/nvidia3"}, control...),
			rules:   append([]string{"c 195:1 rwm", "c 195:3 rwm"}, controlRules...),
			visible: "GPU-3,GPU-1",
			caps:    "compute,utility",
		},
		{
			name:    "an index names a discovered GPU too, duplicates collapse",
			ids:     []string{"2", "GPU-2"},
			devices: append([]string{"/dev/nvidia2"}, control...),
			rules:   append([]string{"c 195:2 rwm"}, controlRules...),
			visible: "GPU-2",
			caps:    "compute,utility",
		},
		{
			name:    "advertised GPUs by index",
			gpus:    Advertised(2),
			ids:     []string{"1"},
			devices: append([]string{"/dev/nvidia1"}, control...),
			rules:   append([]string{"c 195:1 rwm"}, controlRules...),
			visible: "1",
			caps:    "compute,utility",
		},
		{
			name:    "a GPU whose node is missing gets the control nodes and env",
			gpus:    []cluster.GPU{{Index: 7, UUID: "GPU-7"}},
			ids:     []string{"GPU-7"},
			devices: control, rules: controlRules,
			visible: "GPU-7",
			caps:    "compute,utility",
		},
		{
			name: "the image's capabilities stay, its device list does not",
			ids:  []string{"GPU-0"},
			spec: func() *specs.Spec {
				s := imageSpec()
				s.Process.Env = append(s.Process.Env, EnvDriverCapabilities+"=compute,video", EnvVisibleDevices+"=GPU-1")
				return s
			},
			devices: append([]string{"/dev/nvidia0"}, control...),
			rules:   append([]string{"c 195:0 rwm"}, controlRules...),
			visible: "GPU-0",
			caps:    "compute,video",
		},
		{
			name: "an existing entry for the same node is replaced",
			ids:  []string{"GPU-0"},
			spec: func() *specs.Spec {
				s := imageSpec()
				s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/nvidia0", Type: "c", Major: 1, Minor: 1}}
				return s
			},
			devices: append([]string{"/dev/nvidia0"}, control...),
			rules:   append([]string{"c 195:0 rwm"}, controlRules...),
			visible: "GPU-0",
			caps:    "compute,utility",
		},
		{
			name:    "no GPUs: nothing but a void device list",
			visible: "void",
		},
		{
			name:    "bare spec without process or linux",
			ids:     []string{"GPU-0"},
			spec:    func() *specs.Spec { return &specs.Spec{} },
			devices: append([]string{"/dev/nvidia0"}, control...),
			rules:   append([]string{"c 195:0 rwm"}, controlRules...),
			visible: "GPU-0",
			caps:    "compute,utility",
		},
		{name: "unknown UUID", ids: []string{"GPU-0", "GPU-9"}, wantErr: `"GPU-9" is not a GPU of this node`, noChange: true},
		{name: "all is not an ID", ids: []string{"all"}, wantErr: `"all" is not a GPU`, noChange: true},
		{name: "index out of range", ids: []string{"4"}, wantErr: `"4" is not a GPU`, noChange: true},
		{name: "no node GPUs known", gpus: []cluster.GPU{}, ids: []string{"0"}, wantErr: "not a GPU", noChange: true},
		{name: "non-canonical index", ids: []string{"01"}, wantErr: "not a GPU", noChange: true},
		{name: "a non-device file is an error", ids: []string{"GPU-1"}, broken: "nvidia1", wantErr: "nvidia1: not a device node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := "/fake/dev"
			gpus := nodeGPUs
			if tt.gpus != nil {
				gpus = tt.gpus
			}
			spec := imageSpec()
			if tt.spec != nil {
				spec = tt.spec()
			}
			cfg := InjectConfig{GPUs: gpus, CDIDirs: []string{}, DevRoot: root, statDevice: fakeDev(root, tt.broken)}
			err := Apply(spec, tt.ids, cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Apply error = %v, want one containing %q", err, tt.wantErr)
				}
				if tt.noChange && (len(devicePaths(spec)) != 0 || env(spec, EnvVisibleDevices)[0] != "all") {
					t.Errorf("a refused Apply changed the spec: %v %v", devicePaths(spec), spec.Process.Env)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			wantDevices := slices.Clone(tt.devices)
			slices.Sort(wantDevices)
			if got := devicePaths(spec); !slices.Equal(got, wantDevices) {
				t.Errorf("devices = %v, want %v", got, wantDevices)
			}
			want := slices.Clone(tt.rules)
			slices.Sort(want)
			if got := cgroupRules(spec); !slices.Equal(got, want) {
				t.Errorf("cgroup rules = %v, want %v", got, want)
			}
			if got := env(spec, EnvVisibleDevices); !slices.Equal(got, []string{tt.visible}) {
				t.Errorf("%s = %q, want exactly [%q]", EnvVisibleDevices, got, tt.visible)
			}
			var wantCaps []string
			if tt.caps != "" {
				wantCaps = []string{tt.caps}
			}
			if got := env(spec, EnvDriverCapabilities); !slices.Equal(got, wantCaps) {
				t.Errorf("%s = %q, want %q", EnvDriverCapabilities, got, wantCaps)
			}
			for _, d := range spec.Linux.Devices {
				if d.FileMode == nil || *d.FileMode != 0o666 || d.Type != "c" {
					t.Errorf("device %s: type %q mode %v, want c 0666", d.Path, d.Type, d.FileMode)
				}
			}
		})
	}
}

func TestApplyNilSpec(t *testing.T) {
	if err := Apply(nil, []string{"GPU-0"}, InjectConfig{GPUs: nodeGPUs}); err == nil {
		t.Error("Apply(nil spec) succeeded")
	}
}

// Apply through the containerd option, as the runtime calls it.
func TestSpecOpts(t *testing.T) {
	ids := []string{"GPU-1"}
	root := "/fake/dev"
	opt := SpecOpts(ids, InjectConfig{GPUs: nodeGPUs, CDIDirs: []string{}, DevRoot: root, statDevice: fakeDev(root)})
	ids[0] = "GPU-2" // the option holds its own copy
	spec := imageSpec()
	if err := opt(context.Background(), nil, nil, spec); err != nil {
		t.Fatalf("SpecOpts: %v", err)
	}
	if got := env(spec, EnvVisibleDevices); !slices.Equal(got, []string{"GPU-1"}) {
		t.Errorf("%s = %q, want [GPU-1]", EnvVisibleDevices, got)
	}
	if !slices.Contains(devicePaths(spec), "/dev/nvidia1") || slices.Contains(devicePaths(spec), "/dev/nvidia2") {
		t.Errorf("devices = %v, want /dev/nvidia1 and not /dev/nvidia2", devicePaths(spec))
	}
}

// cdiSpec is what `nvidia-ctk cdi generate --device-name-strategy=index`
// writes, trimmed, with GPU 2 named by UUID and GPU 3 absent.
const cdiSpec = `---
cdiVersion: "0.5.0"
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
      type: c
      major: 195
      minor: 0
    env:
    - CDI_GPU_0=yes
- name: "1"
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia1
      type: c
      major: 195
      minor: 1
- name: GPU-2
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia2
      type: c
      major: 195
      minor: 2
containerEdits:
  env:
  - NVIDIA_VISIBLE_DEVICES=void
  deviceNodes:
  - path: /dev/nvidiactl
    type: c
    major: 195
    minor: 255
  mounts:
  - hostPath: /usr/lib/x86_64-linux-gnu/libcuda.so.570.1
    containerPath: /usr/lib/x86_64-linux-gnu/libcuda.so.570.1
    options: [ro, nosuid, nodev, bind]
`

// otherSpec is another vendor's CDI spec: it must not switch GPUs to CDI.
const otherSpec = `---
cdiVersion: "0.5.0"
kind: example.com/fpga
devices:
- name: "0"
  containerEdits:
    deviceNodes:
    - path: /dev/fpga0
      type: c
      major: 240
      minor: 0
`

func writeCDIDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestApplyCDI(t *testing.T) {
	nvidia := map[string]string{"nvidia.yaml": cdiSpec}
	tests := []struct {
		name    string
		files   map[string]string // nil: no CDI dir at all
		ids     []string
		wantErr string
		devices []string
		env     map[string][]string // key → exact values
		mounts  []string
	}{
		{
			name:    "index-named and UUID-named devices",
			files:   nvidia,
			ids:     []string{"GPU-0", "GPU-2"},
			devices: []string{"/dev/nvidia0", "/dev/nvidia2", "/dev/nvidiactl"},
			env: map[string][]string{
				EnvVisibleDevices:     {"void"},
				"CDI_GPU_0":           {"yes"},
				EnvDriverCapabilities: nil,
			},
			mounts: []string{"/usr/lib/x86_64-linux-gnu/libcuda.so.570.1"},
		},
		{
			name:    "one GPU by index",
			files:   nvidia,
			ids:     []string{"1"},
			devices: []string{"/dev/nvidia1", "/dev/nvidiactl"},
			env:     map[string][]string{EnvVisibleDevices: {"void"}, "CDI_GPU_0": nil},
			mounts:  []string{"/usr/lib/x86_64-linux-gnu/libcuda.so.570.1"},
		},
		{
			name:    "a GPU the spec lacks is an error, not a silent fallback",
			files:   nvidia,
			ids:     []string{"GPU-1", "GPU-3"},
			wantErr: "no device for GPU GPU-3 (tried nvidia.com/gpu=GPU-3, nvidia.com/gpu=3); regenerate",
		},
		{
			name:    "a broken spec file is named in the error",
			files:   map[string]string{"nvidia.yaml": cdiSpec, "broken.yaml": "kind: [\n"},
			ids:     []string{"GPU-3"},
			wantErr: "broken.yaml",
		},
		{
			name:    "another vendor's spec: device nodes",
			files:   map[string]string{"fpga.yaml": otherSpec},
			ids:     []string{"GPU-1"},
			devices: []string{"/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia1", "/dev/nvidiactl"},
			env:     map[string][]string{EnvVisibleDevices: {"GPU-1"}, EnvDriverCapabilities: {"compute,utility"}},
		},
		{
			name:    "no CDI dir: device nodes",
			ids:     []string{"GPU-1"},
			devices: []string{"/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia1", "/dev/nvidiactl"},
			env:     map[string][]string{EnvVisibleDevices: {"GPU-1"}},
		},
		{
			name:  "no GPUs: CDI untouched",
			files: nvidia,
			env:   map[string][]string{EnvVisibleDevices: {"void"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "missing")
			if tt.files != nil {
				dir = writeCDIDir(t, tt.files)
			}
			root := "/fake/dev"
			spec := imageSpec()
			err := Apply(spec, tt.ids, InjectConfig{
				GPUs: nodeGPUs, CDIDirs: []string{dir}, DevRoot: root, statDevice: fakeDev(root),
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Apply error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if got := devicePaths(spec); !slices.Equal(got, tt.devices) {
				t.Errorf("devices = %v, want %v", got, tt.devices)
			}
			for key, want := range tt.env {
				if got := env(spec, key); !slices.Equal(got, want) {
					t.Errorf("env %s = %q, want %q", key, got, want)
				}
			}
			var mounts []string
			for _, m := range spec.Mounts {
				mounts = append(mounts, m.Destination)
			}
			if !slices.Equal(mounts, tt.mounts) {
				t.Errorf("mounts = %v, want %v", mounts, tt.mounts)
			}
			// Every device node must have its cgroup rule, and no others.
			var want []string
			for _, d := range spec.Linux.Devices {
				want = append(want, fmt.Sprintf("%s %d:%d rwm", d.Type, d.Major, d.Minor))
			}
			slices.Sort(want)
			if got := cgroupRules(spec); !slices.Equal(got, want) {
				t.Errorf("cgroup rules = %v, want %v", got, want)
			}
		})
	}
}
