package gpu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"tags.cncf.io/container-device-interface/pkg/cdi"

	"shoal/cluster"
)

// Environment read by nvidia-container-runtime (its legacy, non-CDI mode).
const (
	EnvVisibleDevices     = "NVIDIA_VISIBLE_DEVICES"
	EnvDriverCapabilities = "NVIDIA_DRIVER_CAPABILITIES"
)

// CDIKind is the CDI vendor/class `nvidia-ctk cdi generate` writes; its
// devices are named by index ("0"), UUID ("GPU-…") or both, depending on
// --device-name-strategy.
const CDIKind = "nvidia.com/gpu"

// DefaultCDIDirs are CDI's standard spec directories, where nvidia-ctk
// writes its spec.
var DefaultCDIDirs = []string{"/etc/cdi", "/var/run/cdi"}

// controlNodes are the device nodes every CUDA process needs besides its
// GPUs' own /dev/nvidiaN. They grant no GPU by themselves.
var controlNodes = []string{"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"}

// InjectConfig says how Apply finds the node's GPUs and their devices.
type InjectConfig struct {
	// GPUs are the node's GPUs (its cluster.Node.GPUs: discovered or
	// advertised). An assigned ID is looked up here for its index; an ID
	// that is not here is refused.
	GPUs []cluster.GPU
	// CDIDirs are searched for a CDI spec of kind nvidia.com/gpu. nil means
	// DefaultCDIDirs; an empty, non-nil slice turns CDI off.
	CDIDirs []string
	// DevRoot is the host directory holding the nvidia device nodes; ""
	// means /dev. Containers see them under /dev whatever it is.
	DevRoot string

	// statDevice replaces stat(2) of a device node in tests that cannot
	// mknod; nil means the real one.
	statDevice func(path string) (devNode, error)
}

// devNode is what a container's spec needs to know of a host device node.
type devNode struct {
	typ          string // "c" or "b"
	major, minor int64
	mode         fs.FileMode // permission bits
}

// SpecOpts returns a containerd spec option doing Apply. Use it last among
// a container's options (after the image config and the pod's env), so that
// an image's or user's NVIDIA_VISIBLE_DEVICES cannot widen what was assigned.
func SpecOpts(ids []string, cfg InjectConfig) oci.SpecOpts {
	ids = slices.Clone(ids)
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		return Apply(s, ids, cfg)
	}
}

// Apply gives the container of spec the GPUs ids (a pod's cluster.Pod.GPUs)
// and no other.
//
//   - No ids: NVIDIA_VISIBLE_DEVICES=void. CUDA images set it to "all", and
//     on a containerd that runs nvidia-container-runtime that would hand
//     every GPU of the node to a pod that asked for none.
//   - A CDI spec for nvidia.com/gpu exists in cfg.CDIDirs: its devices for
//     the assigned GPUs are injected (by UUID, else by index). The spec must
//     name every assigned GPU; otherwise Apply fails rather than start a
//     container without its GPU (regenerate it with nvidia-ctk cdi generate).
//   - Otherwise: /dev/nvidiaN of each assigned GPU and the control nodes
//     that exist under cfg.DevRoot become Linux devices with cgroup allow
//     rules, and NVIDIA_VISIBLE_DEVICES lists the GPUs' IDs (for
//     nvidia-container-runtime, which then mounts the driver libraries).
//     NVIDIA_DRIVER_CAPABILITIES defaults to compute,utility; an image that
//     sets it keeps its value (capabilities choose driver features, never
//     devices).
//
// An ID not among cfg.GPUs is an error: nothing is injected for it.
func Apply(spec *specs.Spec, ids []string, cfg InjectConfig) error {
	if spec == nil {
		return errors.New("gpu: nil OCI spec")
	}
	assigned, err := resolve(ids, cfg.GPUs)
	if err != nil {
		return err
	}
	if len(assigned) == 0 {
		setEnv(spec, EnvVisibleDevices, "void")
		return nil
	}
	done, err := injectCDI(spec, assigned, cfg)
	if done || err != nil {
		return err
	}
	return injectNodes(spec, assigned, cfg)
}

// resolve maps assigned IDs to the node's GPUs, in the order given, without
// duplicates. An ID is a GPU's ID() (its UUID, or its index when it has
// none); an index also names a GPU that has a UUID, since both name one
// device.
func resolve(ids []string, gpus []cluster.GPU) ([]cluster.GPU, error) {
	var out []cluster.GPU
	seen := map[int]bool{}
	for _, id := range ids {
		g, ok := lookup(id, gpus)
		if !ok {
			return nil, fmt.Errorf("gpu: %q is not a GPU of this node", id)
		}
		if !seen[g.Index] {
			seen[g.Index] = true
			out = append(out, g)
		}
	}
	return out, nil
}

func lookup(id string, gpus []cluster.GPU) (cluster.GPU, bool) {
	for _, g := range gpus {
		if g.ID() == id {
			return g, true
		}
	}
	// Only a canonical decimal is an index: "01" or "+1" is not "1".
	if n, err := strconv.Atoi(id); err == nil && n >= 0 && strconv.Itoa(n) == id {
		for _, g := range gpus {
			if g.Index == n {
				return g, true
			}
		}
	}
	return cluster.GPU{}, false
}

