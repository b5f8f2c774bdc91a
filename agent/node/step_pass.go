package node

import (
	"time"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// nextCall is the runtime call a pass asks for: that of the first
// container needing one, since a step makes at most one call, and the
// earliest wake-up any container asks for.
type nextCall struct {
	act    action
	wakeAt time.Time
}

func (n *nextCall) take(act action, wakeAt time.Time) {
	if n.act.kind == actNone {
		n.act = act
	}
	if !wakeAt.IsZero() && (n.wakeAt.IsZero() || wakeAt.Before(n.wakeAt)) {
		n.wakeAt = wakeAt
	}
}

// initResult is what the init pass found.
type initResult struct {
	nextCall
	statuses []cluster.ContainerStatus
	// done: init is behind us, so the main containers may run.
	done bool
	// failed: an ordinary init container failed for good.
	failed bool
	// sidecarUp: a sidecar still runs, so the pod has not finished.
	sidecarUp bool
	// sidecarsReady: every sidecar looked at runs and is ready.
	sidecarsReady bool
}

// initPass walks the init containers in order. Until init is done, each
// ordinary one must complete and each sidecar (restartPolicy Always) must
// run and pass its startup probe before the next one starts, as in
// Kubernetes. Afterwards ordinary ones are history, never rerun, while
// sidecars are kept up until mainsDone says the main containers finished
// for good, and are then stopped.
func (m *podMemory) initPass(in stepInput, observed map[string]*rtapi.ContainerState, mainsDone bool) initResult {
	r := initResult{done: true, sidecarsReady: true}
	for _, c := range in.pod.Spec.InitContainers {
		oc := observed[c.Name]
		switch {
		case !r.done:
			r.statuses = append(r.statuses, waiting(c, "PodInitializing", ""))
		case c.RestartPolicy == cluster.RestartAlways:
			r.addSidecar(m.view(in, c, cluster.RestartAlways, oc, mainsDone), m.initDone)
		case m.initDone:
			r.statuses = append(r.statuses, m.pastInit(in, c, oc))
		default:
			r.addInit(m.view(in, c, initPolicy(in.pod), oc, false))
		}
	}
	return r
}

// addSidecar adds a sidecar's view; before init is done, it holds back
// the init containers after it until it runs and has started.
func (r *initResult) addSidecar(v ctrView, initDone bool) {
	r.statuses = append(r.statuses, v.status)
	r.take(v.act, v.wakeAt)
	r.sidecarUp = r.sidecarUp || v.running
	r.sidecarsReady = r.sidecarsReady && v.running && v.ready
	r.done = initDone || (v.running && v.started)
}

// addInit adds an ordinary init container's view; it holds back those
// after it until it succeeded.
func (r *initResult) addInit(v ctrView) {
	r.statuses = append(r.statuses, v.status)
	r.take(v.act, v.wakeAt)
	r.done = v.finished && v.succeeded
	r.failed = v.finished && !v.succeeded
}

// pastInit shows an ordinary init container once init is done: as it
// ended, or Completed when the runtime no longer holds it. Nothing it asks
// for is done: it never runs again.
func (m *podMemory) pastInit(in stepInput, c cluster.Container, oc *rtapi.ContainerState) cluster.ContainerStatus {
	if oc == nil {
		return cluster.ContainerStatus{Name: c.Name, Image: c.Image, State: cluster.ContainerTerminated, Reason: "Completed"}
	}
	return m.view(in, c, cluster.RestartNever, oc, true).status
}

// initPolicy is how an ordinary init container restarts: until it
// succeeds, unless its pod restarts nothing.
func initPolicy(pod *cluster.Pod) cluster.RestartPolicy {
	if pod.Spec.RestartPolicy == cluster.RestartNever {
		return cluster.RestartNever
	}
	return cluster.RestartOnFailure
}

// mainResult is what the main-container pass found.
type mainResult struct {
	nextCall
	statuses  []cluster.ContainerStatus
	started   bool // one of them ever started
	ready     bool // there are some, and all run and are ready
	done      bool // there are some, and all finished for good
	succeeded bool // none that finished failed
}

// mainPass steps the main containers under the pod's restart policy once
// init is done; until then they wait for it.
func (m *podMemory) mainPass(in stepInput, observed map[string]*rtapi.ContainerState) mainResult {
	ctrs := in.pod.Spec.Containers
	var r mainResult
	if !m.initDone {
		for _, c := range ctrs {
			r.statuses = append(r.statuses, waiting(c, "PodInitializing", ""))
		}
		return r
	}
	policy := in.pod.Spec.RestartPolicy
	if policy == "" {
		policy = cluster.RestartAlways // Kubernetes' default
	}
	r.ready, r.done, r.succeeded = len(ctrs) > 0, len(ctrs) > 0, true
	for _, c := range ctrs {
		v := m.view(in, c, policy, observed[c.Name], false)
		r.statuses = append(r.statuses, v.status)
		r.take(v.act, v.wakeAt)
		r.started = r.started || v.everStarted
		r.ready = r.ready && v.running && v.ready
		r.done = r.done && v.finished
		r.succeeded = r.succeeded && (!v.finished || v.succeeded)
	}
	return r
}

// phaseResult is the pod-level part of a status.
type phaseResult struct {
	phase           cluster.PodPhase
	ready           bool
	reason, message string
}

// podPhase works out the pod's phase from the two passes. wasRunning: the
// pod was Running before, and a container waiting to restart does not
// make it Pending again.
func podPhase(ini initResult, mains mainResult, wasRunning bool) phaseResult {
	switch {
	case ini.failed:
		return phaseResult{phase: cluster.PodFailed, reason: "InitContainerFailed"}
	case mains.done && !ini.sidecarUp:
		if mains.succeeded {
			return phaseResult{phase: cluster.PodSucceeded}
		}
		return phaseResult{phase: cluster.PodFailed}
	case mains.started || wasRunning:
		return phaseResult{phase: cluster.PodRunning, ready: ini.done && ini.sidecarsReady && mains.ready}
	}
	// Pending: the first container that waits says why.
	r := phaseResult{phase: cluster.PodPending}
	if cs := firstWaiting(ini.statuses, mains.statuses); cs != nil {
		r.reason, r.message = cs.Reason, cs.Message
	}
	if r.reason == "" {
		r.reason = "PodInitializing"
	}
	return r
}

func firstWaiting(lists ...[]cluster.ContainerStatus) *cluster.ContainerStatus {
	for _, l := range lists {
		for i := range l {
			if l[i].State == cluster.ContainerWaiting {
				return &l[i]
			}
		}
	}
	return nil
}
