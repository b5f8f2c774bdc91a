package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// labelStartedAt records when the container's current task started:
// containerd keeps no start time for a task.
const labelStartedAt = "io.shoal.started-at"

// cpuPeriod is the CFS period for CPU limits (the kernel's default, 100ms).
const cpuPeriod = 100000

// Generation is what LabelGeneration holds for container c of pod: the
// workload's template hash when there is one, else a hash of the container.
func Generation(pod *cluster.Pod, c cluster.Container) string {
	if pod.TemplateHash != "" {
		return pod.TemplateHash
	}
	b, _ := json.Marshal(struct {
		C       cluster.Container
		Volumes []cluster.Volume
	}{c, pod.Spec.Volumes})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// StartContainer creates container c of pod in the pod's sandbox and
// starts it. An existing container of the same generation gets a new task
// (its old, exited one is deleted); one of another generation is replaced.
// Starting a running container of the same generation is a no-op.
func (r *Runtime) StartContainer(ctx context.Context, pod *cluster.Pod, sb *rtapi.PodSandbox, c cluster.Container, attempt int) error {
	if err := r.startContainer(r.ctx(ctx), pod, sb, c, attempt); err != nil {
		return fmt.Errorf("start container %s of pod %s: %w", c.Name, pod.Key(), err)
	}
	return nil
}

func (r *Runtime) startContainer(ctx context.Context, pod *cluster.Pod, sb *rtapi.PodSandbox, c cluster.Container, attempt int) error {
	if err := validName(c.Name); err != nil {
		return err
	}
	if sb == nil || sb.NetNSPath == "" {
		return fmt.Errorf("%w: no sandbox", ErrInvalid)
	}
	if sharesPIDs(pod) {
		// Before every start, not only the first: a container restarted
		// after the pause process was replaced must join the new namespace.
		if _, err := r.sharedPIDNamespace(ctx, pod, sb); err != nil {
			return err
		}
	}
	id := ContainerID(pod.UID, c.Name)
	gen := Generation(pod, c)
	ctr, err := r.client.LoadContainer(ctx, id)
	switch {
	case errdefs.IsNotFound(err):
		ctr = nil
	case err != nil:
		return err
	default:
		labels, err := ctr.Labels(ctx)
		if err != nil {
			return err
		}
		if labels[LabelPodUID] != pod.UID {
			return fmt.Errorf("container ID %s is taken by pod %s/%s (%s)", id,
				labels[LabelPodNamespace], labels[LabelPodName], labels[LabelPodUID])
		}
		// A container of another generation is replaced; so is one
		// started with other resources than its OCI spec holds
		// (a restart for a resize, or after one made in place): every new
		// task takes its limits from that spec.
		if resized := labels[labelOCIResources] != "" && labels[labelOCIResources] != resourcesLabel(c); labels[LabelGeneration] != gen || resized {
			r.logger.Info("replacing container of an older generation or size", "pod", pod.Key(), "container", c.Name)
			if err := r.deleteContainer(ctx, ctr, r.grace(pod)); err != nil {
				return err
			}
			ctr = nil
			break
		}
		task, err := ctr.Task(ctx, nil)
		if err == nil {
			st, err := task.Status(ctx)
			if err != nil {
				return err
			}
			if st.Status == client.Running || st.Status == client.Paused {
				return nil
			}
			if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				return fmt.Errorf("delete old task: %w", err)
			}
		} else if !errdefs.IsNotFound(err) {
			return err
		}
		// The new task runs with the spec's resources, whatever an
		// in-place resize gave the last one.
		relabel := map[string]string{LabelAttempt: strconv.Itoa(attempt)}
		if spec, ok := labels[labelOCIResources]; ok {
			relabel[labelResources] = spec
		}
		if _, err := ctr.SetLabels(ctx, relabel); err != nil {
			return err
		}
	}
	if ctr == nil {
		if ctr, err = r.createContainer(ctx, pod, sb, c, id, gen, attempt); err != nil {
			return err
		}
	}
	r.setOOM(id, false)
	task, err := r.newTask(ctx, ctr, cio.LogFile(r.logPath(pod.UID, c.Name)))
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	if err := task.Start(ctx); err != nil {
		if _, derr := task.Delete(ctx, client.WithProcessKill); derr != nil {
			r.logger.Warn("delete task that failed to start", "id", id, "err", derr)
		}
		return fmt.Errorf("start task: %w", err)
	}
	if _, err := ctr.SetLabels(ctx, map[string]string{labelStartedAt: time.Now().UTC().Format(time.RFC3339Nano)}); err != nil {
		return err
	}
	r.logger.Debug("container started", "pod", pod.Key(), "container", c.Name, "attempt", attempt, "pid", task.Pid())
	return nil
}

