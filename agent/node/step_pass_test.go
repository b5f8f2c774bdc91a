package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// The three pieces of a step with a sandbox, each on its own: the init
// pass, the main pass, and the phase both imply.

var passNow = time.Unix(1_000_000, 0)

// passMemory returns a memory whose images are all pulled, except those
// in unpulled, so that passes ask to start containers.
func passMemory(initDone bool, unpulled ...string) *podMemory {
	m := newPodMemory("192.0.2.1", backoff{base: 10 * time.Second, max: time.Minute, reset: time.Hour}, 30*time.Second)
	m.initDone = initDone
	for _, img := range []string{"busybox", "envoy", "app", "log"} {
		m.pulled[img] = true
	}
	for _, img := range unpulled {
		delete(m.pulled, img)
	}
	return m
}

func running(name string, attempt int) rtapi.ContainerState {
	return rtapi.ContainerState{Name: name, ID: name + "-id", Attempt: attempt, Running: true, Generation: "h1", StartedAt: passNow.Add(-time.Minute)}
}

func exited(name string, attempt int, code int32) rtapi.ContainerState {
	c := running(name, attempt)
	c.Running, c.Exited, c.ExitCode, c.FinishedAt = false, true, code, passNow
	return c
}

// probed is the probe result of the instance oc.
func probed(oc rtapi.ContainerState, started, ready bool) probeResult {
	return probeResult{inst: instance{oc.ID, oc.Attempt}, started: started, ready: ready}
}

func passInput(pod *cluster.Pod, obs []rtapi.ContainerState, probes map[string]probeResult) (stepInput, map[string]*rtapi.ContainerState) {
	in := stepInput{now: passNow, pod: pod, obs: &rtapi.PodState{UID: pod.UID, Containers: obs}, probes: probes}
	return in, observedByName(in.obs)
}

