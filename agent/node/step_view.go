package node

import (
	"errors"
	"fmt"
	"time"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// ctrView is one container's status and the action it needs, if any.
type ctrView struct {
	status      cluster.ContainerStatus
	act         action
	wakeAt      time.Time
	running     bool
	started     bool // startup probe passed (or none)
	ready       bool
	everStarted bool
	finished    bool // exited and will not be restarted
	succeeded   bool
}

func waiting(c cluster.Container, reason, msg string) cluster.ContainerStatus {
	return cluster.ContainerStatus{Name: c.Name, Image: c.Image, State: cluster.ContainerWaiting, Reason: reason, Message: msg}
}

// exitReason names how a container ended, as Kubernetes does.
func exitReason(oc *rtapi.ContainerState) string {
	switch {
	case oc.OOMKilled:
		return "OOMKilled"
	case oc.ExitCode == 0:
		return "Completed"
	default:
		return "Error"
	}
}

// view steps one container under policy; noRestart stops a sidecar whose
// pod's main containers are done.
func (m *podMemory) view(in stepInput, c cluster.Container, policy cluster.RestartPolicy, oc *rtapi.ContainerState, noRestart bool) ctrView {
	cm := m.ctr(c.Name)
	cs := cluster.ContainerStatus{Name: c.Name, Image: c.Image, LastTermination: cm.lastTerm, LastExitCode: cm.lastExit, LastMessage: cm.lastMsg}
	if oc != nil {
		cs.ContainerID = oc.ID
		cs.RestartCount = int32(max(oc.Attempt-1, 0))
		if oc.Resources != nil {
			cs.Resources = *oc.Resources
		}
	}
	switch {
	case oc != nil && oc.Running:
		return m.viewRunning(in, c, oc, noRestart, cs)
	case oc != nil && oc.Exited:
		return m.viewExited(in, c, policy, oc, noRestart, cs)
	default: // not created, or created but never started
		return m.viewNotStarted(in, c, oc, noRestart, cs)
	}
}

// viewRunning reads a running container's probes, and stops it when it
// must go (see stopReason), unless the last stop failed and backs off.
func (m *podMemory) viewRunning(in stepInput, c cluster.Container, oc *rtapi.ContainerState, noRestart bool, cs cluster.ContainerStatus) ctrView {
	cm := m.ctr(c.Name)
	pr, ok := in.probes[c.Name]
	if !ok || pr.inst != (instance{oc.ID, oc.Attempt}) {
		pr = probeResult{} // no result yet for this instance
	}
	v := ctrView{running: true, everStarted: true}
	v.started = c.StartupProbe == nil || pr.started
	v.ready = v.started && (c.ReadinessProbe == nil || pr.ready)
	cs.State, cs.StartedAt, cs.Ready = cluster.ContainerRunning, oc.StartedAt, v.ready
	cs.Message = cm.lastMsg
	if pr.msg != "" {
		cs.Message = pr.msg // a failing readiness probe says why
	}
	why := stopReason(in.pod, oc, pr, noRestart)
	if why == "" {
		why = m.resizeStep(in, c, oc, &v)
	}
	if cm.hookFailAttempt == oc.Attempt && why != stopCompleted && why != stopRecreate {
		why = stopPostStart
	}
	switch why {
	case stopUnhealthy:
		cs.Message = pr.msg
	case stopPostStart:
		cs.Message = cm.hookMsg
	}
	v.status = cs
	if why == "" {
		return v
	}
	if f := cm.stopFail; f.err != nil && in.now.Before(f.retryAt) {
		v.wakeAt = f.retryAt
		return v
	}
	v.act = action{kind: actStopContainer, container: c, grace: podGrace(in.pod), why: why, attempt: oc.Attempt,
		preStop: preStopOf(c) != nil}
	return v
}

// stopReason says why a running container must be stopped, or "": its
// pod's main containers are done (a sidecar), its template changed, or a
// liveness or startup probe failed.
func stopReason(pod *cluster.Pod, oc *rtapi.ContainerState, pr probeResult, noRestart bool) string {
	switch {
	case noRestart:
		return stopCompleted
	case oc.Generation != pod.TemplateHash:
		return stopRecreate
	case pr.failed:
		return stopUnhealthy
	}
	return ""
}

// viewExited accounts for an exit once, then decides the restart: never,
// after the crash back-off, or now.
func (m *podMemory) viewExited(in stepInput, c cluster.Container, policy cluster.RestartPolicy, oc *rtapi.ContainerState, noRestart bool, cs cluster.ContainerStatus) ctrView {
	cm := m.ctr(c.Name)
	why := ""
	if cm.stoppedAttempt == oc.Attempt {
		why = cm.stoppedWhy
	}
	if cm.seenExit != oc.Attempt {
		// First sight of this exit: account for it once.
		cm.seenExit = oc.Attempt
		if why != stopCompleted && !imposed(why) {
			m.countCrash(in, c, oc, why)
		}
	}
	cs.LastTermination, cs.LastExitCode, cs.LastMessage, cs.Message = cm.lastTerm, cm.lastExit, cm.lastMsg, cm.lastMsg
	// A run whose postStart hook failed failed, however it exited.
	failed := oc.ExitCode != 0 || oc.OOMKilled || cm.hookFailAttempt == oc.Attempt
	v := ctrView{everStarted: true}
	if !restarts(policy, failed, why, noRestart) {
		terminated(&cs, oc)
		v.status, v.finished, v.succeeded = cs, true, !failed
		return v
	}
	if !imposed(why) && in.now.Before(cm.restartAt) {
		// The message names the whole delay, not what is left of it:
		// a status that changed on every step would be reported on
		// every step.
		cs.State, cs.Reason = cluster.ContainerWaiting, "CrashLoopBackOff"
		cs.Message = fmt.Sprintf("back-off %s restarting failed container", cm.delay)
		v.status, v.wakeAt = cs, cm.restartAt
		return v
	}
	terminated(&cs, oc)
	v.act, v.wakeAt = m.startOrPull(in, c, oc.Attempt+1, &cs)
	v.status = cs
	return v
}

// imposed reports a stop that was not the container's doing: it restarts
// at once and does not count as a crash.
func imposed(why string) bool { return why == stopRecreate || why == stopFenced || why == stopResize }

// restarts reports whether a container that exited (failed or not) runs
// again.
func restarts(policy cluster.RestartPolicy, failed bool, why string, noRestart bool) bool {
	switch {
	case noRestart || why == stopCompleted:
		return false
	case imposed(why):
		return true
	}
	return policy == cluster.RestartAlways || (policy == cluster.RestartOnFailure && failed)
}

// countCrash records an exit of the container's own doing (a crash, or a
// kill for a failed probe): it feeds the back-off and the last termination
// shown.
func (m *podMemory) countCrash(in stepInput, c cluster.Container, oc *rtapi.ContainerState, why string) {
	cm := m.ctr(c.Name)
	if oc.FinishedAt.Sub(oc.StartedAt) >= m.backoff.reset {
		cm.crashes = 0 // it ran long enough to count as healthy
	}
	cm.crashes++
	// Kubernetes restarts the first crash at once, then backs off: base,
	// 2×base, … up to max.
	cm.delay = 0
	if cm.crashes > 1 {
		cm.delay = m.backoff.delay(cm.crashes - 1)
	}
	cm.restartAt = in.now.Add(cm.delay)
	cm.lastTerm, cm.lastExit, cm.lastMsg = exitReason(oc), oc.ExitCode, ""
	switch {
	case cm.hookFailAttempt == oc.Attempt:
		cm.lastTerm, cm.lastMsg = reasonPostStartHook, cm.hookMsg
	case why == stopUnhealthy:
		cm.lastTerm = stopUnhealthy
		if pr, ok := in.probes[c.Name]; ok && pr.inst == (instance{oc.ID, oc.Attempt}) {
			cm.lastMsg = pr.msg
		}
	}
}

func terminated(cs *cluster.ContainerStatus, oc *rtapi.ContainerState) {
	cs.State, cs.Reason, cs.ExitCode = cluster.ContainerTerminated, exitReason(oc), oc.ExitCode
	cs.StartedAt, cs.FinishedAt = oc.StartedAt, oc.FinishedAt
}

// viewNotStarted brings a container that never ran closer to running.
func (m *podMemory) viewNotStarted(in stepInput, c cluster.Container, oc *rtapi.ContainerState, noRestart bool, cs cluster.ContainerStatus) ctrView {
	if noRestart {
		// A sidecar that never ran while the main containers did is as
		// good as completed: starting it now would keep the pod running.
		cs.State, cs.Reason = cluster.ContainerTerminated, "Completed"
		return ctrView{status: cs, finished: true, succeeded: true}
	}
	cs.State, cs.Reason = cluster.ContainerWaiting, "ContainerCreating"
	attempt := 1
	if oc != nil {
		attempt = max(oc.Attempt, 1)
	}
	v := ctrView{}
	v.act, v.wakeAt = m.startOrPull(in, c, attempt, &cs)
	v.status = cs
	return v
}

// startOrPull returns the call that brings c closer to running: pull its
// image once per worker, then start it, each failure backing off.
func (m *podMemory) startOrPull(in stepInput, c cluster.Container, attempt int, cs *cluster.ContainerStatus) (action, time.Time) {
	if in.config.unwritten != "" {
		// As kubelet: volumes first, then images and containers. The
		// worker steps again when the state changes.
		cs.State, cs.Reason, cs.Message = cluster.ContainerWaiting, "ContainerCreating", in.config.unwritten
		return action{}, time.Time{}
	}
	if !m.pulled[c.Image] {
		if f := m.pullFail[c.Image]; f != nil {
			// As kubelet shows it: ErrImagePull with the registry's words
			// just after a failed pull, then ImagePullBackOff until the
			// retry (here: the first and second half of the back-off).
			cs.State = cluster.ContainerWaiting
			if shownUntil := f.at.Add(f.retryAt.Sub(f.at) / 2); in.now.Before(shownUntil) {
				cs.Reason, cs.Message = "ErrImagePull", f.err.Error()
				return action{}, shownUntil
			}
			cs.Reason = "ImagePullBackOff"
			cs.Message = fmt.Sprintf("Back-off pulling image %q: ErrImagePull: %v", c.Image, f.err)
			if in.now.Before(f.retryAt) {
				return action{}, f.retryAt
			}
		}
		return action{kind: actPullImage, image: c.Image, policy: c.ImagePullPolicy}, time.Time{}
	}
	if f := m.ctr(c.Name).startFail; f.err != nil {
		cs.State = cluster.ContainerWaiting
		cs.Reason, cs.Message = startFailure(f.err)
		// A missing ConfigMap or Secret may have been applied since:
		// then try again now rather than after the back-off.
		reconfigured := errors.Is(f.err, rtapi.ErrCreateConfig) && f.configGen != in.config.gen
		if in.now.Before(f.retryAt) && !reconfigured {
			return action{}, f.retryAt
		}
	}
	return action{kind: actStartContainer, container: c, attempt: attempt, configGen: in.config.gen}, time.Time{}
}

// startFailure names a failed start as the kubelet does: a configuration
// that cannot be honoured (runAsNonRoot and a root image, a ConfigMap or
// Secret that is missing) is a CreateContainerConfigError, shown with its
// own words; anything else a RunContainerError. Both back off alike,
// except that a configuration error is retried at once when the pod's
// ConfigMaps and Secrets change.
func startFailure(err error) (reason, msg string) {
	var ce *rtapi.ConfigError
	if errors.As(err, &ce) {
		return "CreateContainerConfigError", ce.Message
	}
	if errors.Is(err, rtapi.ErrCreateConfig) {
		return "CreateContainerConfigError", err.Error()
	}
	return "RunContainerError", err.Error()
}
