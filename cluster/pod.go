package cluster

import (
	"slices"
	"time"
)

// DefaultNamespace is where objects without a namespace go.
const DefaultNamespace = "default"

// RestartPolicy is a pod's (or a sidecar init container's) restart policy.
type RestartPolicy string

// Restart policies, as Kubernetes spells them.
const (
	RestartAlways    RestartPolicy = "Always"
	RestartOnFailure RestartPolicy = "OnFailure"
	RestartNever     RestartPolicy = "Never"
)

// PodSpec is what a pod runs: the template of a workload, or a bare pod.
type PodSpec struct {
	// InitContainers run to completion, in order, before Containers start;
	// one whose RestartPolicy is Always is a native sidecar: started in
	// order and kept running beside the main containers.
	InitContainers []Container       `json:"initContainers,omitempty"`
	Containers     []Container       `json:"containers"`
	Volumes        []Volume          `json:"volumes,omitempty"`
	RestartPolicy  RestartPolicy     `json:"restartPolicy,omitempty"`
	NodeSelector   map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations let the pod onto nodes with matching taints.
	Tolerations []Toleration `json:"tolerations,omitempty"`
	// Affinity holds node affinity and inter-pod (anti-)affinity.
	Affinity *Affinity `json:"affinity,omitempty"`
	// TopologySpreadConstraints spread matching pods over node domains.
	TopologySpreadConstraints []TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// TerminationGracePeriodSeconds is how long a stopping container gets
	// between SIGTERM and SIGKILL (Kubernetes' default: 30).
	TerminationGracePeriodSeconds int64  `json:"terminationGracePeriodSeconds,omitempty"`
	Hostname                      string `json:"hostname,omitempty"`
	Subdomain                     string `json:"subdomain,omitempty"`
	// SecurityContext holds the pod-level security settings (see
	// security.go); HostNetwork, HostPID and HostIPC share the node's
	// namespaces, which only the privileged policy level allows.
	SecurityContext *PodSecurityContext `json:"securityContext,omitempty"`
	HostNetwork     bool                `json:"hostNetwork,omitempty"`
	HostPID         bool                `json:"hostPID,omitempty"`
	HostIPC         bool                `json:"hostIPC,omitempty"`
	// ShareProcessNamespace puts the pod's containers in one PID
	// namespace, whose PID 1 is the pod's pause process.
	ShareProcessNamespace bool `json:"shareProcessNamespace,omitempty"`

	// ServiceAccountName and AutomountServiceAccountToken are kept as
	// given: Shoal has no Kubernetes API, so it mounts no token.
	ServiceAccountName           string `json:"serviceAccountName,omitempty"`
	AutomountServiceAccountToken *bool  `json:"automountServiceAccountToken,omitempty"`
	// EnableServiceLinks injects, as kubelet does, environment variables
	// naming the Services of the pod's namespace (DB_SERVICE_HOST, ...);
	// nil means true, Kubernetes' default.
	EnableServiceLinks *bool `json:"enableServiceLinks,omitempty"`
	// ImagePullSecrets names Secrets of the pod's namespace
	// (kubernetes.io/dockerconfigjson or dockercfg) whose registry
	// credentials the node uses to pull the pod's images.
	ImagePullSecrets []string `json:"imagePullSecrets,omitempty"`
	// DNSPolicy is "" (ClusterFirst, the default), ClusterFirstWithHostNet,
	// Default or None; DNSConfig is added to what the policy gives.
	DNSPolicy DNSPolicy     `json:"dnsPolicy,omitempty"`
	DNSConfig *PodDNSConfig `json:"dnsConfig,omitempty"`
}

// DNSPolicy is how a pod's /etc/resolv.conf is made, as Kubernetes names it.
type DNSPolicy string

// DNS policies. ClusterFirst is stored as "" so that a spec that says it
// and one that does not are the same template.
const (
	DNSClusterFirst            DNSPolicy = "ClusterFirst"
	DNSClusterFirstWithHostNet DNSPolicy = "ClusterFirstWithHostNet"
	DNSDefault                 DNSPolicy = "Default"
	DNSNone                    DNSPolicy = "None"
)

