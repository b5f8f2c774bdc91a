package node

import (
	"context"
	"io"
	"time"

	"shoal/cluster"
	"shoal/pullauth"
	"shoal/runtime/rtapi"
)

// Runtime is what the node reconciler needs from the container runtime;
// *runtime.Runtime (containerd) implements it, tests use a fake.
type Runtime interface {
	// EnsureSandbox creates the pod's network namespace (CNI: one IP for
	// all its containers), its directories and volumes, or returns the
	// existing ones. It is idempotent.
	EnsureSandbox(ctx context.Context, pod *cluster.Pod) (*rtapi.PodSandbox, error)
	// PullImage makes image available locally, honouring policy
	// (Always, IfNotPresent, Never); creds are tried in order, none
	// meaning an anonymous pull.
	PullImage(ctx context.Context, image, policy string, creds ...pullauth.Credential) error
	// StartContainer creates (or recreates, when its generation changed or
	// it exited) container c of pod and starts it; attempt is recorded.
	StartContainer(ctx context.Context, pod *cluster.Pod, sb *rtapi.PodSandbox, c cluster.Container, attempt int) error
	// WriteVolume makes pod's configMap, secret, downwardAPI or projected
	// volume show files, replacing what it showed in one step (a reader
	// never sees a mix of two versions); it writes nothing when they are
	// what it shows already. The pod's sandbox exists.
	WriteVolume(ctx context.Context, pod *cluster.Pod, volume string, files []rtapi.VolumeFile) error
	// UpdateResources applies c's cpu and memory requests and limits to
	// its running container in place (an in-place resize) and records them
	// as applied; a memory limit below the container's usage is refused
	// with *rtapi.ResizeBelowUsageError.
	UpdateResources(ctx context.Context, podUID string, c cluster.Container) error
	// StopContainer sends SIGTERM, waits up to grace, then SIGKILL; it
	// returns once the task is gone. Stopping a stopped container is a no-op.
	StopContainer(ctx context.Context, podUID, container string, grace time.Duration) error
	// RemovePod stops every container (grace, then kill), deletes them,
	// tears the network down and removes the pod's directory (never its
	// StatefulSet claim volumes).
	RemovePod(ctx context.Context, podUID string, grace time.Duration) error
	// ListPods returns every pod this runtime holds, found by labels.
	ListPods(ctx context.Context) ([]rtapi.PodState, error)
	// PodState returns what ListPods would show of one pod (nil: the
	// runtime holds nothing of it), at a cost that does not grow with the
	// pods on the node.
	PodState(ctx context.Context, podUID string) (*rtapi.PodState, error)
	// Exec runs cmd in a container, streaming its output; the exit code is
	// in the result.
	Exec(ctx context.Context, podUID, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (rtapi.ExecResult, error)
	// PodStorage measures the local ephemeral storage pod uses: its
	// containers' writable layers and logs, its emptyDirs on disk.
	PodStorage(ctx context.Context, pod *cluster.Pod) (rtapi.PodStorage, error)
	// Events delivers container exits and OOM kills until ctx ends.
	Events(ctx context.Context) <-chan rtapi.Event
}