func (r *Runtime) createContainer(ctx context.Context, pod *cluster.Pod, sb *rtapi.PodSandbox, c cluster.Container, id, gen string, attempt int) (client.Container, error) {
	policy := c.ImagePullPolicy
	if policy == PullAlways || policy == "" {
		// The reconciler pulls Always images before starting; here we
		// only make sure the image is there.
		policy = PullIfNotPresent
	}
	if err := r.pullImage(ctx, c.Image, policy, nil, false); err != nil {
		return nil, err
	}
	ref, _ := NormalizeImage(c.Image)
	img, err := r.image(ctx, ref)
	if err != nil {
		return nil, err
	}
	mounts, err := r.mounts(pod, c)
	if err != nil {
		return nil, err
	}
	hostname := pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
	}
	specOpts := []oci.SpecOpts{}
	if len(c.Command) > 0 {
		// Kubernetes: command replaces the entrypoint and drops the
		// image's cmd; args alone replace only the cmd.
		specOpts = append(specOpts, oci.WithImageConfig(img),
			oci.WithProcessArgs(append(append([]string{}, c.Command...), c.Args...)...))
	} else {
		specOpts = append(specOpts, oci.WithImageConfigArgs(img, c.Args))
	}
	if c.WorkingDir != "" {
		specOpts = append(specOpts, oci.WithProcessCwd(c.WorkingDir))
	}
	env, err := literalEnv(c)
	if err != nil {
		return nil, err
	}
	if len(env) > 0 {
		specOpts = append(specOpts, oci.WithEnv(env))
	}
	specOpts = append(specOpts,
		oci.WithHostname(hostname),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: sb.NetNSPath}),
		oci.WithMounts(mounts),
	)
	if sharesPIDs(pod) {
		// startContainer has mounted it.
		ns := filepath.Join(r.podDir(pod.UID), pidNSFile)
		specOpts = append(specOpts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.PIDNamespace, Path: ns}))
	}
	if isCgroup2() {
		// As the kubelet does on cgroup v2: the container sees its own
		// cgroup as the root.
		specOpts = append(specOpts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace}))
	}
	specOpts = append(specOpts, r.limits(c)...)
	sec, err := r.securityOpts(ctx, pod, c, img) // after the image config: its USER is the default
	if err != nil {
		return nil, err
	}
	specOpts = append(specOpts, sec...)
	// Last, so nothing after it can widen the devices; called for pods
	// without GPUs too, so that an image's NVIDIA_VISIBLE_DEVICES=all
	// cannot hand them every GPU.
	if r.cfg.GPUSpec != nil {
		specOpts = append(specOpts, r.cfg.GPUSpec(pod.GPUs))
	}

	labels := map[string]string{
		LabelPodUID:       pod.UID,
		LabelPodName:      pod.Name,
		LabelPodNamespace: pod.Namespace,
		LabelContainer:    c.Name,
		LabelGeneration:   gen,
		LabelAttempt:      strconv.Itoa(attempt),
		labelResources:    resourcesLabel(c),
		labelOCIResources: resourcesLabel(c),
	}
	return r.newContainer(ctx, id, ref, img, specOpts, labels)
}

// newContainer creates container id from img, with a fresh snapshot of it.
func (r *Runtime) newContainer(ctx context.Context, id, ref string, img client.Image, specOpts []oci.SpecOpts, labels map[string]string) (client.Container, error) {
	// A snapshot left by a create that crashed half-way would make
	// WithNewSnapshot fail forever.
	if err := r.client.SnapshotService(r.snapshotter()).Remove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		r.logger.Warn("remove stale snapshot", "id", id, "err", err)
	}
	opts := []client.NewContainerOpts{client.WithImage(img)}
	if r.cfg.Snapshotter != "" {
		opts = append(opts, client.WithSnapshotter(r.cfg.Snapshotter))
	}
	opts = append(opts,
		client.WithNewSnapshot(id, img),
		client.WithNewSpec(specOpts...),
		client.WithContainerLabels(labels),
	)
	ctr, err := r.client.NewContainer(ctx, id, opts...)
	if err != nil {
		if errdefs.IsNotFound(err) {
			// Its layers may be gone (a snapshot removed by hand): the
			// next start checks the image again rather than trust the
			// cache.
			r.images.forget(ref)
		}
		return nil, fmt.Errorf("create container: %w", err)
	}
	return ctr, nil
}

