package node

import (
	"context"
	"fmt"
	"time"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// Local storage eviction, as the kubelet's eviction manager does it: every
// EvictionInterval the node measures what each running pod with a storage
// limit holds on disk (its containers' writable layers, their logs, its
// emptyDirs on disk) and evicts a pod that exceeds a limit. The pod ends
// Failed, reason Evicted, its containers stopped at once (no preStop hook:
// the kubelet evicts with no grace period) and never restarted; a
// workload's controller replaces it.

const (
	reasonEvicted = "Evicted"
	stopEvicted   = reasonEvicted
)

// eviction asks the worker of pod uid to evict it, saying why.
type eviction struct {
	uid, msg string
}

// storageLimited reports whether pod has a limit eviction could enforce.
func storageLimited(p *cluster.Pod) bool {
	if p.Spec.Limits().EphemeralStorage > 0 {
		return true
	}
	for _, v := range p.Spec.Volumes {
		if v.EmptyDir != nil && v.EmptyDir.Medium != "Memory" && v.EmptyDir.SizeLimit > 0 {
			return true
		}
	}
	return false
}

// evictionMessage says why pod, using u, must be evicted, or "". The
// checks and their order are the kubelet's: an emptyDir over its
// sizeLimit, the pod over the sum of its containers' limits, a container
// (writable layer and logs) over its own limit. Messages are the
// kubelet's too.
func evictionMessage(pod *cluster.Pod, u rtapi.PodStorage) string {
	for _, v := range pod.Spec.Volumes {
		if v.EmptyDir == nil || v.EmptyDir.Medium == "Memory" || v.EmptyDir.SizeLimit <= 0 {
			continue
		}
		if used, ok := u.EmptyDirs[v.Name]; ok && used > v.EmptyDir.SizeLimit {
			return fmt.Sprintf("Usage of EmptyDir volume %q exceeds the limit %q.", v.Name, cluster.FormatBytes(v.EmptyDir.SizeLimit))
		}
	}
	if limit := pod.Spec.Limits().EphemeralStorage; limit > 0 && u.Total() > limit {
		return fmt.Sprintf("Pod ephemeral local storage usage exceeds the total limit of containers %s.", cluster.FormatBytes(limit))
	}
	for _, c := range pod.Spec.Containers {
		limit := c.Limits.EphemeralStorage
		if limit <= 0 {
			continue
		}
		if cs := u.Containers[c.Name]; cs.RootFS+cs.Logs > limit {
			return fmt.Sprintf("Container %s exceeded its local ephemeral storage limit %q.", c.Name, cluster.FormatBytes(limit))
		}
	}
	return ""
}

// watchStorage measures the running pods with a storage limit every
// EvictionInterval and sends those to evict to the main loop, which hands
// them to their workers.
func (r *Reconciler) watchStorage(ctx context.Context, out chan<- eviction) {
	t := time.NewTicker(r.cfg.EvictionInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range r.cfg.Source.State().PodsOnNode(r.cfg.NodeName) {
			if p.Terminating || p.Status.Phase != cluster.PodRunning || !storageLimited(p) {
				continue
			}
			u, err := r.cfg.Runtime.PodStorage(ctx, p)
			if err != nil {
				if ctx.Err() == nil {
					r.log.Warn("measuring pod storage", "pod", p.Key(), "err", err)
				}
				continue
			}
			msg := evictionMessage(p, u)
			if msg == "" {
				continue
			}
			r.log.Warn("evicting pod", "pod", p.Key(), "why", msg, "used", u.Total())
			select {
			case out <- eviction{uid: p.UID, msg: msg}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// evict stops an evicted pod's running containers (with the kubelet's
// minimum grace, no hooks) and reports it Failed, reason Evicted, its
// containers as they ended. Nothing of it runs again.
func (m *podMemory) evict(in stepInput) decision {
	st := &cluster.PodStatus{Phase: cluster.PodFailed, Reason: reasonEvicted, Message: m.evicted,
		HostIP: m.hostIP, StartedAt: m.startedAt}
	if m.sandbox != nil {
		st.PodIP = m.sandbox.IP
	}
	observed := observedByName(in.obs)
	var next nextCall
	for _, c := range allContainers(in.pod) {
		cm := m.ctr(c.Name)
		cs := cluster.ContainerStatus{Name: c.Name, Image: c.Image, LastTermination: cm.lastTerm, LastExitCode: cm.lastExit,
			LastMessage: cm.lastMsg, State: cluster.ContainerTerminated, Reason: reasonEvicted}
		oc := observed[c.Name]
		if oc != nil {
			cs.ContainerID, cs.RestartCount = oc.ID, int32(max(oc.Attempt-1, 0))
		}
		switch {
		case oc != nil && oc.Running:
			cs.State, cs.Reason, cs.StartedAt = cluster.ContainerRunning, "", oc.StartedAt
			if f := cm.stopFail; f.err != nil && in.now.Before(f.retryAt) {
				next.take(action{}, f.retryAt)
			} else {
				next.take(action{kind: actStopContainer, container: c, grace: minStopGrace, why: stopEvicted, attempt: oc.Attempt}, time.Time{})
			}
		case oc != nil && oc.Exited:
			terminated(&cs, oc)
		}
		st.Containers = append(st.Containers, cs)
	}
	return m.finish(st, decision{act: next.act, wakeAt: next.wakeAt})
}