// statusLine shows container statuses as name=State/Reason, in order.
func statusLine(sts []cluster.ContainerStatus) string {
	var out []string
	for _, cs := range sts {
		s := cs.Name + "=" + string(cs.State)
		if cs.Reason != "" {
			s += "/" + cs.Reason
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func actLine(a action) string {
	switch a.kind {
	case actNone:
		return "none"
	case actPullImage:
		return "pull " + a.image
	case actStartContainer:
		return fmt.Sprintf("start %s#%d", a.container.Name, a.attempt)
	case actStopContainer:
		return fmt.Sprintf("stop %s (%s)", a.container.Name, a.why)
	}
	return a.kind.String()
}

func TestInitPass(t *testing.T) {
	setup := cluster.Container{Name: "setup", Image: "busybox"}
	proxy := cluster.Container{Name: "proxy", Image: "envoy", RestartPolicy: cluster.RestartAlways}
	migrate := cluster.Container{Name: "migrate", Image: "busybox"}
	slowProxy := proxy
	slowProxy.StartupProbe = &cluster.Probe{Exec: []string{"check"}}
	readyProxy := proxy
	readyProxy.ReadinessProbe = &cluster.Probe{Exec: []string{"check"}}
	all := []cluster.Container{setup, proxy, migrate}

	type want struct {
		statuses                          string
		act                               string
		done, failed, sidecarUp, sdsReady bool
	}
	for _, tc := range []struct {
		name      string
		inits     []cluster.Container
		policy    cluster.RestartPolicy
		unpulled  []string
		initDone  bool
		mainsDone bool
		obs       []rtapi.ContainerState
		probes    map[string]probeResult
		want      want
	}{{
		name: "no init containers",
		want: want{act: "none", done: true, sdsReady: true},
	}, {
		name: "the first pulls its image", inits: all, unpulled: []string{"busybox"},
		want: want{statuses: "setup=Waiting/ContainerCreating proxy=Waiting/PodInitializing migrate=Waiting/PodInitializing",
			act: "pull busybox", sdsReady: true},
	}, {
		name: "the first starts, the others wait", inits: all,
		want: want{statuses: "setup=Waiting/ContainerCreating proxy=Waiting/PodInitializing migrate=Waiting/PodInitializing",
			act: "start setup#1", sdsReady: true},
	}, {
		name: "a running one holds the next back", inits: all,
		obs: []rtapi.ContainerState{running("setup", 1)},
		want: want{statuses: "setup=Running proxy=Waiting/PodInitializing migrate=Waiting/PodInitializing",
			act: "none", sdsReady: true},
	}, {
		name: "a completed one lets the next start", inits: all,
		obs: []rtapi.ContainerState{exited("setup", 1, 0)},
		want: want{statuses: "setup=Terminated/Completed proxy=Waiting/ContainerCreating migrate=Waiting/PodInitializing",
			act: "start proxy#1", sdsReady: false},
	}, {
		name: "a failed one restarts under OnFailure and Always", inits: all, policy: cluster.RestartAlways,
		obs: []rtapi.ContainerState{exited("setup", 1, 1)},
		want: want{statuses: "setup=Terminated/Error proxy=Waiting/PodInitializing migrate=Waiting/PodInitializing",
			act: "start setup#2", sdsReady: true},
	}, {
		name: "a failed one fails the pod under Never", inits: all, policy: cluster.RestartNever,
		obs: []rtapi.ContainerState{exited("setup", 1, 1)},
		want: want{statuses: "setup=Terminated/Error proxy=Waiting/PodInitializing migrate=Waiting/PodInitializing",
			act: "none", failed: true, sdsReady: true},
	}, {
		name: "a sidecar whose startup probe has not passed holds the next back", inits: []cluster.Container{setup, slowProxy, migrate},
		obs: []rtapi.ContainerState{exited("setup", 1, 0), running("proxy", 1)},
		want: want{statuses: "setup=Terminated/Completed proxy=Running migrate=Waiting/PodInitializing",
			act: "none", sidecarUp: true},
	}, {
		name: "a started sidecar lets the next start", inits: []cluster.Container{setup, slowProxy, migrate},
		obs:    []rtapi.ContainerState{exited("setup", 1, 0), running("proxy", 1)},
		probes: map[string]probeResult{"proxy": probed(running("proxy", 1), true, false)},
		want: want{statuses: "setup=Terminated/Completed proxy=Running migrate=Waiting/ContainerCreating",
			act: "start migrate#1", sidecarUp: true, sdsReady: true},
	}, {
		name: "all done: the main containers may run", inits: all,
		obs: []rtapi.ContainerState{exited("setup", 1, 0), running("proxy", 1), exited("migrate", 2, 0)},
		want: want{statuses: "setup=Terminated/Completed proxy=Running migrate=Terminated/Completed",
			act: "none", done: true, sidecarUp: true, sdsReady: true},
	}, {
		name: "after init, ordinary ones gone from the runtime are Completed", inits: all, initDone: true,
		obs: []rtapi.ContainerState{running("proxy", 1)},
		want: want{statuses: "setup=Terminated/Completed proxy=Running migrate=Terminated/Completed",
			act: "none", done: true, sidecarUp: true, sdsReady: true},
	}, {
		name: "after init, an ordinary one that failed is never rerun", inits: all, initDone: true, policy: cluster.RestartAlways,
		obs: []rtapi.ContainerState{exited("setup", 1, 1), running("proxy", 1)},
		want: want{statuses: "setup=Terminated/Error proxy=Running migrate=Terminated/Completed",
			act: "none", done: true, sidecarUp: true, sdsReady: true},
	}, {
		name: "after init, a sidecar that died restarts and blocks nothing", inits: all, initDone: true,
		obs: []rtapi.ContainerState{exited("proxy", 1, 1)},
		want: want{statuses: "setup=Terminated/Completed proxy=Terminated/Error migrate=Terminated/Completed",
			act: "start proxy#2", done: true},
	}, {
		name: "a sidecar that is not ready keeps the pod from being ready", inits: []cluster.Container{readyProxy}, initDone: true,
		obs:  []rtapi.ContainerState{running("proxy", 1)},
		want: want{statuses: "proxy=Running", act: "none", done: true, sidecarUp: true},
	}, {
		name: "main containers done: a running sidecar is stopped", inits: all, initDone: true, mainsDone: true,
		obs: []rtapi.ContainerState{running("proxy", 1)},
		want: want{statuses: "setup=Terminated/Completed proxy=Running migrate=Terminated/Completed",
			act: "stop proxy (SidecarCompleted)", done: true, sidecarUp: true, sdsReady: true},
	}, {
		name: "main containers done: a sidecar that never ran counts as completed", inits: []cluster.Container{proxy}, initDone: true, mainsDone: true,
		want: want{statuses: "proxy=Terminated/Completed", act: "none", done: true},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			pod := newPod("p", "app")
			pod.Spec.InitContainers, pod.Spec.RestartPolicy = tc.inits, tc.policy
			m := passMemory(tc.initDone, tc.unpulled...)
			in, observed := passInput(pod, tc.obs, tc.probes)
			r := m.initPass(in, observed, tc.mainsDone)
			got := want{statusLine(r.statuses), actLine(r.act), r.done, r.failed, r.sidecarUp, r.sidecarsReady}
			if got != tc.want {
				t.Errorf("initPass:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestMainPass(t *testing.T) {
	crashLooping := func(m *podMemory) {
		// One crash counted already: the next one backs off.
		cm := m.ctr("app")
		cm.crashes, cm.seenExit = 1, 1
	}
	type want struct {
		statuses                        string
		act                             string
		wake                            time.Duration // after passNow; 0: none
		started, ready, done, succeeded bool
	}
	for _, tc := range []struct {
		name     string
		policy   cluster.RestartPolicy
		noMains  bool
		initDone bool
		readyLog bool // log has a readiness probe
		mem      func(m *podMemory)
		obs      []rtapi.ContainerState
		want     want
	}{{
		name: "before init is done, all wait",
		want: want{statuses: "app=Waiting/PodInitializing log=Waiting/PodInitializing", act: "none"},
	}, {
		name: "none created: the first starts", initDone: true,
		want: want{statuses: "app=Waiting/ContainerCreating log=Waiting/ContainerCreating", act: "start app#1", succeeded: true},
	}, {
		name: "all running and ready", initDone: true,
		obs:  []rtapi.ContainerState{running("app", 1), running("log", 1)},
		want: want{statuses: "app=Running log=Running", act: "none", started: true, ready: true, succeeded: true},
	}, {
		name: "one not ready yet", initDone: true, readyLog: true,
		obs:  []rtapi.ContainerState{running("app", 1), running("log", 1)},
		want: want{statuses: "app=Running log=Running", act: "none", started: true, succeeded: true},
	}, {
		name: "a changed template recreates", initDone: true,
		obs:  []rtapi.ContainerState{running("app", 1), {Name: "log", ID: "log-id", Attempt: 1, Running: true, Generation: "h0"}},
		want: want{statuses: "app=Running log=Running", act: "stop log (TemplateChanged)", started: true, ready: true, succeeded: true},
	}, {
		name: "Never: all completed", initDone: true, policy: cluster.RestartNever,
		obs:  []rtapi.ContainerState{exited("app", 1, 0), exited("log", 1, 0)},
		want: want{statuses: "app=Terminated/Completed log=Terminated/Completed", act: "none", started: true, done: true, succeeded: true},
	}, {
		name: "Never: one failed", initDone: true, policy: cluster.RestartNever,
		obs:  []rtapi.ContainerState{exited("app", 1, 1), exited("log", 1, 0)},
		want: want{statuses: "app=Terminated/Error log=Terminated/Completed", act: "none", started: true, done: true},
	}, {
		name: "Never: one still running", initDone: true, policy: cluster.RestartNever,
		obs:  []rtapi.ContainerState{exited("app", 1, 0), running("log", 1)},
		want: want{statuses: "app=Terminated/Completed log=Running", act: "none", started: true, succeeded: true},
	}, {
		name: "Always by default: a completed one restarts", initDone: true,
		obs:  []rtapi.ContainerState{exited("app", 1, 0), running("log", 1)},
		want: want{statuses: "app=Terminated/Completed log=Running", act: "start app#2", started: true, succeeded: true},
	}, {
		name: "OnFailure: a completed one is done, a failed one restarts", initDone: true, policy: cluster.RestartOnFailure,
		obs:  []rtapi.ContainerState{exited("app", 1, 0), exited("log", 1, 1)},
		want: want{statuses: "app=Terminated/Completed log=Terminated/Error", act: "start log#2", started: true, succeeded: true},
	}, {
		name: "a back-off wakes the pass up, another container's call is made", initDone: true, mem: crashLooping,
		obs: []rtapi.ContainerState{exited("app", 2, 1)},
		want: want{statuses: "app=Waiting/CrashLoopBackOff log=Waiting/ContainerCreating", act: "start log#1", wake: 10 * time.Second,
			started: true, succeeded: true},
	}, {
		name: "no main containers: never done, never ready", initDone: true, noMains: true,
		want: want{act: "none", succeeded: true},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			pod := newPod("p", "app", "log")
			for i := range pod.Spec.Containers {
				pod.Spec.Containers[i].Image = pod.Spec.Containers[i].Name
			}
			if tc.readyLog {
				pod.Spec.Containers[1].ReadinessProbe = &cluster.Probe{Exec: []string{"check"}}
			}
			if tc.noMains {
				pod.Spec.Containers = nil
			}
			pod.Spec.RestartPolicy = tc.policy
			m := passMemory(tc.initDone)
			if tc.mem != nil {
				tc.mem(m)
			}
			in, observed := passInput(pod, tc.obs, nil)
			r := m.mainPass(in, observed)
			var wake time.Duration
			if !r.wakeAt.IsZero() {
				wake = r.wakeAt.Sub(passNow)
			}
			got := want{statusLine(r.statuses), actLine(r.act), wake, r.started, r.ready, r.done, r.succeeded}
			if got != tc.want {
				t.Errorf("mainPass:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPodPhase(t *testing.T) {
	wait := func(name, reason, msg string) cluster.ContainerStatus {
		return cluster.ContainerStatus{Name: name, State: cluster.ContainerWaiting, Reason: reason, Message: msg}
	}
	run := cluster.ContainerStatus{Name: "run", State: cluster.ContainerRunning}
	initDone := initResult{done: true, sidecarsReady: true}
	up := mainResult{started: true, ready: true}
	for _, tc := range []struct {
		name       string
		ini        initResult
		mains      mainResult
		wasRunning bool
		want       phaseResult
	}{{
		name:  "an init container failed for good",
		ini:   initResult{failed: true, statuses: []cluster.ContainerStatus{wait("next", "PodInitializing", "")}},
		mains: mainResult{statuses: []cluster.ContainerStatus{wait("app", "PodInitializing", "")}},
		want:  phaseResult{phase: cluster.PodFailed, reason: "InitContainerFailed"},
	}, {
		name:  "main containers all succeeded",
		ini:   initDone,
		mains: mainResult{started: true, done: true, succeeded: true},
		want:  phaseResult{phase: cluster.PodSucceeded},
	}, {
		name:  "main containers all finished, one failed",
		ini:   initDone,
		mains: mainResult{started: true, done: true},
		want:  phaseResult{phase: cluster.PodFailed},
	}, {
		name:  "main containers done but a sidecar still runs",
		ini:   initResult{done: true, sidecarUp: true, sidecarsReady: true},
		mains: mainResult{started: true, done: true, succeeded: true},
		want:  phaseResult{phase: cluster.PodRunning},
	}, {
		name:  "running and ready",
		ini:   initDone,
		mains: up,
		want:  phaseResult{phase: cluster.PodRunning, ready: true},
	}, {
		name:  "running, a sidecar not ready",
		ini:   initResult{done: true, sidecarUp: true},
		mains: up,
		want:  phaseResult{phase: cluster.PodRunning},
	}, {
		name:  "running, a main container not ready",
		ini:   initDone,
		mains: mainResult{started: true},
		want:  phaseResult{phase: cluster.PodRunning},
	}, {
		name:       "Running stays Running while nothing runs",
		ini:        initDone,
		mains:      mainResult{statuses: []cluster.ContainerStatus{wait("app", "CrashLoopBackOff", "back-off 10s")}},
		wasRunning: true,
		want:       phaseResult{phase: cluster.PodRunning},
	}, {
		name:  "pending: the first waiting init container says why",
		ini:   initResult{statuses: []cluster.ContainerStatus{run, wait("setup", "ImagePullBackOff", "pulling image")}},
		mains: mainResult{statuses: []cluster.ContainerStatus{wait("app", "PodInitializing", "")}},
		want:  phaseResult{phase: cluster.PodPending, reason: "ImagePullBackOff", message: "pulling image"},
	}, {
		name:  "pending: an init container runs, the main containers wait for it",
		ini:   initResult{statuses: []cluster.ContainerStatus{run}},
		mains: mainResult{statuses: []cluster.ContainerStatus{wait("app", "PodInitializing", "")}},
		want:  phaseResult{phase: cluster.PodPending, reason: "PodInitializing"},
	}, {
		name:  "pending: a main container is being created",
		ini:   initDone,
		mains: mainResult{statuses: []cluster.ContainerStatus{wait("app", "ContainerCreating", "")}},
		want:  phaseResult{phase: cluster.PodPending, reason: "ContainerCreating"},
	}, {
		name: "pending: nothing waits",
		ini:  initDone,
		want: phaseResult{phase: cluster.PodPending, reason: "PodInitializing"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if got := podPhase(tc.ini, tc.mains, tc.wasRunning); got != tc.want {
				t.Errorf("podPhase:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestRestarts(t *testing.T) {
	for _, tc := range []struct {
		policy    cluster.RestartPolicy
		failed    bool
		why       string
		noRestart bool
		want      bool
	}{
		{policy: cluster.RestartAlways, want: true},
		{policy: cluster.RestartOnFailure, failed: true, want: true},
		{policy: cluster.RestartOnFailure, want: false},
		{policy: cluster.RestartNever, failed: true, want: false},
		{policy: cluster.RestartNever, why: stopRecreate, want: true},
		{policy: cluster.RestartNever, why: stopFenced, failed: true, want: true},
		{policy: cluster.RestartNever, why: stopUnhealthy, failed: true, want: false},
		{policy: cluster.RestartAlways, why: stopCompleted, want: false},
		{policy: cluster.RestartAlways, why: stopRecreate, noRestart: true, want: false},
	} {
		if got := restarts(tc.policy, tc.failed, tc.why, tc.noRestart); got != tc.want {
			t.Errorf("restarts(%s, failed %v, why %q, noRestart %v) = %v, want %v", tc.policy, tc.failed, tc.why, tc.noRestart, got, tc.want)
		}
	}
}
