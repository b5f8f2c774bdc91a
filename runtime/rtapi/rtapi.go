// Package rtapi holds the container runtime's data types: what the node
// reconciler, the API and their tests exchange with the runtime. It imports
// no containerd code, so fakes and clients need not link the containerd
// client.
package rtapi

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"shoal/cluster"
)

// PodSandbox is a pod's network namespace and directories, shared by all its
// containers.
type PodSandbox struct {
	UID       string
	NetNSPath string
	IP        string
	// Dir is the pod's directory under the data dir (emptyDirs, logs,
	// resolv.conf, hosts).
	Dir string
}

// ContainerState is what containerd says about one container of a pod.
type ContainerState struct {
	Name string
	// ID is the containerd container ID.
	ID string
	// Generation is the LabelGeneration it was created with.
	Generation string
	// Attempt is how many times it has been started (1 after the first).
	Attempt int
	// Running: a task exists and runs. Otherwise, if Exited, ExitCode,
	// FinishedAt and OOMKilled say how it ended; neither means created but
	// never started.
	Running    bool
	Exited     bool
	ExitCode   int32
	OOMKilled  bool
	StartedAt  time.Time
	FinishedAt time.Time
	Image      string
	// Resources are the requests and limits applied to it (at creation
	// or by an in-place resize); nil when unknown (a container created
	// before Shoal recorded them).
	Resources *cluster.AppliedResources
}

// ResizeBelowUsageError refuses an in-place resize whose memory limit is
// below what the container uses, as the kubelet does: the resize waits,
// and is retried.
type ResizeBelowUsageError struct {
	Limit, Usage int64
}

func (e *ResizeBelowUsageError) Error() string {
	return fmt.Sprintf("attempting to set the memory limit (%s) below current usage (%d bytes)",
		cluster.FormatBytes(e.Limit), e.Usage)
}

// PodState is what containerd holds for one pod, found by labels.
type PodState struct {
	UID        string
	Namespace  string
	Name       string
	Sandbox    *PodSandbox // nil when the network namespace is gone
	Containers []ContainerState
}

// Event tells the node reconciler that something happened to a pod's
// container (it exited, was OOM-killed), so it need not wait for a poll.
type Event struct {
	PodUID    string
	Container string
}

// ExecResult is what a command run inside a container returned.
type ExecResult struct {
	ExitCode int
}

// ErrRuntimeUnresponsive matches (errors.Is) an exec that never started its
// command because the runtime did not answer in time (a hung or restarting
// containerd). Nothing is known about the container then: a probe that
// fails this way counts neither way, as the kubelet drops a probe whose
// runtime call failed.
var ErrRuntimeUnresponsive = errors.New("the container runtime did not answer")

// ErrCreateConfig matches (errors.Is) a ConfigError: the container cannot
// be created as its spec asks. The node reconciler reports it as waiting
// reason CreateContainerConfigError and retries with back-off, as the
// kubelet does.
var ErrCreateConfig = errors.New("CreateContainerConfigError")

// ConfigError says why a container's configuration cannot be honoured:
// runAsNonRoot with an image that runs as root, a seccomp profile that
// cannot be read, an unknown capability. Message is what the container's
// status shows.
type ConfigError struct {
	Message string
}

func (e *ConfigError) Error() string { return e.Message }

// Is makes errors.Is(err, ErrCreateConfig) hold for any ConfigError.
func (e *ConfigError) Is(target error) bool { return target == ErrCreateConfig }

// PodStorage is a pod's use of the node's local ephemeral storage, in
// bytes, as the kubelet counts it for eviction.
type PodStorage struct {
	// Containers holds, per container name, its writable layer and its
	// logs.
	Containers map[string]ContainerStorage
	// EmptyDirs holds, per volume name, what a disk-backed emptyDir holds
	// (a Memory one counts against memory, not here).
	EmptyDirs map[string]int64
}

// ContainerStorage is one container's share of a PodStorage.
type ContainerStorage struct {
	// RootFS is the container's writable layer (the snapshotter's usage
	// of its snapshot): what it wrote outside its volumes.
	RootFS int64
	Logs   int64
}

// Total is everything the pod uses: writable layers, logs and emptyDirs.
func (s PodStorage) Total() int64 {
	var n int64
	for _, c := range s.Containers {
		n += c.RootFS + c.Logs
	}
	for _, b := range s.EmptyDirs {
		n += b
	}
	return n
}

// VolumeFile is one file of a configMap, secret, downwardAPI or projected
// volume, as the node reconciler resolved it: a slash-separated path
// relative to the volume, its content and its permission bits.
type VolumeFile struct {
	Path string
	Data []byte
	Mode fs.FileMode
}
