package node

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// The step function alone: one runtime call per step, in order, with the
// status it implies.
func TestStepSequence(t *testing.T) {
	m := newPodMemory("192.0.2.1", backoff{base: time.Second, max: time.Minute, reset: time.Hour}, 30*time.Second)
	p := newPod("s", "app")
	now := time.Now()
	in := stepInput{now: now, pod: p}

	d := m.step(in)
	if d.act.kind != actEnsureSandbox || d.status.Phase != cluster.PodPending || d.status.Reason != "ContainerCreating" {
		t.Fatalf("first step = %v %+v", d.act.kind, d.status)
	}
	m.record(d.act, &rtapi.PodSandbox{UID: p.UID, IP: "10.88.0.2"}, nil, now)

	d = m.step(in)
	if d.act.kind != actPullImage || d.act.image != "registry.local/app:1" || d.status.PodIP != "10.88.0.2" {
		t.Fatalf("second step = %+v %+v", d.act, d.status)
	}
	m.record(d.act, nil, nil, now)

	d = m.step(in)
	if d.act.kind != actStartContainer || d.act.attempt != 1 || d.status.Containers[0].Reason != "ContainerCreating" {
		t.Fatalf("third step = %+v %+v", d.act, d.status)
	}
	m.record(d.act, nil, nil, now)

	in.obs = &rtapi.PodState{UID: p.UID, Containers: []rtapi.ContainerState{{Name: "app", ID: "c1", Attempt: 1, Running: true, Generation: "h1"}}}
	d = m.step(in)
	if d.act.kind != actNone || d.status.Phase != cluster.PodRunning || !d.status.Ready {
		t.Fatalf("running step = %+v %+v", d.act, d.status)
	}

	// Two crashes: the first restarts at once, the second backs off and
	// says so with a message that does not change while it waits.
	crash := func(attempt int) {
		in.obs.Containers[0] = rtapi.ContainerState{Name: "app", ID: "c1", Attempt: attempt, Exited: true, ExitCode: 1, Generation: "h1"}
	}
	crash(1)
	if d = m.step(in); d.act.kind != actStartContainer || d.act.attempt != 2 {
		t.Fatalf("first crash: %+v", d.act)
	}
	crash(2)
	d = m.step(in)
	cs := d.status.Containers[0]
	if d.act.kind != actNone || cs.Reason != "CrashLoopBackOff" || cs.RestartCount != 1 || !d.wakeAt.Equal(now.Add(time.Second)) {
		t.Fatalf("second crash: %+v %+v wake %v", d.act, cs, d.wakeAt)
	}
	in.now = now.Add(500 * time.Millisecond)
	if d2 := m.step(in); !statusEqual(*d.status, *d2.status) {
		t.Fatalf("status changed while waiting: %+v → %+v", d.status, d2.status)
	}
	in.now = now.Add(time.Second)
	if d = m.step(in); d.act.kind != actStartContainer || d.act.attempt != 3 {
		t.Fatalf("after the back-off: %+v", d.act)
	}
}

func TestStepFinishedPodStaysFinished(t *testing.T) {
	m := newPodMemory("192.0.2.1", backoff{base: time.Second, max: time.Minute, reset: time.Hour}, 30*time.Second)
	p := newPod("done", "app")
	p.Status.Phase = cluster.PodSucceeded
	// The runtime lost everything (a reboot): the pod is not run again.
	d := m.step(stepInput{now: time.Now(), pod: p})
	if d.act.kind != actNone || d.status.Phase != cluster.PodSucceeded {
		t.Fatalf("finished pod: %+v %+v", d.act, d.status)
	}
}

func TestStepOrphan(t *testing.T) {
	m := newPodMemory("", backoff{base: time.Second, max: time.Minute}, 30*time.Second)
	d := m.step(stepInput{now: time.Now(), obs: &rtapi.PodState{UID: "x"}})
	if d.act.kind != actRemovePod || d.act.grace != 30*time.Second || d.status != nil {
		t.Fatalf("orphan: %+v", d)
	}
	if d = m.step(stepInput{now: time.Now()}); d.act.kind != actNone {
		t.Fatalf("nothing left: %+v", d)
	}
}

// A container the runtime refuses to create as configured waits with
// CreateContainerConfigError and the runtime's message, retried with the
// start back-off (no retry storm); other start failures stay
// RunContainerError.
func TestStepCreateContainerConfigError(t *testing.T) {
	m := newPodMemory("192.0.2.1", backoff{base: time.Second, max: time.Minute, reset: time.Hour}, 30*time.Second)
	p := newPod("nonroot", "app")
	now := time.Now()
	in := stepInput{now: now, pod: p}
	m.record(m.step(in).act, &rtapi.PodSandbox{UID: p.UID, IP: "10.88.0.2"}, nil, now)
	m.record(m.step(in).act, nil, nil, now) // pull
	const msg = `container has runAsNonRoot and image will run as root (pod: "default/nonroot(u)", container: app)`
	cfgErr := fmt.Errorf("start container app of pod default/nonroot: %w", &rtapi.ConfigError{Message: msg})
	for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		d := m.step(in)
		if d.act.kind != actStartContainer {
			t.Fatalf("try %d: %+v", i, d.act)
		}
		m.record(d.act, nil, cfgErr, in.now)
		d = m.step(in)
		cs := d.status.Containers[0]
		if d.act.kind != actNone || cs.State != cluster.ContainerWaiting || cs.Reason != "CreateContainerConfigError" ||
			cs.Message != msg || d.status.Reason != "CreateContainerConfigError" || !d.wakeAt.Equal(in.now.Add(wait)) {
			t.Fatalf("try %d: %+v %+v wake %v", i, d.act, d.status, d.wakeAt)
		}
		in.now = in.now.Add(wait)
	}
	if !errors.Is(cfgErr, rtapi.ErrCreateConfig) {
		t.Fatal("a ConfigError is not ErrCreateConfig")
	}
	if r, _ := startFailure(errors.New("create task: boom")); r != "RunContainerError" {
		t.Fatalf("other failure: %s", r)
	}
}