// literalEnv is c's environment as NAME=value. Values taken from
// ConfigMaps, Secrets and the pod (valueFrom, envFrom) must have been
// resolved by the caller (the node reconciler, agent/node/podconfig):
// an unresolved one would silently be empty.
func literalEnv(c cluster.Container) ([]string, error) {
	if len(c.EnvFrom) > 0 {
		return nil, fmt.Errorf("%w: container %s: envFrom not resolved", ErrInvalid, c.Name)
	}
	env := make([]string, 0, len(c.Env))
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			return nil, fmt.Errorf("%w: container %s: env %s: valueFrom not resolved", ErrInvalid, c.Name, e.Name)
		}
		env = append(env, e.Name+"="+e.Value)
	}
	return env, nil
}

func (r *Runtime) snapshotter() string {
	if r.cfg.Snapshotter != "" {
		return r.cfg.Snapshotter
	}
	return "overlayfs"
}

// limits turns Kubernetes requests/limits into cgroup settings.
func (r *Runtime) limits(c cluster.Container) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if c.Limits.Memory > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(c.Limits.Memory)))
	}
	if c.Limits.MilliCPU > 0 {
		quota := c.Limits.MilliCPU * cpuPeriod / 1000
		opts = append(opts, oci.WithCPUCFS(max(quota, 1000), cpuPeriod))
	}
	// Shares weigh CPU under contention by request, as the kubelet does;
	// a container with only a limit is treated as requesting it.
	if req := orElse(c.Requests.MilliCPU, c.Limits.MilliCPU); req > 0 {
		opts = append(opts, oci.WithCPUShares(uint64(max(req*1024/1000, 2))))
	}
	if r.cfg.PidsLimit > 0 {
		opts = append(opts, oci.WithPidsLimit(r.cfg.PidsLimit))
	}
	return opts
}

// mounts builds the container's mounts: its volume mounts and the pod's
// generated /etc files. A subPath is resolved inside its volume and pinned
// by a bind mount (subpath.go); the binds of the container's previous
// incarnation are undone first, and those made here are undone on error.
func (r *Runtime) mounts(pod *cluster.Pod, c cluster.Container) (_ []specs.Mount, err error) {
	dir := r.podDir(pod.UID)
	if err := r.unpinContainerSubPaths(pod.UID, c.Name); err != nil {
		return nil, err
	}
	defer func() {
		if err == nil {
			return
		}
		if uerr := r.unpinContainerSubPaths(pod.UID, c.Name); uerr != nil {
			r.logger.Warn("undo subPath mounts", "pod", pod.Key(), "err", uerr)
		}
	}()
	out := []specs.Mount{
		bindMount(filepath.Join(dir, "hosts"), "/etc/hosts", false),
		bindMount(filepath.Join(dir, "resolv.conf"), "/etc/resolv.conf", false),
		bindMount(filepath.Join(dir, "hostname"), "/etc/hostname", false),
		// Read-only cgroupfs, as Kubernetes gives it: runtimes size their
		// heaps and thread pools from the container's limits.
		{
			Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
			Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"},
		},
	}
	vols := map[string]cluster.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	for i, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("%w: volume mount %s: no volume of that name", ErrInvalid, m.Name)
		}
		if !filepath.IsAbs(m.MountPath) {
			return nil, fmt.Errorf("%w: mount path %q is not absolute", ErrInvalid, m.MountPath)
		}
		src, err := r.volumeSource(pod, c.Name, i, v, m)
		if err != nil {
			return nil, err
		}
		// Config volumes are the agent's to write: read-only, as
		// Kubernetes mounts them whatever readOnly says.
		out = append(out, bindMount(src, m.MountPath, m.ReadOnly || v.Config()))
	}
	return out, nil
}

func isCgroup2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

func bindMount(src, dst string, ro bool) specs.Mount {
	opts := []string{"rbind", "rprivate"}
	if ro {
		opts = append(opts, "ro")
	} else {
		opts = append(opts, "rw")
	}
	return specs.Mount{Type: "bind", Source: src, Destination: dst, Options: opts}
}

