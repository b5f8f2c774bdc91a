package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// Three gates stand before a pod's normal step, all for StatefulSet pods,
// all so that two copies of one pod's data are never written at once:
//
//   - fencing: while this node's fencing lease has lapsed, the leader may
//     already be placing its StatefulSet pods elsewhere, so they are
//     stopped here and nothing of theirs starts; when the lease holds
//     again, those still placed here restart (not counted as crashes);
//   - a fresh state: while the state the pod came from is older than the
//     index the lease's last renewal named, the pod is left as it is, and
//     neither started nor reported: its placement here may be one the
//     leader changed while this node was away (restarted from its own old
//     copy of the state, or cut off), and the state catching up says;
//   - volume copy: a pod placed with VolumeFrom first copies its claims
//     from that node, reports VolumesFetched and waits for the FSM to move
//     the claims here (it clears VolumeFrom) before creating anything.

// volumeMemory is what a worker remembers of a claim copy.
type volumeMemory struct {
	fail        failure
	fetchedFrom string // node the completed copy came from
}

// Pod reasons set by the gates.
const (
	reasonFenced        = "Fenced"
	reasonFetching      = "FetchingVolume"
	reasonFetchBackOff  = "VolumeFetchBackOff"
	reasonVolumeCopied  = "VolumeCopied"
	fencedMessage       = "this node's fencing lease is not renewed (no Raft quorum reached, or its fencing watchdog not told: see the agent's log): StatefulSet pods are stopped until it is"
	fencedStopping      = "stopping: fencing lease lapsed"
	errNoFetcherMessage = "this agent cannot fetch volumes (no FetchVolume configured)"
)

func (r *Reconciler) leaseValid() bool {
	return r.cfg.LeaseValid == nil || r.cfg.LeaseValid()
}

// checkLease wakes every worker when the lease turns invalid or valid
// again: their pods' desired state did not change, so nothing else would.
func (r *Reconciler) checkLease() {
	ok := r.leaseValid()
	if ok == r.leaseOK {
		return
	}
	r.leaseOK = ok
	// A node asks for a lease only while it is assigned a StatefulSet pod,
	// so the lease lapsing on one with none says nothing.
	fenced := 0
	for _, w := range r.workers {
		w.mu.Lock()
		if w.pod != nil && w.pod.Owner != nil && w.pod.Owner.Kind == cluster.KindStatefulSet {
			fenced++
		}
		w.mu.Unlock()
		poke(w.wake)
	}
	switch {
	case fenced == 0:
	case ok:
		r.log.Info("fencing lease valid again: StatefulSet pods may run", "pods", fenced)
	default:
		r.log.Warn("fencing lease lapsed: stopping StatefulSet pods", "pods", fenced)
	}
}

// fenceGrace caps the grace period of a fenced stop: the leader places the
// pod elsewhere a fixed time after this node's lease lapsed, so a pod that
// takes its full 30 s to stop could meet its replacement.
const fenceGrace = time.Second

// gate returns the decision of a gate that holds pod back, if one does.
func (m *podMemory) gate(in stepInput) (decision, bool) {
	pod := in.pod
	if in.fenced && pod.Owner != nil && pod.Owner.Kind == cluster.KindStatefulSet {
		return m.fence(in), true
	}
	if in.behind && pod.Owner != nil && pod.Owner.Kind == cluster.KindStatefulSet {
		// The main loop wakes the worker when the state has caught up
		// (Reconciler.held).
		return decision{}, true
	}
	if pod.VolumeFrom != "" && pod.VolumeFrom != in.node && len(pod.Claims()) > 0 &&
		(in.obs == nil || len(in.obs.Containers) == 0) {
		return m.fetch(in), true
	}
	return decision{}, false
}