// TestStepConfigChangeRetriesAtOnce: a configuration error waits out its
// back-off unless the pod's configuration changed since, and containers
// wait for config volumes never written.
func TestStepConfigChangeRetriesAtOnce(t *testing.T) {
	m := newPodMemory("192.0.2.1", backoff{base: time.Minute, max: time.Hour, reset: time.Hour}, 30*time.Second)
	p := newPod("web", "app")
	now := time.Now()
	in := stepInput{now: now, pod: p, config: configState{gen: 1, unwritten: `MountVolume.SetUp failed for volume "cfg": configmap "c" not found`}}
	m.record(m.step(in).act, &rtapi.PodSandbox{UID: p.UID, IP: "10.88.0.2"}, nil, now)
	d := m.step(in)
	if d.act.kind != actNone || d.status.Reason != "ContainerCreating" || d.status.Message != in.config.unwritten || !d.wakeAt.IsZero() {
		t.Fatalf("volumes unwritten: %+v %+v wake %v", d.act, d.status, d.wakeAt)
	}
	in.config.unwritten = ""
	m.record(m.step(in).act, nil, nil, now) // pull
	d = m.step(in)
	if d.act.kind != actStartContainer || d.act.configGen != 1 {
		t.Fatalf("start: %+v", d.act)
	}
	m.record(d.act, nil, &rtapi.ConfigError{Message: `configmap "c" not found`}, now)
	if d = m.step(in); d.act.kind != actNone || d.status.Message != `configmap "c" not found` || !d.wakeAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("same configuration: %+v %+v wake %v", d.act, d.status, d.wakeAt)
	}
	in.config.gen = 2
	if d = m.step(in); d.act.kind != actStartContainer || d.act.configGen != 2 {
		t.Fatalf("configuration changed: %+v, want a start now", d.act)
	}
	// Another error (not a configuration one) keeps its back-off.
	m.record(d.act, nil, errors.New("create task: boom"), now)
	in.config.gen = 3
	if d = m.step(in); d.act.kind != actNone || d.status.Reason != "RunContainerError" {
		t.Fatalf("run error after a configuration change: %+v %+v", d.act, d.status)
	}
}

// A failed pull shows as kubelet shows it: ErrImagePull with the
// registry's message for the first half of the back-off, then
// ImagePullBackOff (the message kept) until the retry, each back-off
// twice the last.
func TestStepImagePullFailure(t *testing.T) {
	m := newPodMemory("192.0.2.1", backoff{base: 10 * time.Second, max: time.Minute, reset: time.Hour}, 30*time.Second)
	p := newPod("img", "app")
	now := time.Now()
	in := stepInput{now: now, pod: p}
	m.record(m.step(in).act, &rtapi.PodSandbox{UID: p.UID, IP: "10.88.0.2"}, nil, now)
	pullErr := errors.New("pull image registry.local/app:1: 401 Unauthorized")
	type want struct {
		at      time.Duration // since the failure
		act     actionKind
		reason  string
		message string
		wake    time.Duration // since the failure; 0: none
	}
	backOff := `Back-off pulling image "registry.local/app:1": ErrImagePull: ` + pullErr.Error()
	for try, delay := range []time.Duration{10 * time.Second, 20 * time.Second} {
		d := m.step(in)
		if d.act.kind != actPullImage {
			t.Fatalf("try %d: %+v, want a pull", try, d.act)
		}
		failedAt := in.now
		m.record(d.act, nil, pullErr, failedAt)
		for _, w := range []want{
			{0, actNone, "ErrImagePull", pullErr.Error(), delay / 2},
			{delay/2 - time.Millisecond, actNone, "ErrImagePull", pullErr.Error(), delay / 2},
			{delay / 2, actNone, "ImagePullBackOff", backOff, delay},
			{delay, actPullImage, "ImagePullBackOff", backOff, 0},
		} {
			in.now = failedAt.Add(w.at)
			d := m.step(in)
			cs := d.status.Containers[0]
			var wake time.Duration
			if !d.wakeAt.IsZero() {
				wake = d.wakeAt.Sub(failedAt)
			}
			if d.act.kind != w.act || cs.State != cluster.ContainerWaiting || cs.Reason != w.reason || cs.Message != w.message ||
				d.status.Reason != w.reason || wake != w.wake {
				t.Errorf("try %d, %v after the failure: %v %+v wake %v; want %v %s %q wake %v",
					try, w.at, d.act.kind, cs, wake, w.act, w.reason, w.message, w.wake)
			}
		}
	}
	m.record(m.step(in).act, nil, nil, in.now)
	if d := m.step(in); d.act.kind != actStartContainer || d.status.Containers[0].Reason != "ContainerCreating" {
		t.Errorf("after a pull that worked: %+v %+v", d.act, d.status.Containers[0])
	}
}