// PodDNSConfig is what a pod adds to (or, with policy None, is the whole
// of) its resolv.conf.
type PodDNSConfig struct {
	Nameservers []string       `json:"nameservers,omitempty"`
	Searches    []string       `json:"searches,omitempty"`
	Options     []PodDNSOption `json:"options,omitempty"`
}

// PodDNSOption is one resolv.conf option: "ndots:2" or "edns0".
type PodDNSOption struct {
	Name  string  `json:"name"`
	Value *string `json:"value,omitempty"`
}

// Clone returns a deep copy of c.
func (c *PodDNSConfig) Clone() *PodDNSConfig {
	if c == nil {
		return nil
	}
	out := &PodDNSConfig{Nameservers: slices.Clone(c.Nameservers), Searches: slices.Clone(c.Searches)}
	for _, o := range c.Options {
		if o.Value != nil {
			v := *o.Value
			o.Value = &v
		}
		out.Options = append(out.Options, o)
	}
	return out
}

// ServiceLinks reports whether the pod's containers get service
// environment variables.
func (s *PodSpec) ServiceLinks() bool {
	return s.EnableServiceLinks == nil || *s.EnableServiceLinks
}

// Requests is what the pod asks the scheduler for: the sum of its
// containers' requests, or the largest of any init container's (Kubernetes'
// effective request rule), sidecar init containers counting as containers.
func (s *PodSpec) Requests() Resources {
	var sum, sidecars, initMax Resources
	for _, c := range s.Containers {
		sum = sum.Add(c.Requests)
	}
	for _, c := range s.InitContainers {
		if c.RestartPolicy == RestartAlways {
			sidecars = sidecars.Add(c.Requests)
			continue
		}
		initMax = initMax.Max(sidecars.Add(c.Requests))
	}
	return sum.Add(sidecars).Max(initMax)
}

// Limits is the pod's limit by the same rule as Requests (Kubernetes'
// PodLimits): the local ephemeral storage a pod may use before it is
// evicted. A resource no container limits is zero.
func (s *PodSpec) Limits() Resources {
	var sum, sidecars, initMax Resources
	for _, c := range s.Containers {
		sum = sum.Add(c.Limits)
	}
	for _, c := range s.InitContainers {
		if c.RestartPolicy == RestartAlways {
			sidecars = sidecars.Add(c.Limits)
			continue
		}
		initMax = initMax.Max(sidecars.Add(c.Limits))
	}
	return sum.Add(sidecars).Max(initMax)
}

// Clone returns a deep copy of s.
func (s PodSpec) Clone() PodSpec {
	c := s
	c.InitContainers = cloneContainers(s.InitContainers)
	c.Containers = cloneContainers(s.Containers)
	c.Volumes = cloneVolumes(s.Volumes)
	c.NodeSelector = cloneMap(s.NodeSelector)
	c.Tolerations = cloneTolerations(s.Tolerations)
	c.Affinity = s.Affinity.Clone()
	c.TopologySpreadConstraints = cloneSpread(s.TopologySpreadConstraints)
	c.SecurityContext = s.SecurityContext.Clone()
	c.EnableServiceLinks = clonePtr(s.EnableServiceLinks)
	c.ImagePullSecrets = slices.Clone(s.ImagePullSecrets)
	c.AutomountServiceAccountToken = clonePtr(s.AutomountServiceAccountToken)
	c.DNSConfig = s.DNSConfig.Clone()
	return c
}

func cloneContainers(cs []Container) []Container {
	if cs == nil {
		return nil
	}
	out := make([]Container, len(cs))
	for i, c := range cs {
		out[i] = c.Clone()
	}
	return out
}

