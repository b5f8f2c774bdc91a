package node

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"shoal/cluster"
)

// Container lifecycle hooks, as the kubelet runs them:
//
//   - postStart runs right after the container starts, on the worker's
//     goroutine: the container is reported Waiting (ContainerCreating)
//     until it returns, and a failure stops the container (reason
//     FailedPostStartHook), which then restarts under the pod's policy
//     like a crash;
//   - preStop runs before a running container is sent SIGTERM, bounded by
//     the grace period, which it uses up: SIGTERM comes with what is left,
//     at least minStopGrace (the kubelet's minimum), then SIGKILL.
//
// A hook that fails is not retried. tcpSocket hooks are accepted by the
// API but, as in Kubernetes, never run: a postStart one fails. No preStop
// hook runs for an evicted pod (the kubelet evicts with no grace period)
// nor for a fenced stop, whose short grace keeps the fencing promise.

// reasonPostStartHook is the last termination of a container stopped
// because its postStart hook failed (the kubelet's event reason).
const reasonPostStartHook = "FailedPostStartHook"

// minStopGrace is what a container gets between SIGTERM and SIGKILL after
// a preStop hook used up its grace period (the kubelet's
// minimumGracePeriodInSeconds).
const minStopGrace = 2 * time.Second

// hookRunner runs the hooks of one pod's containers.
type hookRunner struct {
	rt     Runtime
	podUID string
	podKey string // namespace/name, for messages
	podIP  string
}

// run runs hook h (postStart or preStop) of container c until it ends or
// ctx does: true, or false and why, in the kubelet's words.
func (hr hookRunner) run(ctx context.Context, c cluster.Container, h *cluster.LifecycleHandler) (bool, string) {
	where := fmt.Sprintf("for Container %q in Pod %q", c.Name, hr.podKey)
	switch {
	case len(h.Exec) > 0:
		var out limitedBuffer
		res, err := hr.rt.Exec(ctx, hr.podUID, c.Name, h.Exec, nil, &out, &out)
		switch {
		case err == nil && res.ExitCode == 0:
			return true, ""
		case err == nil:
			err = fmt.Errorf("command '%s' exited with %d", strings.Join(h.Exec, " "), res.ExitCode)
		case ctx.Err() != nil:
			err = ctx.Err()
		}
		return false, fmt.Sprintf("Exec lifecycle hook (%v) %s failed - error: %v, message: %q", h.Exec, where, err, strings.TrimSpace(out.String()))
	case h.HTTPGet != nil:
		port, err := containerPort(c, h.HTTPGet.Port, h.HTTPGet.PortName)
		if err == nil {
			// Any answer will do: the kubelet does not look at the status.
			_, err = httpGet(ctx, h.HTTPGet, hr.podIP, port, 0, true)
		}
		if err != nil {
			return false, fmt.Sprintf("HTTP lifecycle hook (%s) %s failed - error: %v", h.HTTPGet.Path, where, err)
		}
		return true, ""
	case h.Sleep != nil:
		t := time.NewTimer(time.Duration(h.Sleep.Seconds) * time.Second)
		defer t.Stop()
		select {
		case <-t.C:
			return true, ""
		case <-ctx.Done():
			return false, fmt.Sprintf("Sleep lifecycle hook (%d) %s failed - error: container terminated before sleep hook finished", h.Sleep.Seconds, where)
		}
	case h.TCPSocket != nil:
		return false, fmt.Sprintf("Cannot run handler %s: tcpSocket is not a lifecycle action the kubelet runs", where)
	}
	return false, "Cannot run handler " + where + ": no action"
}

func postStartOf(c cluster.Container) *cluster.LifecycleHandler {
	if c.Lifecycle == nil {
		return nil
	}
	return c.Lifecycle.PostStart
}

func preStopOf(c cluster.Container) *cluster.LifecycleHandler {
	if c.Lifecycle == nil {
		return nil
	}
	return c.Lifecycle.PreStop
}

// hooks runs the hooks of the worker's pod.
func (w *worker) hooks(pod *cluster.Pod) hookRunner {
	hr := hookRunner{rt: w.r.cfg.Runtime, podUID: w.uid, podKey: pod.Key()}
	if w.mem.sandbox != nil {
		hr.podIP = w.mem.sandbox.IP
	}
	return hr
}

// postStart runs c's postStart hook, which has no time limit but is cut
// short when the pod is to stop (see setPod), and returns why it failed,
// or "" (a hook cut short did not fail: the pod is going anyway).
func (w *worker) postStart(ctx context.Context, log *slog.Logger, pod *cluster.Pod, c cluster.Container) string {
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.mu.Lock()
	stopping := w.pod == nil || w.pod.Terminating
	w.hookCancel = cancel
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.hookCancel = nil
		w.mu.Unlock()
	}()
	if stopping {
		return ""
	}
	ok, msg := w.hooks(pod).run(hctx, c, postStartOf(c))
	if ok || hctx.Err() != nil {
		return ""
	}
	log.Warn("postStart hook failed: stopping the container", "pod", pod.Key(), "container", c.Name, "err", msg)
	return msg
}

// preStop runs c's preStop hook within grace and returns what is left of
// grace for SIGTERM (at least minStopGrace). A failed hook is logged and
// the stop goes on, as in Kubernetes.
func (w *worker) preStop(ctx context.Context, log *slog.Logger, pod *cluster.Pod, c cluster.Container, grace time.Duration) time.Duration {
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	if ok, msg := w.hooks(pod).run(hctx, c, preStopOf(c)); !ok && ctx.Err() == nil {
		log.Warn("preStop hook failed", "pod", pod.Key(), "container", c.Name, "err", msg)
	}
	return max(grace-time.Since(start), minStopGrace)
}

// stopAll stops a pod's running containers at once, each after its
// preStop hook: a container without one gets SIGTERM right away, not after
// the others' hooks. RemovePod, which follows, finds them stopped (or
// stops what failed to).
func (w *worker) stopAll(ctx context.Context, log *slog.Logger, pod *cluster.Pod, running []cluster.Container, grace time.Duration) {
	var wg sync.WaitGroup
	for _, c := range running {
		wg.Go(func() {
			g := grace
			if preStopOf(c) != nil {
				g = w.preStop(ctx, log, pod, c, grace)
			}
			if err := w.r.cfg.Runtime.StopContainer(ctx, w.uid, c.Name, g); err != nil && ctx.Err() == nil {
				log.Warn("stopping container before removal", "pod", pod.Key(), "container", c.Name, "err", err)
			}
		})
	}
	wg.Wait()
}
