package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"shoal/runtime/rtapi"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
)

// ListPods returns every pod this runtime holds: those with containers
// (found by label) and those with only a sandbox left on disk.
func (r *Runtime) ListPods(ctx context.Context) ([]rtapi.PodState, error) {
	pods, err := r.listPods(r.ctx(ctx))
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	return pods, nil
}

func (r *Runtime) listPods(ctx context.Context) ([]rtapi.PodState, error) {
	ctrs, err := r.client.Containers(ctx, fmt.Sprintf("labels.%q", LabelPodUID))
	if err != nil {
		return nil, err
	}
	statuses, err := r.taskStatuses(ctx)
	if err != nil {
		return nil, err
	}
	ps := podStates{}
	if err := r.addContainers(ctx, ps, ctrs, statuses); err != nil {
		return nil, err
	}
	// Sandboxes without containers: a pod whose containers were never
	// created, or that an interrupted RemovePod left behind.
	entries, err := os.ReadDir(filepath.Join(r.cfg.DataDir, "pods"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() {
			ps.pod(e.Name())
		}
	}
	return r.finishPods(ps), nil
}

// PodState returns what ListPods would show of one pod, nil when the
// runtime holds nothing of it; it asks containerd about that pod's
// containers only, so a pod that just changed sees it at once, whatever
// the node runs.
func (r *Runtime) PodState(ctx context.Context, uid string) (*rtapi.PodState, error) {
	st, err := r.podState(r.ctx(ctx), uid)
	if err != nil {
		return nil, fmt.Errorf("state of pod %s: %w", uid, err)
	}
	return st, nil
}

func (r *Runtime) podState(ctx context.Context, uid string) (*rtapi.PodState, error) {
	if err := validName(uid); err != nil {
		return nil, err
	}
	ctrs, err := r.client.Containers(ctx, fmt.Sprintf("labels.%q==%q", LabelPodUID, uid))
	if err != nil {
		return nil, err
	}
	ps := podStates{}
	if err := r.addContainers(ctx, ps, ctrs, nil); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(r.podDir(uid)); err == nil && fi.IsDir() {
		ps.pod(uid)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	out := r.finishPods(ps)
	for i := range out {
		if out[i].UID == uid {
			return &out[i], nil
		}
	}
	return nil, nil
}

// podStates gathers a listing's pods by UID.
type podStates map[string]*rtapi.PodState

func (ps podStates) pod(uid string) *rtapi.PodState {
	p, ok := ps[uid]
	if !ok {
		p = &rtapi.PodState{UID: uid}
		ps[uid] = p
	}
	return p
}

// addContainers adds ctrs to their pods; statuses are their tasks' as
// listed (nil: each asked for on its own).
func (r *Runtime) addContainers(ctx context.Context, ps podStates, ctrs []client.Container, statuses map[string]client.Status) error {
	for _, ctr := range ctrs {
		info, err := ctr.Info(ctx, client.WithoutRefreshedMetadata)
		if err != nil {
			return err
		}
		l := info.Labels
		p := ps.pod(l[LabelPodUID])
		p.Namespace, p.Name = l[LabelPodNamespace], l[LabelPodName]
		if isPause(l) {
			continue // the sandbox's, not a container of the pod
		}
		cs, err := r.containerState(ctx, ctr, l, info.Image, statuses)
		if err != nil {
			if errdefs.IsNotFound(err) {
				continue // deleted while we looked
			}
			return err
		}
		p.Containers = append(p.Containers, cs)
	}
	return nil
}

// finishPods adds each pod's sandbox from its record and sorts pods and
// containers.
func (r *Runtime) finishPods(ps podStates) []rtapi.PodState {
	out := make([]rtapi.PodState, 0, len(ps))
	for uid, p := range ps {
		if rec, err := r.readRecord(uid); err == nil {
			p.Namespace, p.Name = rec.Namespace, rec.Name
			// A record without an IP is a sandbox whose network setup
			// failed half-way: not a sandbox containers may join.
			if rec.IP != "" && isNetNS(rec.NetNSPath) {
				p.Sandbox = r.sandbox(rec)
			}
		}
		slices.SortFunc(p.Containers, func(a, b rtapi.ContainerState) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b rtapi.PodState) int {
		return strings.Compare(a.Namespace+"/"+a.Name+"/"+a.UID, b.Namespace+"/"+b.Name+"/"+b.UID)
	})
	return out
}

// taskStatuses is the status of every task in the namespace, by container
// ID, from one Tasks.List: a listing then costs two calls to containerd
// however many containers there are, not two per container.
func (r *Runtime) taskStatuses(ctx context.Context) (map[string]client.Status, error) {
	resp, err := r.client.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", errgrpc.ToNative(err))
	}
	out := make(map[string]client.Status, len(resp.Tasks))
	for _, t := range resp.Tasks {
		out[t.ID] = client.Status{
			// As client.Task.Status spells it.
			Status:     client.ProcessStatus(strings.ToLower(t.Status.String())),
			ExitStatus: t.ExitStatus,
			ExitTime:   protobuf.FromTimestamp(t.ExitedAt),
		}
	}
	return out, nil
}

// containerState reads one container's state; its task's status comes
// from listed when there (see taskStatuses), else from containerd: a task
// Tasks.List left out (its shim did not answer in time, or it was created
// since) is asked for on its own, so that an error is an error, not a
// container that looks never started.
func (r *Runtime) containerState(ctx context.Context, ctr client.Container, l map[string]string, image string, listed map[string]client.Status) (rtapi.ContainerState, error) {
	cs := rtapi.ContainerState{
		Name:       l[LabelContainer],
		ID:         ctr.ID(),
		Generation: l[LabelGeneration],
		Image:      image,
		Resources:  appliedResources(l),
	}
	cs.Attempt, _ = strconv.Atoi(l[LabelAttempt])
	if t, err := time.Parse(time.RFC3339Nano, l[labelStartedAt]); err == nil {
		cs.StartedAt = t
	}
	st, ok := listed[ctr.ID()]
	if !ok {
		task, err := ctr.Task(ctx, nil)
		if errdefs.IsNotFound(err) {
			return cs, nil // created, never started (or its task was deleted)
		}
		if err != nil {
			return cs, err
		}
		if st, err = task.Status(ctx); err != nil {
			return cs, err
		}
	}
	switch st.Status {
	case client.Running, client.Paused, client.Pausing:
		cs.Running = true
	case client.Stopped:
		cs.Exited = true
		cs.ExitCode = int32(st.ExitStatus)
		cs.FinishedAt = st.ExitTime
		// The shim's OOM event may have been missed (agent down); the
		// cgroup's counter survives until the task is deleted.
		cs.OOMKilled = r.oomSeen(ctr.ID()) || cgroupOOMKilled("/"+r.cfg.Namespace+"/"+ctr.ID())
	}
	return cs, nil
}

// cgroupOOMKilled reads the oom_kill counter of a container's memory
// cgroup, on cgroup v2 (memory.events) or v1 (memory.oom_control).
func cgroupOOMKilled(cgroupPath string) bool {
	for _, f := range []string{
		filepath.Join("/sys/fs/cgroup", cgroupPath, "memory.events"),
		filepath.Join("/sys/fs/cgroup/memory", cgroupPath, "memory.oom_control"),
	} {
		if n, ok := readCounter(f, "oom_kill"); ok {
			return n > 0
		}
	}
	return false
}

func readCounter(path, key string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func (r *Runtime) setOOM(id string, v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v {
		r.oomd[id] = true
	} else {
		delete(r.oomd, id)
	}
}

func (r *Runtime) oomSeen(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.oomd[id]
}

const (
	topicTaskExit = "/tasks/exit"
	topicTaskOOM  = "/tasks/oom"
)

// watchOOM remembers which containers' tasks were OOM-killed, so ListPods
// can say so after the task exited.
func (r *Runtime) watchOOM(ctx context.Context) {
	defer close(r.done)
	r.subscribe(ctx, []string{topicTaskOOM}, func(id string, _ bool) {
		r.setOOM(id, true)
	})
}

// subscribe calls fn for each task event of this namespace's containers'
// main processes (id is the container ID; oom tells an OOM event from an
// exit), resubscribing when containerd restarts, until ctx ends.
func (r *Runtime) subscribe(ctx context.Context, topics []string, fn func(id string, oom bool)) {
	filters := make([]string, len(topics))
	for i, t := range topics {
		filters[i] = fmt.Sprintf("topic==%q,namespace==%q", t, r.cfg.Namespace)
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		envs, errs := r.client.EventService().Subscribe(ctx, filters...)
		err := r.consume(ctx, envs, errs, fn)
		if ctx.Err() != nil {
			return
		}
		r.logger.Warn("containerd event stream ended; resubscribing", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (r *Runtime) consume(ctx context.Context, envs <-chan *events.Envelope, errs <-chan error, fn func(string, bool)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case env, ok := <-envs:
			if !ok {
				return errors.New("event channel closed")
			}
			if env.Namespace != r.cfg.Namespace || env.Event == nil {
				continue
			}
			ev, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				continue
			}
			switch e := ev.(type) {
			case *apievents.TaskExit:
				// Exec'd processes exit too; only the main one matters.
				if e.ID == e.ContainerID {
					fn(e.ContainerID, false)
				}
			case *apievents.TaskOOM:
				fn(e.ContainerID, true)
			}
		}
	}
}

// Events delivers container exits and OOM kills of this runtime's pods
// until ctx ends, then closes the channel.
func (r *Runtime) Events(ctx context.Context) <-chan rtapi.Event {
	out := make(chan rtapi.Event, 64)
	var cache sync.Map // container ID → rtapi.Event
	go func() {
		defer close(out)
		r.subscribe(ctx, []string{topicTaskExit, topicTaskOOM}, func(id string, _ bool) {
			ev, ok := cache.Load(id)
			if !ok {
				ctr, err := r.client.LoadContainer(r.ctx(ctx), id)
				if err != nil {
					return
				}
				l, err := ctr.Labels(r.ctx(ctx))
				if err != nil || l[LabelPodUID] == "" || isPause(l) {
					return
				}
				ev = rtapi.Event{PodUID: l[LabelPodUID], Container: l[LabelContainer]}
				cache.Store(id, ev)
			}
			select {
			case out <- ev.(rtapi.Event):
			case <-ctx.Done():
			}
		})
	}()
	return out
}
