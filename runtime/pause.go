package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// A pod with shareProcessNamespace gets a pause container (see
// pausebin.go) whose PID namespace its containers join. The namespace is
// bind-mounted at pods/<uid>/pidns, like the network namespace at
// NetNSDir, so that containers name a path that stays valid: a container
// restarted after the pause process was replaced joins the new namespace.
const (
	// pauseContainer is the pause container's name in its ID; a
	// container name is a DNS label, so no container of the pod has it.
	pauseContainer = "pause.shoal"
	// LabelPause marks the pause container, which ListPods and Events
	// leave out: it is the sandbox's, not one of the pod's containers.
	LabelPause = "io.shoal.pause"
	pidNSFile  = "pidns"
	// pauseUID runs the pause process as nobody, as Kubernetes' does.
	pauseUID = 65535
)

// sharedPIDNamespace makes sure the pod's pause process runs and its PID
// namespace is mounted at the pod's pidns file, and returns that path.
func (r *Runtime) sharedPIDNamespace(ctx context.Context, pod *cluster.Pod, sb *rtapi.PodSandbox) (string, error) {
	pid, err := r.ensurePause(ctx, pod, sb)
	if err != nil {
		return "", fmt.Errorf("pause container: %w", err)
	}
	path := filepath.Join(r.podDir(pod.UID), pidNSFile)
	if err := bindNamespace(fmt.Sprintf("/proc/%d/ns/pid", pid), path); err != nil {
		return "", fmt.Errorf("mount the pod's PID namespace: %w", err)
	}
	return path, nil
}

// ensurePause starts the pod's pause container if it is not running and
// returns its process ID.
func (r *Runtime) ensurePause(ctx context.Context, pod *cluster.Pod, sb *rtapi.PodSandbox) (uint32, error) {
	id := ContainerID(pod.UID, pauseContainer)
	ctr, err := r.client.LoadContainer(ctx, id)
	switch {
	case errdefs.IsNotFound(err):
		if ctr, err = r.createPause(ctx, pod, sb, id); err != nil {
			return 0, err
		}
	case err != nil:
		return 0, err
	}
	task, err := ctr.Task(ctx, nil)
	switch {
	case err == nil:
		st, err := task.Status(ctx)
		if err != nil {
			return 0, err
		}
		if st.Status == client.Running {
			return task.Pid(), nil
		}
		// Gone, and the namespace with it (the kernel killed every
		// process in it): start a new one.
		r.logger.Warn("pause process not running, starting it again", "pod", pod.Key(), "status", st.Status)
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return 0, fmt.Errorf("delete old task: %w", err)
		}
	case !errdefs.IsNotFound(err):
		return 0, err
	}
	task, err = r.newTask(ctx, ctr, cio.NullIO)
	if err != nil {
		return 0, fmt.Errorf("create task: %w", err)
	}
	if err := task.Start(ctx); err != nil {
		if _, derr := task.Delete(ctx, client.WithProcessKill); derr != nil {
			r.logger.Warn("delete pause task that failed to start", "id", id, "err", derr)
		}
		return 0, fmt.Errorf("start task: %w", err)
	}
	return task.Pid(), nil
}

// createPause creates the pause container: the pause program alone in a
// read-only root under the pod's directory, in the pod's network
// namespace, as an unprivileged user without capabilities.
func (r *Runtime) createPause(ctx context.Context, pod *cluster.Pod, sb *rtapi.PodSandbox, id string) (client.Container, error) {
	bin, err := pauseBinary(goruntime.GOARCH)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	root := filepath.Join(r.podDir(pod.UID), "pause")
	// Mount points for what runc mounts, made now: the root is read-only.
	for _, d := range []string{"proc", "dev", "sys", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(root, "pause"), bin, 0o755); err != nil {
		return nil, err
	}
	ro := true
	confine, err := r.confineOpts(cluster.SecurityContext{
		ReadOnlyRootFilesystem: &ro,
		Capabilities:           &cluster.Capabilities{Drop: []string{"ALL"}},
	})
	if err != nil {
		return nil, err
	}
	hostname := pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
	}
	opts := append([]oci.SpecOpts{
		oci.WithRootFSPath(root),
		oci.WithProcessArgs("/pause"),
		oci.WithProcessCwd("/"),
		oci.WithHostname(hostname),
		oci.WithUIDGID(pauseUID, pauseUID),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: sb.NetNSPath}),
	}, confine...)
	labels := map[string]string{
		LabelPodUID:       pod.UID,
		LabelPodName:      pod.Name,
		LabelPodNamespace: pod.Namespace,
		LabelPause:        "true",
	}
	ctr, err := r.client.NewContainer(ctx, id, client.WithNewSpec(opts...), client.WithContainerLabels(labels))
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	return ctr, nil
}

// bindNamespace bind-mounts namespace file ns at path, replacing what is
// mounted there unless it is that namespace already.
func bindNamespace(ns, path string) error {
	var want, have unix.Stat_t
	if err := unix.Stat(ns, &want); err != nil {
		return err
	}
	if err := unix.Stat(path, &have); err == nil && have.Dev == want.Dev && have.Ino == want.Ino {
		return nil
	}
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o444)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if f != nil {
		f.Close()
	}
	if err := unix.Mount(ns, path, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount %s: %w", ns, err)
	}
	return nil
}

// isPause reports whether a container's labels are the pause container's.
func isPause(labels map[string]string) bool { return labels[LabelPause] != "" }
