package node

import (
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
	actResize
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
	// preStop: run the container's preStop hook before an
	// actStopContainer's SIGTERM, within grace.
	preStop bool
	// running are the containers an actRemovePod stops first, each after
	// its preStop hook, all at once; set only when one of them has a hook.
	running []cluster.Container
	// configGen is stepInput.config.gen when an actStartContainer was
	// decided: a configuration error it meets is retried once it changes.
	configGen uint64
}

// Reasons a container is stopped by the reconciler rather than by itself.
const (
	stopUnhealthy = "Unhealthy"        // liveness or startup probe failed
	stopRecreate  = "TemplateChanged"  // generation differs: recreate now
	stopCompleted = "SidecarCompleted" // main containers are done
	stopFenced    = "Fenced"           // the node lost its fencing lease
	stopPostStart = reasonPostStartHook
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
	// node is this node's name; fenced: its fencing lease has lapsed;
	// behind: pod comes from a state older than the lease's renewal named.
	node   string
	fenced bool
	behind bool
	// evict is why the pod must be evicted ("": it need not).
	evict string
	// config is what the worker resolved of the pod's configuration.
	config configState
}

// configState is what the worker knows of the pod's configuration (see
// config.go): no container is created before its config volumes are
// written.
type configState struct {
	// gen changes whenever a ConfigMap or Secret the pod refers to does.
	gen uint64
	// unwritten says why a config volume has never been written, ""
	// once every one has been.
	unwritten string
}

// failure remembers a failed runtime call, for back-off and for the
// message shown in the status.
type failure struct {
	count   int
	err     error
	at      time.Time // when it failed
	retryAt time.Time
	// configGen, for a CreateContainerConfigError, is the configuration
	// it was met with: a change to it retries at once.
	configGen uint64
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
	// resizeFail is the last in-place resize that failed, for its
	// back-off and the pod's resize message.
	resizeFail failure
	// assumed is what a container that does not record its applied
	// resources is taken to run with (see podMemory.applied).
	assumed *cluster.AppliedResources
	// hookFailAttempt is the attempt whose postStart hook failed, and
	// hookMsg why: that run is stopped and counts as a crash.
	hookFailAttempt int
	hookMsg         string
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
	// evicted is why the pod was evicted; once set, the pod only stops.
	evicted string
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
		return m.orphan(in)
	}
	m.remember(in)
	if pod.Terminating {
		return m.terminate(in)
	}
	if in.evict != "" && m.evicted == "" && !terminal(pod.Status.Phase) && !terminal(m.phase) {
		m.evicted = in.evict
	}
	if m.evicted != "" {
		return m.evict(in)
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
		return m.createSandbox(in, &st)
	}
	st.PodIP = m.sandbox.IP
	return m.runContainers(in, &st)
}

// orphan removes what the runtime holds of a pod no longer placed here.
func (m *podMemory) orphan(in stepInput) decision {
	if in.obs == nil {
		return decision{}
	}
	if f := m.removeFail; f.err != nil && in.now.Before(f.retryAt) {
		return decision{wakeAt: f.retryAt}
	}
	return decision{act: action{kind: actRemovePod, grace: m.grace}}
}

// remember keeps what must outlive the desired pod (its grace period, for
// a removal after it is gone) and, for a pod adopted after an agent
// restart, what the runtime and the state already knew: its start time,
// that it was Running, its sandbox.
func (m *podMemory) remember(in stepInput) {
	m.grace = podGrace(in.pod)
	if m.startedAt.IsZero() {
		m.startedAt = in.pod.Status.StartedAt
		if m.startedAt.IsZero() {
			m.startedAt = in.now
		}
	}
	if m.phase == "" && in.pod.Status.Phase == cluster.PodRunning {
		m.phase = cluster.PodRunning
	}
	if m.sandbox == nil && in.obs != nil && in.obs.Sandbox != nil {
		m.sandbox = in.obs.Sandbox
	}
}