// StopContainer sends SIGTERM to the container's main process, waits up to
// grace, then kills every process in it, and returns once they are gone.
// The exited task is kept so ListPods still reports its exit code; the
// next StartContainer or RemovePod deletes it.
func (r *Runtime) StopContainer(ctx context.Context, podUID, container string, grace time.Duration) error {
	ctx = r.ctx(ctx)
	ctr, err := r.client.LoadContainer(ctx, ContainerID(podUID, container))
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err == nil {
		err = r.stop(ctx, ctr, grace)
	}
	if err != nil {
		return fmt.Errorf("stop container %s of pod %s: %w", container, podUID, err)
	}
	return nil
}

func (r *Runtime) stop(ctx context.Context, ctr client.Container, grace time.Duration) error {
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	st, err := task.Status(ctx)
	if err != nil {
		return err
	}
	if st.Status == client.Stopped || st.Status == client.Created {
		if st.Status == client.Created {
			_, err = task.Delete(ctx, client.WithProcessKill)
		}
		return err
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		return err
	}
	if grace > 0 {
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("SIGTERM: %w", err)
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-exited:
			return nil
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("SIGKILL: %w", err)
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// deleteContainer stops the container and deletes its task, the container
// and its snapshot.
func (r *Runtime) deleteContainer(ctx context.Context, ctr client.Container, grace time.Duration) error {
	if err := r.stop(ctx, ctr, grace); err != nil {
		return err
	}
	if task, err := ctr.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task: %w", err)
		}
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container: %w", err)
	}
	r.setOOM(ctr.ID(), false)
	return nil
}

// sharesPIDs reports whether the pod's containers share a PID namespace
// of their own (with hostPID they share the node's).
func sharesPIDs(pod *cluster.Pod) bool {
	return pod.Spec.ShareProcessNamespace && !pod.Spec.HostPID
}

func (r *Runtime) grace(pod *cluster.Pod) time.Duration {
	if s := pod.Spec.TerminationGracePeriodSeconds; s > 0 {
		return time.Duration(s) * time.Second
	}
	return 30 * time.Second
}

// RemovePod stops every container of the pod (in parallel, each with
// grace), deletes them, tears the network down and removes the pod's
// directory. StatefulSet claim volumes are kept.
func (r *Runtime) RemovePod(ctx context.Context, podUID string, grace time.Duration) error {
	if err := validName(podUID); err != nil {
		return fmt.Errorf("remove pod %s: %w", podUID, err)
	}
	ctx = r.ctx(ctx)
	ctrs, err := r.client.Containers(ctx, fmt.Sprintf("labels.%q==%q", LabelPodUID, podUID))
	if err != nil {
		return fmt.Errorf("remove pod %s: list containers: %w", podUID, err)
	}
	// The pause container goes last and at once: killing it first would
	// kill every process of the shared PID namespace without its grace
	// period, and as the namespace's init it ignores SIGTERM anyway.
	var pause []client.Container
	ctrs = slices.DeleteFunc(ctrs, func(c client.Container) bool {
		l, err := c.Labels(ctx)
		if err == nil && isPause(l) {
			pause = append(pause, c)
			return true
		}
		return false
	})
	errs := make([]error, len(ctrs))
	var wg sync.WaitGroup
	for i, ctr := range ctrs {
		wg.Go(func() { errs[i] = r.deleteContainer(ctx, ctr, grace) })
	}
	wg.Wait()
	for _, ctr := range pause {
		errs = append(errs, r.deleteContainer(ctx, ctr, 0))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove pod %s: %w", podUID, err)
	}
	if err := r.removeSandbox(ctx, podUID); err != nil {
		return fmt.Errorf("remove pod %s: %w", podUID, err)
	}
	return nil
}

// newTask creates ctr's task. containerd keeps listing the task of a shim
// that died (a power cut, a killed shim) while answering Task() with "not
// found" for it, so the old task is never deleted and every new one is
// refused as "already exists", for good (the fault suite found a
// StatefulSet pod stuck so). Deleting it through the task service drops
// it from containerd's list and the shim's bundle; the creation is then
// tried once more.
func (r *Runtime) newTask(ctx context.Context, ctr client.Container, ioc cio.Creator) (client.Task, error) {
	task, err := ctr.NewTask(ctx, ioc)
	if !errdefs.IsAlreadyExists(err) {
		return task, err
	}
	r.logger.Warn("removing the stale task of a dead shim", "id", ctr.ID())
	if _, derr := r.client.TaskService().Delete(ctx, &tasks.DeleteTaskRequest{ContainerID: ctr.ID()}); derr != nil {
		r.logger.Warn("delete stale task", "id", ctr.ID(), "err", derr)
	}
	return ctr.NewTask(ctx, ioc)
}
