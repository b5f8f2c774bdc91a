package node

import (
	"fmt"
	"time"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// actionKind is the one runtime call a step asks for.
type actionKind int

const (
	actNone actionKind = iota
	actEnsureSandbox
	actPullImage
	actStartContainer
	actStopContainer
	actRemovePod
	actFetchVolume
)

// action is a runtime call decided by step and carried out by the worker.
type action struct {
	kind      actionKind
	image     string // actPullImage
	policy    string // actPullImage
	container cluster.Container
	attempt   int           // actStartContainer
	grace     time.Duration // actStopContainer, actRemovePod
	// why is recorded against the stopped attempt, so its exit is
	// explained (Unhealthy) or not counted as a crash (a recreate).
	why string
	// from is the node an actFetchVolume copies from.
	from string
}

// Reasons a container is stopped by the reconciler rather than by itself.
const (
	stopUnhealthy = "Unhealthy"        // liveness or startup probe failed
	stopRecreate  = "TemplateChanged"  // generation differs: recreate now
	stopCompleted = "SidecarCompleted" // main containers are done
	stopFenced    = "Fenced"           // the node lost its fencing lease
)

// decision is what one step returns.
type decision struct {
	act action
	// status is the pod's status as observed; nil when the pod is not
	// desired here (an orphan has no one to report to).
	status *cluster.PodStatus
	// wakeAt asks for another step at that time (a back-off ending) even if
	// nothing changes; zero means wait for a change.
	wakeAt time.Time
}

// stepInput is everything one step looks at.
type stepInput struct {
	now    time.Time
	pod    *cluster.Pod    // desired; nil: not placed here any more
	obs    *rtapi.PodState // observed; nil: the runtime holds nothing
	probes map[string]probeResult
	// node is this node's name; fenced: its fencing lease has lapsed.
	node   string
	fenced bool
}

// failure remembers a failed runtime call, for back-off and for the
// message shown in the status.
type failure struct {
	count   int
	err     error
	retryAt time.Time
}

// ctrMemory is what a worker remembers about one container across steps:
// what the runtime cannot tell (why it was stopped, the back-off).
type ctrMemory struct {
	seenExit  int       // attempt whose exit has been accounted for
	crashes   int       // consecutive crashes, for the back-off
	restartAt time.Time // earliest restart after the last crash
	delay     time.Duration
	lastTerm  string
	lastExit  int32
	lastMsg   string
	// stoppedWhy explains the exit of attempt stoppedAttempt.
	stoppedWhy     string
	stoppedAttempt int
	startFail      failure
	stopFail       failure
}

// podMemory is a worker's memory of its pod; step reads observations
// against it and updates it.
type podMemory struct {
	hostIP  string
	backoff backoff

	sandbox     *rtapi.PodSandbox
	sandboxFail failure
	pulled      map[string]bool
	pullFail    map[string]*failure
	ctrs        map[string]*ctrMemory
	initDone    bool
	removed     bool
	removeFail  failure
	phase       cluster.PodPhase
	startedAt   time.Time
	last        *cluster.PodStatus
	grace       time.Duration // of the last desired pod, for removal
	vol         volumeMemory
}

type backoff struct {
	base, max, reset time.Duration
}

// delay is the wait before retry number n (n ≥ 1): base, doubling up to max.
func (b backoff) delay(n int) time.Duration {
	d := b.base
	for i := 1; i < n && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

func newPodMemory(hostIP string, b backoff, orphanGrace time.Duration) *podMemory {
	return &podMemory{
		hostIP: hostIP, backoff: b, grace: orphanGrace,
		pulled: map[string]bool{}, pullFail: map[string]*failure{}, ctrs: map[string]*ctrMemory{},
	}
}

func (m *podMemory) ctr(name string) *ctrMemory {
	c := m.ctrs[name]
	if c == nil {
		c = &ctrMemory{}
		m.ctrs[name] = c
	}
	return c
}

func podGrace(p *cluster.Pod) time.Duration {
	if s := p.Spec.TerminationGracePeriodSeconds; s > 0 {
		return time.Duration(s) * time.Second
	}
	return 30 * time.Second
}

func terminal(p cluster.PodPhase) bool { return p == cluster.PodSucceeded || p == cluster.PodFailed }

// step looks at the desired pod and what the runtime holds, and decides the
// next runtime call (at most one) and the pod's status.
func (m *podMemory) step(in stepInput) decision {
	pod := in.pod
	if pod == nil {
		if in.obs == nil {
			return decision{}
		}
		if f := m.removeFail; f.err != nil && in.now.Before(f.retryAt) {
			return decision{wakeAt: f.retryAt}
		}
		return decision{act: action{kind: actRemovePod, grace: m.grace}}
	}
	m.grace = podGrace(pod)
	if m.startedAt.IsZero() {
		m.startedAt = pod.Status.StartedAt
		if m.startedAt.IsZero() {
			m.startedAt = in.now
		}
	}
	if m.phase == "" && pod.Status.Phase == cluster.PodRunning {
		m.phase = cluster.PodRunning
	}
	if m.sandbox == nil && in.obs != nil && in.obs.Sandbox != nil {
		m.sandbox = in.obs.Sandbox
	}
	if pod.Terminating {
		return m.terminate(in)
	}
	// Observed phases only move forward: a finished pod stays finished,
	// even if its containers vanish (a reboot) — it is never run again.
	if terminal(pod.Status.Phase) || terminal(m.phase) {
		st := pod.Status.Clone()
		if m.last != nil {
			st = m.last.Clone()
		}
		return decision{status: &st}
	}
	if d, ok := m.gate(in); ok {
		return d
	}

	st := cluster.PodStatus{Phase: cluster.PodPending, HostIP: m.hostIP, StartedAt: m.startedAt}
	if m.sandbox == nil {
		st.Reason = "ContainerCreating"
		if f := m.sandboxFail; f.err != nil {
			st.Message = "creating pod sandbox: " + f.err.Error()
			if in.now.Before(f.retryAt) {
				return m.finish(&st, decision{wakeAt: f.retryAt})
			}
		}
		return m.finish(&st, decision{act: action{kind: actEnsureSandbox}})
	}
	st.PodIP = m.sandbox.IP

	observed := map[string]*rtapi.ContainerState{}
	if in.obs != nil {
		for i := range in.obs.Containers {
			observed[in.obs.Containers[i].Name] = &in.obs.Containers[i]
		}
	}
	for _, c := range pod.Spec.Containers {
		if oc := observed[c.Name]; oc != nil && oc.Attempt > 0 {
			m.initDone = true // main containers ran: init is behind us
		}
	}

	var d decision
	take := func(v ctrView) {
		if d.act.kind == actNone {
			d.act = v.act
		}
		if !v.wakeAt.IsZero() && (d.wakeAt.IsZero() || v.wakeAt.Before(d.wakeAt)) {
			d.wakeAt = v.wakeAt
		}
	}

	// Main containers first when init is done: whether they all finished
	// decides whether sidecars are kept up or stopped.
	var mains []ctrView
	mainsDone := false
	if m.initDone {
		mains, mainsDone = m.mainViews(in, observed)
	}

	var inits []cluster.ContainerStatus
	var sides []ctrView
	initFailed, blocked := false, false
	sidecarUp := false
	for _, c := range pod.Spec.InitContainers {
		oc := observed[c.Name]
		if blocked {
			inits = append(inits, waiting(c, "PodInitializing", ""))
			continue
		}
		sidecar := c.RestartPolicy == cluster.RestartAlways
		if m.initDone && !sidecar {
			if oc != nil {
				inits = append(inits, m.view(in, c, cluster.RestartNever, oc, true).status)
			} else {
				inits = append(inits, cluster.ContainerStatus{Name: c.Name, Image: c.Image, State: cluster.ContainerTerminated, Reason: "Completed"})
			}
			continue
		}
		policy := cluster.RestartOnFailure
		if pod.Spec.RestartPolicy == cluster.RestartNever {
			policy = cluster.RestartNever
		}
		if sidecar {
			policy = cluster.RestartAlways
		}
		v := m.view(in, c, policy, oc, mainsDone)
		inits = append(inits, v.status)
		take(v)
		switch {
		case sidecar:
			sidecarUp = sidecarUp || v.running
			// The next init container starts once this sidecar runs and
			// its startup probe passed, as Kubernetes does.
			blocked = !m.initDone && !(v.running && v.started)
			sides = append(sides, v)
		case v.finished && v.succeeded:
		case v.finished:
			initFailed = true
			blocked = true
		default:
			blocked = true
		}
	}
	if !m.initDone && !blocked {
		m.initDone = true
		var done bool
		mains, done = m.mainViews(in, observed)
		mainsDone = mainsDone || done
	}

	st.Containers = inits
	if !m.initDone {
		for _, c := range pod.Spec.Containers {
			st.Containers = append(st.Containers, waiting(c, "PodInitializing", ""))
		}
	}
	ready, anyStarted := true, false
	for _, v := range mains {
		st.Containers = append(st.Containers, v.status)
		anyStarted = anyStarted || v.everStarted
		ready = ready && v.running && v.ready
		take(v)
	}
	for _, v := range sides {
		ready = ready && v.running && v.ready
	}

	switch {
	case initFailed:
		st.Phase, st.Reason = cluster.PodFailed, "InitContainerFailed"
	case mainsDone && !sidecarUp:
		st.Phase = cluster.PodSucceeded
		for _, v := range mains {
			if !v.succeeded {
				st.Phase = cluster.PodFailed
			}
		}
	case anyStarted || m.phase == cluster.PodRunning:
		st.Phase = cluster.PodRunning
		st.Ready = ready && m.initDone && len(mains) > 0
	default:
		for _, cs := range st.Containers {
			if cs.State == cluster.ContainerWaiting {
				st.Reason, st.Message = cs.Reason, cs.Message
				break
			}
		}
		if st.Reason == "" {
			st.Reason = "PodInitializing"
		}
	}
	return m.finish(&st, d)
}

// mainViews steps every main container; done reports that all of them
// finished for good.
func (m *podMemory) mainViews(in stepInput, observed map[string]*rtapi.ContainerState) ([]ctrView, bool) {
	var views []ctrView
	done := len(in.pod.Spec.Containers) > 0
	for _, c := range in.pod.Spec.Containers {
		policy := in.pod.Spec.RestartPolicy
		if policy == "" {
			policy = cluster.RestartAlways // Kubernetes' default
		}
		v := m.view(in, c, policy, observed[c.Name], false)
		views = append(views, v)
		done = done && v.finished
	}
	return views, done
}

func (m *podMemory) finish(st *cluster.PodStatus, d decision) decision {
	if terminal(st.Phase) {
		st.Ready = false
	}
	if st.Phase == cluster.PodRunning || terminal(st.Phase) {
		m.phase = st.Phase
	}
	m.last = st
	d.status = st
	return d
}

// terminate removes a Terminating pod, then reports it Stopped.
func (m *podMemory) terminate(in stepInput) decision {
	st := in.pod.Status.Clone()
	if m.last != nil {
		st = m.last.Clone()
	}
	st.HostIP = m.hostIP
	st.Ready = false
	if in.obs != nil || !(m.removed || in.pod.Status.Stopped) {
		if f := m.removeFail; f.err != nil && in.now.Before(f.retryAt) {
			st.Message = "stopping pod: " + f.err.Error()
			return decision{status: &st, wakeAt: f.retryAt}
		}
		return decision{status: &st, act: action{kind: actRemovePod, grace: podGrace(in.pod)}}
	}
	st.Stopped = true
	for i := range st.Containers {
		cs := &st.Containers[i]
		if cs.State != cluster.ContainerTerminated {
			cs.State, cs.Reason, cs.Ready = cluster.ContainerTerminated, "Stopped", false
		}
	}
	m.last = &st
	return decision{status: &st}
}

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
	pod := in.pod
	cm := m.ctr(c.Name)
	v := ctrView{}
	cs := cluster.ContainerStatus{Name: c.Name, Image: c.Image, LastTermination: cm.lastTerm, LastExitCode: cm.lastExit}
	if oc != nil {
		cs.ContainerID = oc.ID
		cs.RestartCount = int32(max(oc.Attempt-1, 0))
		v.everStarted = oc.Running || oc.Exited
	}
	switch {
	case oc != nil && oc.Running:
		cs.State, cs.StartedAt = cluster.ContainerRunning, oc.StartedAt
		v.running = true
		pr, ok := in.probes[c.Name]
		if !ok || pr.inst != (instance{oc.ID, oc.Attempt}) {
			pr = probeResult{} // no result yet for this instance
		}
		v.started = c.StartupProbe == nil || pr.started
		v.ready = v.started && (c.ReadinessProbe == nil || pr.ready)
		cs.Ready = v.ready
		cs.Message = cm.lastMsg
		if pr.msg != "" {
			cs.Message = pr.msg // a failing readiness probe says why
		}
		switch {
		case noRestart:
			v.act = action{kind: actStopContainer, container: c, grace: podGrace(pod), why: stopCompleted, attempt: oc.Attempt}
		case oc.Generation != pod.TemplateHash:
			v.act = action{kind: actStopContainer, container: c, grace: podGrace(pod), why: stopRecreate, attempt: oc.Attempt}
		case pr.failed:
			cs.Message = pr.msg
			v.act = action{kind: actStopContainer, container: c, grace: podGrace(pod), why: stopUnhealthy, attempt: oc.Attempt}
		}
		if f := cm.stopFail; v.act.kind == actStopContainer && f.err != nil && in.now.Before(f.retryAt) {
			v.act, v.wakeAt = action{}, f.retryAt
		}
		v.status = cs
		return v

	case oc != nil && oc.Exited:
		why := ""
		if cm.stoppedAttempt == oc.Attempt {
			why = cm.stoppedWhy
		}
		if cm.seenExit != oc.Attempt {
			// First sight of this exit: account for it once.
			cm.seenExit = oc.Attempt
			if why != stopRecreate && why != stopCompleted && why != stopFenced {
				if oc.FinishedAt.Sub(oc.StartedAt) >= m.backoff.reset {
					cm.crashes = 0 // it ran long enough to count as healthy
				}
				cm.crashes++
				// Kubernetes restarts the first crash at once, then
				// backs off: base, 2×base, … up to max.
				cm.delay = 0
				if cm.crashes > 1 {
					cm.delay = m.backoff.delay(cm.crashes - 1)
				}
				cm.restartAt = in.now.Add(cm.delay)
				cm.lastTerm, cm.lastExit, cm.lastMsg = exitReason(oc), oc.ExitCode, ""
				if why == stopUnhealthy {
					cm.lastTerm = stopUnhealthy
					if pr, ok := in.probes[c.Name]; ok && pr.inst == (instance{oc.ID, oc.Attempt}) {
						cm.lastMsg = pr.msg
					}
				}
			}
		}
		cs.LastTermination, cs.LastExitCode, cs.Message = cm.lastTerm, cm.lastExit, cm.lastMsg
		failed := oc.ExitCode != 0 || oc.OOMKilled
		restart := policy == cluster.RestartAlways || (policy == cluster.RestartOnFailure && failed)
		if why == stopRecreate || why == stopFenced {
			restart = true // not the container's doing
		}
		if noRestart || why == stopCompleted {
			restart = false
		}
		if !restart {
			cs.State, cs.Reason, cs.ExitCode = cluster.ContainerTerminated, exitReason(oc), oc.ExitCode
			cs.StartedAt, cs.FinishedAt = oc.StartedAt, oc.FinishedAt
			v.finished, v.succeeded = true, !failed
			v.status = cs
			return v
		}
		if why != stopRecreate && why != stopFenced && in.now.Before(cm.restartAt) {
			// The message names the whole delay, not what is left of it:
			// a status that changed on every step would be reported on
			// every step.
			cs.State, cs.Reason = cluster.ContainerWaiting, "CrashLoopBackOff"
			cs.Message = fmt.Sprintf("back-off %s restarting failed container", cm.delay)
			v.wakeAt = cm.restartAt
			v.status = cs
			return v
		}
		cs.State, cs.Reason, cs.ExitCode = cluster.ContainerTerminated, exitReason(oc), oc.ExitCode
		cs.StartedAt, cs.FinishedAt = oc.StartedAt, oc.FinishedAt
		v.act, v.wakeAt = m.startOrPull(in, c, oc.Attempt+1, &cs)
		v.status = cs
		return v

	default: // not created, or created but never started
		if noRestart {
			v.finished, v.succeeded = true, true
			cs.State, cs.Reason = cluster.ContainerTerminated, "Completed"
			v.status = cs
			return v
		}
		cs.State, cs.Reason = cluster.ContainerWaiting, "ContainerCreating"
		attempt := 1
		if oc != nil {
			attempt = max(oc.Attempt, 1)
		}
		v.act, v.wakeAt = m.startOrPull(in, c, attempt, &cs)
		v.status = cs
		return v
	}
}

// startOrPull returns the call that brings c closer to running: pull its
// image once per worker, then start it, each failure backing off.
func (m *podMemory) startOrPull(in stepInput, c cluster.Container, attempt int, cs *cluster.ContainerStatus) (action, time.Time) {
	if !m.pulled[c.Image] {
		if f := m.pullFail[c.Image]; f != nil {
			cs.State, cs.Reason = cluster.ContainerWaiting, "ImagePullBackOff"
			cs.Message = fmt.Sprintf("pulling image %q: %v", c.Image, f.err)
			if in.now.Before(f.retryAt) {
				return action{}, f.retryAt
			}
		}
		return action{kind: actPullImage, image: c.Image, policy: c.ImagePullPolicy}, time.Time{}
	}
	if f := m.ctr(c.Name).startFail; f.err != nil {
		cs.State, cs.Reason = cluster.ContainerWaiting, "RunContainerError"
		cs.Message = f.err.Error()
		if in.now.Before(f.retryAt) {
			return action{}, f.retryAt
		}
	}
	return action{kind: actStartContainer, container: c, attempt: attempt}, time.Time{}
}

// record updates the memory with the outcome of a runtime call.
func (m *podMemory) record(a action, sb *rtapi.PodSandbox, err error, now time.Time) {
	fail := func(f *failure) {
		if err == nil {
			*f = failure{}
			return
		}
		f.count++
		f.err = err
		f.retryAt = now.Add(m.backoff.delay(f.count))
	}
	switch a.kind {
	case actEnsureSandbox:
		fail(&m.sandboxFail)
		if err == nil {
			m.sandbox = sb
		}
	case actPullImage:
		f := m.pullFail[a.image]
		if f == nil {
			f = &failure{}
		}
		fail(f)
		if err == nil {
			delete(m.pullFail, a.image)
			m.pulled[a.image] = true
		} else {
			m.pullFail[a.image] = f
		}
	case actStartContainer:
		fail(&m.ctr(a.container.Name).startFail)
	case actStopContainer:
		cm := m.ctr(a.container.Name)
		fail(&cm.stopFail)
		if err == nil {
			cm.stoppedWhy, cm.stoppedAttempt = a.why, a.attempt
		}
	case actRemovePod:
		fail(&m.removeFail)
		if err == nil {
			m.removed = true
		}
	case actFetchVolume:
		fail(&m.vol.fail)
		if err == nil {
			m.vol.fetchedFrom = a.from
		}
	}
}