// createSandbox asks for the pod's sandbox, backing off after a failure.
func (m *podMemory) createSandbox(in stepInput, st *cluster.PodStatus) decision {
	st.Reason = "ContainerCreating"
	if f := m.sandboxFail; f.err != nil {
		st.Message = "creating pod sandbox: " + f.err.Error()
		if in.now.Before(f.retryAt) {
			return m.finish(st, decision{wakeAt: f.retryAt})
		}
	}
	return m.finish(st, decision{act: action{kind: actEnsureSandbox}})
}

// runContainers steps the containers of a pod whose sandbox exists: the
// init pass, the main pass, then the phase both imply.
func (m *podMemory) runContainers(in stepInput, st *cluster.PodStatus) decision {
	observed := observedByName(in.obs)
	if mainsRan(in.pod, observed) {
		// A worker that adopts a running pod must not rerun its init
		// containers.
		m.initDone = true
	}
	// Once init is behind us the main containers are looked at first
	// (though their call comes second): whether they all finished decides
	// whether sidecars are kept up or stopped.
	var mains mainResult
	if m.initDone {
		mains = m.mainPass(in, observed)
	}
	ini := m.initPass(in, observed, mains.done)
	if !m.initDone {
		m.initDone = ini.done
		mains = m.mainPass(in, observed)
	}
	st.Containers = append(ini.statuses, mains.statuses...)
	m.resizeStatus(in.pod, observed, st)
	ph := podPhase(ini, mains, m.phase == cluster.PodRunning)
	st.Phase, st.Ready, st.Reason, st.Message = ph.phase, ph.ready, ph.reason, ph.message
	// Init containers come first: their call is the one made.
	next := ini.nextCall
	next.take(mains.act, mains.wakeAt)
	return m.finish(st, decision{act: next.act, wakeAt: next.wakeAt})
}

func observedByName(obs *rtapi.PodState) map[string]*rtapi.ContainerState {
	observed := map[string]*rtapi.ContainerState{}
	if obs != nil {
		for i := range obs.Containers {
			observed[obs.Containers[i].Name] = &obs.Containers[i]
		}
	}
	return observed
}

// mainsRan reports whether the runtime holds a run of a main container.
func mainsRan(pod *cluster.Pod, observed map[string]*rtapi.ContainerState) bool {
	for _, c := range pod.Spec.Containers {
		if oc := observed[c.Name]; oc != nil && oc.Attempt > 0 {
			return true
		}
	}
	return false
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
		return decision{status: &st, act: action{kind: actRemovePod, grace: podGrace(in.pod), running: m.preStops(in)}}
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

// record updates the memory with the outcome of a runtime call.
func (m *podMemory) record(a action, sb *rtapi.PodSandbox, err error, now time.Time) {
	fail := func(f *failure) {
		if err == nil {
			*f = failure{}
			return
		}
		f.count++
		f.err = err
		f.at = now
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
		f := &m.ctr(a.container.Name).startFail
		fail(f)
		f.configGen = a.configGen
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
	case actResize:
		fail(&m.ctr(a.container.Name).resizeFail)
	case actFetchVolume:
		fail(&m.vol.fail)
		if err == nil {
			m.vol.fetchedFrom = a.from
		}
	}
}

// preStops lists the running containers of a pod being removed when one of
// them has a preStop hook: the worker then stops each after its hook,
// rather than leaving it all to RemovePod. An evicted pod's hooks do not
// run (the kubelet evicts with no grace period).
func (m *podMemory) preStops(in stepInput) []cluster.Container {
	if in.obs == nil || m.evicted != "" {
		return nil
	}
	observed := observedByName(in.obs)
	var running []cluster.Container
	hooks := false
	for _, c := range allContainers(in.pod) {
		if oc := observed[c.Name]; oc != nil && oc.Running {
			running = append(running, c)
			hooks = hooks || preStopOf(c) != nil
		}
	}
	if !hooks {
		return nil
	}
	return running
}

// allContainers lists a pod's init containers, then its containers.
func allContainers(p *cluster.Pod) []cluster.Container {
	return append(append([]cluster.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...)
}

// postStartFailed records that container name's run attempt must stop:
// its postStart hook failed, for msg.
func (m *podMemory) postStartFailed(name string, attempt int, msg string) {
	cm := m.ctr(name)
	cm.hookFailAttempt, cm.hookMsg = attempt, msg
}