// Container is one container of a pod.
type Container struct {
	Name       string   `json:"name"`
	Image      string   `json:"image"`
	Command    []string `json:"command,omitempty"`
	Args       []string `json:"args,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	Env        []EnvVar `json:"env,omitempty"`
	// EnvFrom sets a variable for every key of ConfigMaps and Secrets;
	// Env wins over it, and a later source over an earlier one.
	EnvFrom []EnvFromSource `json:"envFrom,omitempty"`
	Ports   []ContainerPort `json:"ports,omitempty"`
	// Requests decide placement; Limits are enforced by cgroups. A GPU
	// request always equals its limit.
	Requests       Resources     `json:"requests,omitempty"`
	Limits         Resources     `json:"limits,omitempty"`
	VolumeMounts   []VolumeMount `json:"volumeMounts,omitempty"`
	LivenessProbe  *Probe        `json:"livenessProbe,omitempty"`
	ReadinessProbe *Probe        `json:"readinessProbe,omitempty"`
	StartupProbe   *Probe        `json:"startupProbe,omitempty"`
	// Lifecycle holds the postStart and preStop hooks.
	Lifecycle *Lifecycle `json:"lifecycle,omitempty"`
	// ImagePullPolicy is Always, IfNotPresent or Never.
	ImagePullPolicy string `json:"imagePullPolicy,omitempty"`
	// RestartPolicy is set only on init containers: Always makes a sidecar.
	RestartPolicy RestartPolicy `json:"restartPolicy,omitempty"`
	// SecurityContext overrides the pod's for this container.
	SecurityContext *SecurityContext `json:"securityContext,omitempty"`

	// ResizePolicy says, per resource, whether an in-place resize restarts
	// the container (default: it does not).
	ResizePolicy []ContainerResizePolicy `json:"resizePolicy,omitempty"`
}

// Clone returns a deep copy of c.
func (c Container) Clone() Container {
	out := c
	out.Command = slices.Clone(c.Command)
	out.Args = slices.Clone(c.Args)
	out.Env = cloneEnv(c.Env)
	out.EnvFrom = cloneEnvFrom(c.EnvFrom)
	out.Ports = slices.Clone(c.Ports)
	out.ResizePolicy = slices.Clone(c.ResizePolicy)
	out.VolumeMounts = slices.Clone(c.VolumeMounts)
	out.LivenessProbe = c.LivenessProbe.clone()
	out.ReadinessProbe = c.ReadinessProbe.clone()
	out.StartupProbe = c.StartupProbe.clone()
	out.Lifecycle = c.Lifecycle.clone()
	out.SecurityContext = c.SecurityContext.Clone()
	return out
}

// EnvVar is one environment variable: a literal Value, or one taken
// from ValueFrom when the container is created.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// ValueFrom, when set, replaces Value (see configsource.go).
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

// ContainerPort is a port a container listens on. A HostPort publishes it
// on the node.
type ContainerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	HostPort      int32  `json:"hostPort,omitempty"`
	HostIP        string `json:"hostIP,omitempty"`
	// Protocol is TCP, UDP or SCTP (default TCP).
	Protocol string `json:"protocol,omitempty"`
}

// VolumeMount mounts a pod volume into a container.
type VolumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	SubPath   string `json:"subPath,omitempty"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// Volume is one volume of a pod. Exactly one source is set.
type Volume struct {
	Name     string          `json:"name"`
	EmptyDir *EmptyDirSource `json:"emptyDir,omitempty"`
	HostPath *HostPathSource `json:"hostPath,omitempty"`
	// Claim names a StatefulSet volume claim or a PersistentVolumeClaim;
	// the node keeps its data under the data dir across pod restarts and
	// deletions (ClaimSource.DirName).
	Claim *ClaimSource `json:"claim,omitempty"`
	// ConfigMap, Secret, DownwardAPI and Projected volumes are files the
	// node writes from the cluster state (see configsource.go); containers
	// see them read-only, and they follow changes while the pod runs.
	ConfigMap   *ConfigMapVolumeSource   `json:"configMap,omitempty"`
	Secret      *SecretVolumeSource      `json:"secret,omitempty"`
	DownwardAPI *DownwardAPIVolumeSource `json:"downwardAPI,omitempty"`
	Projected   *ProjectedVolumeSource   `json:"projected,omitempty"`
}

// EmptyDirSource is a scratch directory that lives as long as the pod.
type EmptyDirSource struct {
	// Medium is "" (disk) or "Memory" (tmpfs).
	Medium    string `json:"medium,omitempty"`
	SizeLimit int64  `json:"sizeLimit,omitempty"`
}

// HostPathSource is a path on the node.
type HostPathSource struct {
	Path string `json:"path"`
	// Type is "", DirectoryOrCreate, Directory, FileOrCreate, File, ...
	Type string `json:"type,omitempty"`
}

// ClaimSource is a StatefulSet's per-pod persistent volume, or a pod's
// standalone PersistentVolumeClaim.
type ClaimSource struct {
	ClaimName string `json:"claimName"`
	// Standalone names a PersistentVolumeClaim object (a pod volume's
	// persistentVolumeClaim.claimName), shared by the pods that name it;
	// otherwise the claim is a StatefulSet pod's own.
	Standalone bool `json:"standalone,omitempty"`
	// Storage is the requested size in bytes (informational: volumes are
	// directories on the node).
	Storage int64 `json:"storage,omitempty"`
	// StorageClassName, Labels and Annotations are kept as the claim
	// template gave them, so that `get -o yaml` shows what was applied;
	// they have no effect (every claim is a directory on its node).
	StorageClassName string            `json:"storageClassName,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	Annotations      map[string]string `json:"annotations,omitempty"`
}

// Probe checks a container. Exactly one handler is set.
type Probe struct {
	Exec      []string         `json:"exec,omitempty"`
	HTTPGet   *HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket *TCPSocketAction `json:"tcpSocket,omitempty"`
	GRPC      *GRPCAction      `json:"grpc,omitempty"`

	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
	PeriodSeconds       int32 `json:"periodSeconds,omitempty"`
	TimeoutSeconds      int32 `json:"timeoutSeconds,omitempty"`
	SuccessThreshold    int32 `json:"successThreshold,omitempty"`
	FailureThreshold    int32 `json:"failureThreshold,omitempty"`
}

func (p *Probe) clone() *Probe {
	if p == nil {
		return nil
	}
	c := *p
	c.Exec = slices.Clone(p.Exec)
	c.HTTPGet = p.HTTPGet.clone()
	c.TCPSocket = clonePtr(p.TCPSocket)
	c.GRPC = clonePtr(p.GRPC)
	return &c
}

// Lifecycle is a container's hooks. PostStart runs right after the
// container starts, which is not Running until it succeeded; PreStop runs
// before a running container is sent SIGTERM, within its grace period.
type Lifecycle struct {
	PostStart *LifecycleHandler `json:"postStart,omitempty"`
	PreStop   *LifecycleHandler `json:"preStop,omitempty"`
}

func (l *Lifecycle) clone() *Lifecycle {
	if l == nil {
		return nil
	}
	return &Lifecycle{PostStart: l.PostStart.clone(), PreStop: l.PreStop.clone()}
}

// LifecycleHandler is one hook. Exactly one action is set. TCPSocket is
// accepted, as Kubernetes accepts it, but never run: Kubernetes' kubelet
// fails such a hook ("Cannot run handler").
type LifecycleHandler struct {
	Exec      []string         `json:"exec,omitempty"`
	HTTPGet   *HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket *TCPSocketAction `json:"tcpSocket,omitempty"`
	Sleep     *SleepAction     `json:"sleep,omitempty"`
}

func (h *LifecycleHandler) clone() *LifecycleHandler {
	if h == nil {
		return nil
	}
	c := *h
	c.Exec = slices.Clone(h.Exec)
	c.HTTPGet = h.HTTPGet.clone()
	c.TCPSocket = clonePtr(h.TCPSocket)
	c.Sleep = clonePtr(h.Sleep)
	return &c
}

func (h *HTTPGetAction) clone() *HTTPGetAction {
	if h == nil {
		return nil
	}
	c := *h
	c.Headers = slices.Clone(h.Headers)
	return &c
}

// SleepAction pauses the hook, on the node, for Seconds.
type SleepAction struct {
	Seconds int64 `json:"seconds"`
}

// GRPCAction probes with the standard gRPC health checking protocol
// (grpc.health.v1.Health/Check) on the pod's IP; SERVING is success.
type GRPCAction struct {
	Port int32 `json:"port"`
	// Service is the name sent in the request; "" asks for the server's
	// overall health.
	Service string `json:"service,omitempty"`
}

// HTTPGetAction probes with an HTTP GET; 200–399 is success.
type HTTPGetAction struct {
	Path string `json:"path,omitempty"`
	// Port is a number, or PortName names a container port.
	Port     int32    `json:"port,omitempty"`
	PortName string   `json:"portName,omitempty"`
	Host     string   `json:"host,omitempty"`
	Scheme   string   `json:"scheme,omitempty"`
	Headers  []EnvVar `json:"headers,omitempty"`
}

// TCPSocketAction probes by opening a TCP connection.
type TCPSocketAction struct {
	Port     int32  `json:"port,omitempty"`
	PortName string `json:"portName,omitempty"`
	Host     string `json:"host,omitempty"`
}

// PodPhase is Kubernetes' pod phase.
type PodPhase string

// Pod phases.
const (
	PodPending   PodPhase = "Pending"
	PodRunning   PodPhase = "Running"
	PodSucceeded PodPhase = "Succeeded"
	PodFailed    PodPhase = "Failed"
	PodUnknown   PodPhase = "Unknown"
)

// OwnerRef names the workload that created a pod.
type OwnerRef struct {
	Kind WorkloadKind `json:"kind"`
	Name string       `json:"name"`
	UID  string       `json:"uid"`
}

// Pod is one pod: desired fields written by the leader (Spec, NodeName,
// Terminating, GPUs) and observed fields written by its node (Status).
type Pod struct {
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	UID         string            `json:"uid"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Owner is nil for a bare pod.
	Owner *OwnerRef `json:"owner,omitempty"`
	// Ordinal is a StatefulSet pod's number (db-0 is 0); -1 otherwise.
	Ordinal int `json:"ordinal"`
	// TemplateHash identifies the workload template the pod was made from;
	// a rollout replaces pods whose hash differs.
	TemplateHash string  `json:"templateHash,omitempty"`
	Spec         PodSpec `json:"spec"`

	// NodeName is where the leader placed the pod; "" while Pending.
	NodeName string `json:"nodeName,omitempty"`
	// DaemonNode binds a DaemonSet pod to its node from creation on (as
	// Kubernetes' DaemonSet controller does with node affinity): it is
	// placed there or nowhere, and never moves.
	DaemonNode string `json:"daemonNode,omitempty"`
	// GPUs are the node's GPU IDs assigned to this pod by the leader, so two
	// pods never hold one GPU.
	GPUs []string `json:"gpus,omitempty"`
	// VolumeFrom names the node holding this StatefulSet pod's claim data
	// when the pod was placed elsewhere (its volume node was cordoned): the
	// new node copies the data from there before starting containers, and
	// the FSM clears the field once the node reports the copy done (see
	// ClaimLocation).
	VolumeFrom string `json:"volumeFrom,omitempty"`
	// SchedulingMessage says why an unplaced pod is Pending
	// ("0/3 nodes: 3 insufficient cpu").
	SchedulingMessage string `json:"schedulingMessage,omitempty"`
	// DesiredResources is a bare pod's resize asked for and not yet
	// admitted (a workload's pods take theirs from its template); Spec
	// holds what the pod was admitted with.
	DesiredResources []ContainerResources `json:"desiredResources,omitempty"`
	// ResizePending says why the scheduler has not admitted a resize yet
	// (Kubernetes' PodResizePending condition); nil when none waits.
	ResizePending *ResizePending `json:"resizePending,omitempty"`
	// Terminating asks the node to stop the pod (grace period, then kill);
	// the pod leaves the state once its node reports it stopped.
	Terminating bool `json:"terminating,omitempty"`
	// ReadySince and Available are the leader's stamps for workloads with
	// minReadySeconds (see available.go): when it saw the pod ready, and
	// that it has been ready long enough.
	ReadySince time.Time `json:"readySince,omitzero"`
	Available  bool      `json:"available,omitempty"`

	Status PodStatus `json:"status"`

	CreateIndex uint64 `json:"createIndex,omitempty"`
	ModifyIndex uint64 `json:"modifyIndex,omitempty"`
	// CreatedAt is the leader's wall clock when the pod was created; shown
	// to users only, never compared across machines.
	CreatedAt time.Time `json:"createdAt"`
	// Summarized marks a pod as a node's view holds another node's pod:
	// only the fields of Summary, the rest zero (see view.go).
	Summarized bool `json:"summarized,omitempty"`
}

// Key is the pod's "namespace/name".
func (p *Pod) Key() string { return Key(p.Namespace, p.Name) }

// Clone returns a deep copy of p.
func (p *Pod) Clone() *Pod {
	c := *p
	c.Labels = cloneMap(p.Labels)
	c.Annotations = cloneMap(p.Annotations)
	if p.Owner != nil {
		o := *p.Owner
		c.Owner = &o
	}
	c.Spec = p.Spec.Clone()
	c.GPUs = slices.Clone(p.GPUs)
	c.DesiredResources = slices.Clone(p.DesiredResources)
	for i := range c.DesiredResources {
		c.DesiredResources[i].ResizePolicy = slices.Clone(p.DesiredResources[i].ResizePolicy)
	}
	c.ResizePending = clonePtr(p.ResizePending)
	c.Status = p.Status.Clone()
	return &c
}

// Ready reports whether the pod should receive traffic.
func (p *Pod) Ready() bool {
	return !p.Terminating && p.Status.Phase == PodRunning && p.Status.Ready
}

// PodStatus is what the pod's node observed.
type PodStatus struct {
	Phase   PodPhase `json:"phase,omitempty"`
	Reason  string   `json:"reason,omitempty"`
	Message string   `json:"message,omitempty"`
	PodIP   string   `json:"podIP,omitempty"`
	HostIP  string   `json:"hostIP,omitempty"`
	// Ready: every container is running and passes its readiness probe.
	Ready      bool              `json:"ready,omitempty"`
	StartedAt  time.Time         `json:"startedAt"`
	Containers []ContainerStatus `json:"containers,omitempty"`
	// Stopped is set by the node once a Terminating pod is fully gone from
	// it (containers removed, network torn down).
	Stopped bool `json:"stopped,omitempty"`
	// VolumesFetched is reported by the node of a pod with VolumeFrom once
	// every claim's data is copied to it; no container starts before the
	// FSM has moved the claims here in answer.
	VolumesFetched bool `json:"volumesFetched,omitempty"`
	// Resizing is set while the node has not applied the resources the
	// pod was admitted with (Kubernetes' PodResizeInProgress);
	// ResizeMessage says what holds it up (a memory limit below usage).
	Resizing      bool   `json:"resizing,omitempty"`
	ResizeMessage string `json:"resizeMessage,omitempty"`
}

// Clone returns a deep copy of s.
func (s PodStatus) Clone() PodStatus {
	c := s
	c.Containers = slices.Clone(s.Containers)
	return c
}

// ContainerState is Waiting, Running or Terminated.
type ContainerState string

// Container states.
const (
	ContainerWaiting    ContainerState = "Waiting"
	ContainerRunning    ContainerState = "Running"
	ContainerTerminated ContainerState = "Terminated"
)

// ContainerStatus is one container's observed state.
type ContainerStatus struct {
	Name  string         `json:"name"`
	State ContainerState `json:"state"`
	// Reason explains Waiting or Terminated: ContainerCreating,
	// ImagePullBackOff, CrashLoopBackOff, OOMKilled, Completed, Error.
	Reason       string    `json:"reason,omitempty"`
	Message      string    `json:"message,omitempty"`
	ExitCode     int32     `json:"exitCode,omitempty"`
	RestartCount int32     `json:"restartCount,omitempty"`
	Ready        bool      `json:"ready,omitempty"`
	StartedAt    time.Time `json:"startedAt"`
	FinishedAt   time.Time `json:"finishedAt"`
	// LastTermination is why the container last ended (e.g. OOMKilled),
	// kept after it restarts so describe can say so.
	LastTermination string `json:"lastTermination,omitempty"`
	LastExitCode    int32  `json:"lastExitCode,omitempty"`
	// LastMessage says more of the last termination (the failed probe's
	// or postStart hook's message), kept while the container waits to
	// restart.
	LastMessage string `json:"lastMessage,omitempty"`
	Image       string `json:"image,omitempty"`
	ContainerID string `json:"containerID,omitempty"`
	// Resources are the requests and limits applied to the running
	// container (its cgroup), which lag the spec while a resize is in
	// progress.
	Resources AppliedResources `json:"resources,omitzero"`
}

// AppliedResources are the requests and limits a container runs with.
type AppliedResources struct {
	Requests Resources `json:"requests,omitzero"`
	Limits   Resources `json:"limits,omitzero"`
}

func cloneTolerations(ts []Toleration) []Toleration {
	if ts == nil {
		return nil
	}
	out := slices.Clone(ts)
	for i := range out {
		out[i].TolerationSeconds = clonePtr(ts[i].TolerationSeconds)
	}
	return out
}