// fence stops the pod's running containers one by one (main containers
// first, then init containers and sidecars) and reports them honestly: the
// pod is not ready, running containers are being stopped, stopped ones
// are Terminated with reason Fenced. The phase stays what it was: the pod
// is still placed here and will run again.
func (m *podMemory) fence(in stepInput) decision {
	pod := in.pod
	st := cluster.PodStatus{Phase: m.phase, HostIP: m.hostIP, StartedAt: m.startedAt,
		Reason: reasonFenced, Message: fencedMessage}
	if st.Phase == "" {
		st.Phase = cluster.PodPending
	}
	if m.sandbox != nil {
		st.PodIP = m.sandbox.IP
	}
	observed := map[string]*rtapi.ContainerState{}
	if in.obs != nil {
		for i := range in.obs.Containers {
			observed[in.obs.Containers[i].Name] = &in.obs.Containers[i]
		}
	}
	var d decision
	consider := func(c cluster.Container) {
		oc := observed[c.Name]
		if oc == nil || !oc.Running || d.act.kind != actNone {
			return
		}
		if f := m.ctr(c.Name).stopFail; f.err != nil && in.now.Before(f.retryAt) {
			if d.wakeAt.IsZero() || f.retryAt.Before(d.wakeAt) {
				d.wakeAt = f.retryAt
			}
			return
		}
		d.act = action{kind: actStopContainer, container: c, grace: min(podGrace(pod), fenceGrace), why: stopFenced, attempt: oc.Attempt}
	}
	for _, c := range pod.Spec.Containers {
		consider(c)
	}
	for i := len(pod.Spec.InitContainers) - 1; i >= 0; i-- {
		consider(pod.Spec.InitContainers[i])
	}
	for _, c := range append(append([]cluster.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		cs := cluster.ContainerStatus{Name: c.Name, Image: c.Image, State: cluster.ContainerWaiting, Reason: reasonFenced}
		if oc := observed[c.Name]; oc != nil {
			cs.ContainerID = oc.ID
			cs.RestartCount = int32(max(oc.Attempt-1, 0))
			switch {
			case oc.Running:
				cs.State, cs.Reason, cs.Message, cs.StartedAt = cluster.ContainerRunning, "", fencedStopping, oc.StartedAt
			case oc.Exited:
				cs.State, cs.ExitCode = cluster.ContainerTerminated, oc.ExitCode
				cs.StartedAt, cs.FinishedAt = oc.StartedAt, oc.FinishedAt
			}
		}
		st.Containers = append(st.Containers, cs)
	}
	return m.finish(&st, d)
}

// fetch copies the pod's claims from pod.VolumeFrom, backing off on
// failure, then reports VolumesFetched and waits.
func (m *podMemory) fetch(in stepInput) decision {
	pod := in.pod
	from := pod.VolumeFrom
	claims := strings.Join(pod.Claims(), ", ")
	st := cluster.PodStatus{Phase: cluster.PodPending, HostIP: m.hostIP, StartedAt: m.startedAt}
	if m.vol.fetchedFrom == from {
		st.Reason, st.VolumesFetched = reasonVolumeCopied, true
		st.Message = fmt.Sprintf("volume %s copied from node %s; waiting for the cluster to record it", claims, from)
		return m.finish(&st, decision{})
	}
	st.Reason = reasonFetching
	st.Message = fmt.Sprintf("copying volume %s from node %s", claims, from)
	if f := m.vol.fail; f.err != nil {
		st.Reason = reasonFetchBackOff
		st.Message = fmt.Sprintf("copying volume %s from node %s: %v", claims, from, f.err)
		if in.now.Before(f.retryAt) {
			return m.finish(&st, decision{wakeAt: f.retryAt})
		}
	}
	return m.finish(&st, decision{act: action{kind: actFetchVolume, from: from}})
}

// fetchVolumes copies every claim of pod from node from into this node's
// claim directories.
func (r *Reconciler) fetchVolumes(ctx context.Context, pod *cluster.Pod, from string) error {
	if r.cfg.FetchVolume == nil || r.cfg.ClaimDir == nil {
		return errors.New(errNoFetcherMessage)
	}
	for _, claim := range pod.ClaimSources() {
		dest := r.cfg.ClaimDir(pod.Namespace, claim, pod.Name)
		if err := r.cfg.FetchVolume(ctx, from, pod.Namespace, filepath.Base(dest), dest); err != nil {
			return err
		}
	}
	return nil
}
