package cluster

import (
	"iter"
	"slices"
)

// What a pod consumes from the cluster and from itself, Kubernetes'
// way: environment variables taken from ConfigMaps, Secrets, the pod's
// own fields and its containers' resources, and volumes made of the
// same. The node resolves them (agent/node/podconfig) when it creates a
// container, and keeps the volumes up to date while the pod runs.

// EnvVarSource is where an environment variable's value comes from.
// Exactly one field is set.
type EnvVarSource struct {
	FieldRef         *FieldRef         `json:"fieldRef,omitempty"`
	ResourceFieldRef *ResourceFieldRef `json:"resourceFieldRef,omitempty"`
	ConfigMapKeyRef  *KeyRef           `json:"configMapKeyRef,omitempty"`
	SecretKeyRef     *KeyRef           `json:"secretKeyRef,omitempty"`
}

// FieldRef selects a field of the pod, by Kubernetes' field path:
// metadata.name, metadata.labels['app'], status.podIP, ...
type FieldRef struct {
	FieldPath string `json:"fieldPath"`
}

// ResourceFieldRef selects a container's request or limit (limits.cpu,
// requests.memory, ...). An unset limit reads as the node's allocatable
// amount, as in Kubernetes.
type ResourceFieldRef struct {
	// ContainerName is "" in an env var: the container itself.
	ContainerName string `json:"containerName,omitempty"`
	Resource      string `json:"resource"`
	// Divisor is in the resource's unit, millicores for cpu and bytes
	// otherwise; 0 means 1 (one core, one byte). The value is rounded up.
	Divisor int64 `json:"divisor,omitempty"`
}

// KeyRef selects one key of a ConfigMap or Secret of the pod's namespace.
// A missing object or key is an error unless Optional, when the variable
// is left out.
type KeyRef struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Optional bool   `json:"optional,omitempty"`
}

// EnvFromSource sets a variable for each key of a ConfigMap or Secret
// (exactly one is set), named Prefix+key. Keys that are not valid
// variable names are skipped, as Kubernetes skips them.
type EnvFromSource struct {
	Prefix       string     `json:"prefix,omitempty"`
	ConfigMapRef *ObjectRef `json:"configMapRef,omitempty"`
	SecretRef    *ObjectRef `json:"secretRef,omitempty"`
}

// ObjectRef names a ConfigMap or Secret of the pod's namespace; a missing
// one is an error unless Optional.
type ObjectRef struct {
	Name     string `json:"name"`
	Optional bool   `json:"optional,omitempty"`
}

// KeyToPath puts one key at Path (relative) in a volume; Mode, when set,
// replaces the volume's default mode.
type KeyToPath struct {
	Key  string `json:"key"`
	Path string `json:"path"`
	Mode *int32 `json:"mode,omitempty"`
}

// ConfigMapProjection is a ConfigMap's keys as files: each key at its own
// name, or only Items.
type ConfigMapProjection struct {
	Name     string      `json:"name"`
	Items    []KeyToPath `json:"items,omitempty"`
	Optional bool        `json:"optional,omitempty"`
}

// SecretProjection is a Secret's keys as files, like ConfigMapProjection.
type SecretProjection struct {
	Name     string      `json:"name"`
	Items    []KeyToPath `json:"items,omitempty"`
	Optional bool        `json:"optional,omitempty"`
}

// DownwardAPIFile is one file of the pod's own fields (metadata only) or
// of a container's resources (ContainerName required).
type DownwardAPIFile struct {
	Path             string            `json:"path"`
	FieldRef         *FieldRef         `json:"fieldRef,omitempty"`
	ResourceFieldRef *ResourceFieldRef `json:"resourceFieldRef,omitempty"`
	Mode             *int32            `json:"mode,omitempty"`
}

// DownwardAPIProjection is the downward API files of a projected volume.
type DownwardAPIProjection struct {
	Items []DownwardAPIFile `json:"items,omitempty"`
}

// DefaultVolumeMode is the mode of the files of configMap, secret,
// downwardAPI and projected volumes unless they say otherwise (0644).
const DefaultVolumeMode int32 = 0o644

// ConfigMapVolumeSource is a volume of a ConfigMap's keys. DefaultMode is
// the files' mode (the manifest writes DefaultVolumeMode when unset).
type ConfigMapVolumeSource struct {
	ConfigMapProjection
	DefaultMode int32 `json:"defaultMode"`
}

