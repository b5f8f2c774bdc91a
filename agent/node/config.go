package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"shoal/agent/node/podconfig"
	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// What pods take from the cluster state (ConfigMaps, Secrets, Services)
// and from themselves (the downward API) is resolved here, by package
// podconfig, against the local state:
//
//   - a container's environment when it is created, and only then (env
//     does not follow changes, as in Kubernetes). A missing ConfigMap,
//     Secret or key keeps it from being created: it waits with
//     CreateContainerConfigError, and is tried again as soon as the
//     objects the pod refers to change;
//   - config volumes before any container starts, then again whenever
//     what they are made of changes: the objects, the pod's labels and
//     annotations, the node. The runtime writes them in one step, so a
//     running pod sees the change whole (subPath mounts excepted, as in
//     Kubernetes).
//
// The main loop wakes the worker of every pod that refers to ConfigMaps
// or Secrets on every state change (watchesState); the worker compares
// what it read before (configMemory) and does nothing when it is the
// same.

// SecretOpener decrypts a Secret's sealed data; the agent passes its
// *seal.Keyring.
type SecretOpener = podconfig.SecretOpener

// configMemory is what a worker remembers of its pod's configuration.
type configMemory struct {
	refs string // the referenced objects' versions, as last seen
	gen  uint64 // bumped whenever refs changes
	// written is, for each config volume written, what it was last
	// written from; lastErr the last error logged for each.
	written map[string]string
	lastErr map[string]string
}

// watchesState reports whether a pod's worker must look at every state
// change: it refers to ConfigMaps or Secrets, which change without the
// pod changing.
func watchesState(p *cluster.Pod) bool {
	return p != nil && len(p.Spec.ConfigRefs()) > 0
}

// source is what resolutions for pod read now.
func (w *worker) source(pod *cluster.Pod, podIP string) *podconfig.Source {
	st := w.r.cfg.Source.State()
	src := &podconfig.Source{State: st, Pod: pod, PodIP: podIP, HostIP: w.r.cfg.NodeAddress, Secrets: w.r.cfg.Secrets}
	if n, ok := st.Node(w.r.cfg.NodeName); ok {
		src.Allocatable = n.Allocatable
	}
	return src
}

// syncConfig brings the configuration of pod up to date before a step:
// it bumps the generation when a referenced object changed and writes the
// config volumes once the sandbox exists.
func (w *worker) syncConfig(ctx context.Context, log *slog.Logger, pod *cluster.Pod, sandboxIP string, haveSandbox bool) configState {
	cm := &w.config
	if pod == nil || pod.Terminating || terminal(pod.Status.Phase) || terminal(w.mem.phase) {
		return configState{gen: cm.gen}
	}
	src := w.source(pod, sandboxIP)
	if refs := refsVersion(src.State, pod); refs != cm.refs {
		cm.refs = refs
		cm.gen++
	}
	st := configState{gen: cm.gen}
	if !hasConfigVolumes(pod) {
		return st
	}
	if !haveSandbox {
		st.unwritten = "waiting for the pod sandbox"
		return st
	}
	// What every volume is made of: the objects, the pod (its labels and
	// annotations; a new pointer is a new pod) and the node.
	key := fmt.Sprintf("%s|%p|%v", cm.refs, pod, src.Allocatable)
	for _, v := range pod.Spec.Volumes {
		if !v.Config() || cm.written[v.Name] == key {
			continue
		}
		if err := w.writeVolume(ctx, src, v); err != nil {
			if cm.lastErr[v.Name] != err.Error() {
				cm.lastErr[v.Name] = err.Error()
				log.Warn("config volume not written", "pod", pod.Key(), "volume", v.Name, "err", err)
			}
			if _, ok := cm.written[v.Name]; !ok && st.unwritten == "" {
				// A volume written before keeps its content, as in
				// Kubernetes: only one never written holds the pod back.
				st.unwritten = fmt.Sprintf("MountVolume.SetUp failed for volume %q: %v", v.Name, err)
			}
			continue
		}
		cm.written[v.Name] = key
		delete(cm.lastErr, v.Name)
	}
	return st
}

func (w *worker) writeVolume(ctx context.Context, src *podconfig.Source, v cluster.Volume) error {
	files, err := podconfig.Volume(src, v)
	if err != nil {
		return err
	}
	return w.r.cfg.Runtime.WriteVolume(ctx, src.Pod, v.Name, files)
}

func hasConfigVolumes(p *cluster.Pod) bool {
	for _, v := range p.Spec.Volumes {
		if v.Config() {
			return true
		}
	}
	return false
}

// refsVersion is the versions of the ConfigMaps and Secrets pod refers
// to (0: missing), as one string.
func refsVersion(st *cluster.State, pod *cluster.Pod) string {
	var b strings.Builder
	for _, r := range pod.Spec.ConfigRefs() {
		var idx uint64
		if o, ok := st.Object(r.Kind, pod.Namespace, r.Name); ok {
			idx = o.ModifyIndex
		}
		b.WriteString(string(r.Kind) + "/" + r.Name + "@" + strconv.FormatUint(idx, 10) + ";")
	}
	return b.String()
}

// containerToStart is container c of pod as the runtime is to create it:
// its environment resolved and its command expanded. What cannot be
// resolved is a configuration error (CreateContainerConfigError).
func (w *worker) containerToStart(log *slog.Logger, pod *cluster.Pod, c cluster.Container, sb *rtapi.PodSandbox) (cluster.Container, error) {
	ip := ""
	if sb != nil {
		ip = sb.IP
	}
	out, skipped, err := podconfig.Container(w.source(pod, ip), c)
	if err != nil {
		var missing *podconfig.MissingError
		if !errors.As(err, &missing) {
			log.Warn("container configuration not resolved", "pod", pod.Key(), "container", c.Name, "err", err)
		}
		return cluster.Container{}, &rtapi.ConfigError{Message: err.Error()}
	}
	if len(skipped) > 0 {
		log.Warn("envFrom keys skipped: not valid environment variable names",
			"pod", pod.Key(), "container", c.Name, "keys", strings.Join(skipped, ", "))
	}
	return out, nil
}