// injectCDI applies the CDI devices of the assigned GPUs. It reports false,
// touching nothing, when no CDI spec declares nvidia.com/gpu devices.
//
// The cache is built for this call and not watched: specs are small, a
// container start is rare next to it, and a spec regenerated after a driver
// upgrade is seen without a watcher goroutine to own and stop.
func injectCDI(spec *specs.Spec, assigned []cluster.GPU, cfg InjectConfig) (bool, error) {
	dirs := cfg.CDIDirs
	if dirs == nil {
		dirs = DefaultCDIDirs
	}
	if len(dirs) == 0 {
		return false, nil
	}
	cache, err := cdi.NewCache(cdi.WithSpecDirs(dirs...), cdi.WithAutoRefresh(false))
	if err != nil {
		return false, fmt.Errorf("gpu: CDI: %w", err)
	}
	prefix := CDIKind + "="
	if !slices.ContainsFunc(cache.ListDevices(), func(d string) bool { return strings.HasPrefix(d, prefix) }) {
		return false, nil
	}
	names := make([]string, 0, len(assigned))
	for _, g := range assigned {
		name := ""
		for _, c := range cdiCandidates(g) {
			if cache.GetDevice(c) != nil {
				name = c
				break
			}
		}
		if name == "" {
			return true, fmt.Errorf("gpu: CDI specs in %s have no device for GPU %s (tried %s); regenerate them with `nvidia-ctk cdi generate`%s",
				strings.Join(dirs, ", "), g.ID(), strings.Join(cdiCandidates(g), ", "), cdiErrors(cache))
		}
		names = append(names, name)
	}
	// The CDI edits carry their own environment; an image's "all" must not
	// survive next to them.
	setEnv(spec, EnvVisibleDevices, "void")
	if _, err := cache.InjectDevices(spec, names...); err != nil {
		return true, fmt.Errorf("gpu: CDI: %w", err)
	}
	return true, nil
}

// cdiCandidates are the names a GPU may have in a CDI spec, UUID first: a
// UUID names one device whatever the enumeration order, an index only
// under the order nvidia-ctk saw.
func cdiCandidates(g cluster.GPU) []string {
	var c []string
	if g.UUID != "" {
		c = append(c, CDIKind+"="+g.UUID)
	}
	return append(c, CDIKind+"="+strconv.Itoa(g.Index))
}

// cdiErrors summarises spec files CDI could not load: a broken file is the
// likely reason a device is missing.
func cdiErrors(cache *cdi.Cache) string {
	var msgs []string
	for path, errs := range cache.GetErrors() {
		msgs = append(msgs, fmt.Sprintf("%s: %v", path, errors.Join(errs...)))
	}
	if len(msgs) == 0 {
		return ""
	}
	slices.Sort(msgs)
	return " (spec errors: " + strings.Join(msgs, "; ") + ")"
}

// injectNodes adds the device nodes of the assigned GPUs and the control
// nodes, skipping those that do not exist (a machine whose GPUs are only
// advertised, or without nvidia-uvm loaded yet), and the environment for
// nvidia-container-runtime.
func injectNodes(spec *specs.Spec, assigned []cluster.GPU, cfg InjectConfig) error {
	root := cfg.DevRoot
	if root == "" {
		root = "/dev"
	}
	stat := cfg.statDevice
	if stat == nil {
		stat = statDevice
	}
	names := make([]string, 0, len(assigned)+len(controlNodes))
	ids := make([]string, 0, len(assigned))
	for _, g := range assigned {
		names = append(names, "nvidia"+strconv.Itoa(g.Index))
		ids = append(ids, g.ID())
	}
	names = append(names, controlNodes...)
	for _, name := range names {
		dn, err := stat(filepath.Join(root, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("gpu: %w", err)
		}
		addDevice(spec, "/dev/"+name, dn)
	}
	setEnv(spec, EnvVisibleDevices, strings.Join(ids, ","))
	if _, ok := getEnv(spec, EnvDriverCapabilities); !ok {
		setEnv(spec, EnvDriverCapabilities, "compute,utility")
	}
	return nil
}

// addDevice puts the device node at path into the container, replacing an
// entry for the same path, and allows it in the device cgroup.
func addDevice(spec *specs.Spec, path string, dn devNode) {
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	mode := dn.mode
	spec.Linux.Devices = slices.DeleteFunc(spec.Linux.Devices, func(d specs.LinuxDevice) bool { return d.Path == path })
	spec.Linux.Devices = append(spec.Linux.Devices, specs.LinuxDevice{
		Path: path, Type: dn.typ, Major: dn.major, Minor: dn.minor, FileMode: &mode,
	})
	if spec.Linux.Resources == nil {
		spec.Linux.Resources = &specs.LinuxResources{}
	}
	for _, r := range spec.Linux.Resources.Devices {
		if r.Allow && r.Type == dn.typ && r.Major != nil && *r.Major == dn.major &&
			r.Minor != nil && *r.Minor == dn.minor && r.Access == "rwm" {
			return
		}
	}
	major, minor := dn.major, dn.minor
	spec.Linux.Resources.Devices = append(spec.Linux.Resources.Devices, specs.LinuxDeviceCgroup{
		Allow: true, Type: dn.typ, Major: &major, Minor: &minor, Access: "rwm",
	})
}

// setEnv sets key in the process environment, dropping earlier values: a
// runtime reads the first or the last one depending on who it is.
func setEnv(spec *specs.Spec, key, value string) {
	if spec.Process == nil {
		spec.Process = &specs.Process{}
	}
	spec.Process.Env = slices.DeleteFunc(spec.Process.Env, func(kv string) bool {
		return strings.HasPrefix(kv, key+"=")
	})
	spec.Process.Env = append(spec.Process.Env, key+"="+value)
}

func getEnv(spec *specs.Spec, key string) (string, bool) {
	if spec.Process == nil {
		return "", false
	}
	for _, kv := range slices.Backward(spec.Process.Env) {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v, true
		}
	}
	return "", false
}