// SecretVolumeSource is a volume of a Secret's keys.
type SecretVolumeSource struct {
	SecretProjection
	DefaultMode int32 `json:"defaultMode"`
}

// DownwardAPIVolumeSource is a volume of the pod's own fields.
type DownwardAPIVolumeSource struct {
	Items       []DownwardAPIFile `json:"items,omitempty"`
	DefaultMode int32             `json:"defaultMode"`
}

// ProjectedVolumeSource is one volume made of several sources.
type ProjectedVolumeSource struct {
	Sources     []VolumeProjection `json:"sources"`
	DefaultMode int32              `json:"defaultMode"`
}

// VolumeProjection is one source of a projected volume; exactly one field
// is set.
type VolumeProjection struct {
	ConfigMap   *ConfigMapProjection   `json:"configMap,omitempty"`
	Secret      *SecretProjection      `json:"secret,omitempty"`
	DownwardAPI *DownwardAPIProjection `json:"downwardAPI,omitempty"`
}

// ConfigRef names a ConfigMap or Secret of the pod's namespace that a pod
// refers to.
type ConfigRef struct {
	Kind ObjectKind
	Name string
}

// ConfigRefs lists the ConfigMaps and Secrets s refers to (env, envFrom,
// volumes), each once, in a fixed order: what the node reads when it
// creates a container and keeps the volumes current from. Image pull
// Secrets are not among them (UsedObjects has them).
func (s *PodSpec) ConfigRefs() []ConfigRef {
	var out []ConfigRef
	for r := range s.configRefs() {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// UsedObjects lists the ConfigMaps and Secrets s uses, each once: those
// of ConfigRefs, then its image pull Secrets. They are what the view of
// the node it runs on holds of those kinds (see State.View).
func (s *PodSpec) UsedObjects() []ConfigRef {
	out := s.ConfigRefs()
	for _, name := range s.ImagePullSecrets {
		if r := (ConfigRef{KindSecret, name}); !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// uses reports whether the object is among UsedObjects, without making
// the list: a member looks for the pods using a changed ConfigMap or
// Secret among every pod of its namespace.
func (s *PodSpec) uses(kind ObjectKind, name string) bool {
	if kind == KindSecret && slices.Contains(s.ImagePullSecrets, name) {
		return true
	}
	for r := range s.configRefs() {
		if r.Kind == kind && r.Name == name {
			return true
		}
	}
	return false
}

// configRefs yields each ConfigMap and Secret reference of s, in order,
// repeats included.
func (s *PodSpec) configRefs() iter.Seq[ConfigRef] {
	return func(yield func(ConfigRef) bool) {
		for _, cs := range [][]Container{s.InitContainers, s.Containers} {
			for _, c := range cs {
				for _, e := range c.Env {
					if e.ValueFrom == nil {
						continue
					}
					if k := e.ValueFrom.ConfigMapKeyRef; k != nil && !yield(ConfigRef{KindConfigMap, k.Name}) {
						return
					}
					if k := e.ValueFrom.SecretKeyRef; k != nil && !yield(ConfigRef{KindSecret, k.Name}) {
						return
					}
				}
				for _, e := range c.EnvFrom {
					if e.ConfigMapRef != nil && !yield(ConfigRef{KindConfigMap, e.ConfigMapRef.Name}) {
						return
					}
					if e.SecretRef != nil && !yield(ConfigRef{KindSecret, e.SecretRef.Name}) {
						return
					}
				}
			}
		}
		for _, v := range s.Volumes {
			switch {
			case v.ConfigMap != nil:
				if !yield(ConfigRef{KindConfigMap, v.ConfigMap.Name}) {
					return
				}
			case v.Secret != nil:
				if !yield(ConfigRef{KindSecret, v.Secret.Name}) {
					return
				}
			case v.Projected != nil:
				for _, p := range v.Projected.Sources {
					if p.ConfigMap != nil && !yield(ConfigRef{KindConfigMap, p.ConfigMap.Name}) {
						return
					}
					if p.Secret != nil && !yield(ConfigRef{KindSecret, p.Secret.Name}) {
						return
					}
				}
			}
		}
	}
}

// Config reports whether the volume's files come from the cluster state
// and the pod (configMap, secret, downwardAPI, projected): the node writes
// them, and containers mount them read-only.
func (v *Volume) Config() bool {
	return v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil
}

// Sensitive reports whether a config volume may hold Secret data, which
// the node keeps in memory only (tmpfs). Downward API and projected
// volumes count too, as in Kubernetes.
func (v *Volume) Sensitive() bool {
	return v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil
}

func cloneEnv(env []EnvVar) []EnvVar {
	if env == nil {
		return nil
	}
	out := make([]EnvVar, len(env))
	for i, e := range env {
		out[i] = e
		if e.ValueFrom != nil {
			out[i].ValueFrom = e.ValueFrom.clone()
		}
	}
	return out
}

func (s *EnvVarSource) clone() *EnvVarSource {
	c := *s
	c.FieldRef = clonePtr(s.FieldRef)
	c.ResourceFieldRef = clonePtr(s.ResourceFieldRef)
	c.ConfigMapKeyRef = clonePtr(s.ConfigMapKeyRef)
	c.SecretKeyRef = clonePtr(s.SecretKeyRef)
	return &c
}

func cloneEnvFrom(in []EnvFromSource) []EnvFromSource {
	if in == nil {
		return nil
	}
	out := make([]EnvFromSource, len(in))
	for i, e := range in {
		out[i] = EnvFromSource{Prefix: e.Prefix, ConfigMapRef: clonePtr(e.ConfigMapRef), SecretRef: clonePtr(e.SecretRef)}
	}
	return out
}

func cloneVolumes(vs []Volume) []Volume {
	if vs == nil {
		return nil
	}
	out := make([]Volume, len(vs))
	for i, v := range vs {
		out[i] = v.clone()
	}
	return out
}

func (v Volume) clone() Volume {
	c := v
	c.EmptyDir = clonePtr(v.EmptyDir)
	c.HostPath = clonePtr(v.HostPath)
	if v.Claim != nil {
		cl := *v.Claim
		cl.Labels = cloneMap(v.Claim.Labels)
		cl.Annotations = cloneMap(v.Claim.Annotations)
		c.Claim = &cl
	}
	if v.ConfigMap != nil {
		c.ConfigMap = &ConfigMapVolumeSource{ConfigMapProjection: *v.ConfigMap.ConfigMapProjection.clone(), DefaultMode: v.ConfigMap.DefaultMode}
	}
	if v.Secret != nil {
		c.Secret = &SecretVolumeSource{SecretProjection: *v.Secret.SecretProjection.clone(), DefaultMode: v.Secret.DefaultMode}
	}
	if v.DownwardAPI != nil {
		c.DownwardAPI = &DownwardAPIVolumeSource{Items: cloneDownward(v.DownwardAPI.Items), DefaultMode: v.DownwardAPI.DefaultMode}
	}
	if v.Projected != nil {
		p := &ProjectedVolumeSource{DefaultMode: v.Projected.DefaultMode, Sources: make([]VolumeProjection, len(v.Projected.Sources))}
		for i, s := range v.Projected.Sources {
			if s.ConfigMap != nil {
				p.Sources[i].ConfigMap = s.ConfigMap.clone()
			}
			if s.Secret != nil {
				p.Sources[i].Secret = s.Secret.clone()
			}
			if s.DownwardAPI != nil {
				p.Sources[i].DownwardAPI = &DownwardAPIProjection{Items: cloneDownward(s.DownwardAPI.Items)}
			}
		}
		c.Projected = p
	}
	return c
}

func (p *ConfigMapProjection) clone() *ConfigMapProjection {
	c := *p
	c.Items = cloneItems(p.Items)
	return &c
}

func (p *SecretProjection) clone() *SecretProjection {
	c := *p
	c.Items = cloneItems(p.Items)
	return &c
}

func cloneItems(items []KeyToPath) []KeyToPath {
	if items == nil {
		return nil
	}
	out := slices.Clone(items)
	for i := range out {
		out[i].Mode = clonePtr(items[i].Mode)
	}
	return out
}

func cloneDownward(items []DownwardAPIFile) []DownwardAPIFile {
	if items == nil {
		return nil
	}
	out := slices.Clone(items)
	for i, it := range items {
		out[i].FieldRef = clonePtr(it.FieldRef)
		out[i].ResourceFieldRef = clonePtr(it.ResourceFieldRef)
		out[i].Mode = clonePtr(it.Mode)
	}
	return out
}
