package node

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

func TestNewPodRunsAndIsReady(t *testing.T) {
	h := start(t, nil, nil)
	h.src.putPod(newPod("web", "app", "log"))
	h.waitFor("web running and ready", func() bool {
		s := h.status("web")
		return s.Phase == cluster.PodRunning && s.Ready
	})
	s := h.status("web")
	if s.PodIP != "127.0.0.1" || s.HostIP != "192.0.2.1" || s.StartedAt.IsZero() {
		t.Errorf("status = %+v, want pod IP, host IP and start time", s)
	}
	if len(s.Containers) != 2 || s.Containers[0].State != cluster.ContainerRunning || !s.Containers[1].Ready {
		t.Errorf("containers = %+v", s.Containers)
	}
	var ops []string
	for _, c := range h.rt.callsOf("") {
		ops = append(ops, c.op+":"+c.container)
	}
	want := "EnsureSandbox:,PullImage:registry.local/app:1,StartContainer:app,PullImage:registry.local/log:1,StartContainer:log"
	if joined(ops) != want {
		t.Errorf("calls = %s\nwant    %s", joined(ops), want)
	}
}

func TestCrashRestartsWithBackoff(t *testing.T) {
	h := start(t, func(h *harness) {
		h.rt.onStart = func(*cluster.Pod, cluster.Container, int) *exitSpec { return &exitSpec{code: 2} }
	}, nil)
	p := newPod("crash", "app")
	h.src.putPod(p)
	h.waitFor("four starts", func() bool { return len(startsOf(h.rt.callsOf("StartContainer"), p.UID)) >= 4 })
	starts := h.rt.callsOf("StartContainer")
	for i, c := range starts[:4] {
		if c.attempt != i+1 {
			t.Errorf("start %d has attempt %d", i, c.attempt)
		}
	}
	// First restart at once, then 20ms, 40ms: the gaps grow.
	if gap := starts[3].at.Sub(starts[2].at); gap < 40*time.Millisecond {
		t.Errorf("third restart after %v, want ≥ 40ms of back-off", gap)
	}
	h.waitFor("CrashLoopBackOff reported", func() bool {
		return h.rep.sawStatus(p.UID, func(s cluster.PodStatus) bool {
			return len(s.Containers) == 1 && s.Containers[0].Reason == "CrashLoopBackOff" &&
				s.Containers[0].LastTermination == "Error" && s.Containers[0].LastExitCode == 2 &&
				s.Containers[0].RestartCount >= 1 && s.Phase == cluster.PodRunning
		})
	})
	h.waitFor("restart count reported", func() bool { return h.ctrStatus("crash", "app").RestartCount >= 3 })
}

func TestBackoffCapsAndResetsAfterLongRun(t *testing.T) {
	b := backoff{base: 10 * time.Second, max: 5 * time.Minute}
	for n, want := range map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 6: 5 * time.Minute, 60: 5 * time.Minute} {
		if got := b.delay(n); got != want {
			t.Errorf("delay(%d) = %v, want %v", n, got, want)
		}
	}

	h := start(t, nil, func(c *Config) { c.BackoffBase, c.BackoffMax = time.Hour, time.Hour })
	p := newPod("long", "app")
	h.src.putPod(p)
	h.waitFor("running", func() bool { return h.status("long").Ready })
	// Two quick crashes: the second one waits an hour.
	h.rt.exit(p.UID, "app", 1, false)
	h.waitFor("restarted once", func() bool { return len(startsOf(h.rt.callsOf(""), p.UID)) == 2 })
	h.waitFor("running again", func() bool { c, _ := h.rt.container(p.UID, "app"); return c.Running })
	// This run lasts 11 minutes (on the fake clock): the back-off resets,
	// so the restart is immediate rather than an hour away.
	h.clock.Advance(11 * time.Minute)
	h.rt.exit(p.UID, "app", 1, false)
	h.waitFor("restarted at once after a long run", func() bool { return len(startsOf(h.rt.callsOf(""), p.UID)) == 3 })
	h.rt.exit(p.UID, "app", 1, false)
	h.waitFor("CrashLoopBackOff", func() bool { return h.ctrStatus("long", "app").Reason == "CrashLoopBackOff" })
}

func TestOOMKilledIsLastTermination(t *testing.T) {
	h := start(t, nil, nil)
	p := newPod("oom", "app")
	h.src.putPod(p)
	h.waitFor("running", func() bool { return h.status("oom").Ready })
	h.rt.exit(p.UID, "app", 137, true)
	h.waitFor("restarted with OOMKilled kept", func() bool {
		c := h.ctrStatus("oom", "app")
		return c.State == cluster.ContainerRunning && c.RestartCount == 1 &&
			c.LastTermination == "OOMKilled" && c.LastExitCode == 137
	})
}

func TestRestartPolicies(t *testing.T) {
	h := start(t, func(h *harness) {
		h.rt.onStart = func(p *cluster.Pod, c cluster.Container, attempt int) *exitSpec {
			switch {
			case strings.HasSuffix(p.Name, "-ok"):
				return &exitSpec{code: 0}
			case p.Name == "onfailure-bad" && attempt >= 3:
				return &exitSpec{code: 0} // succeeds on the third try
			default:
				return &exitSpec{code: 1}
			}
		}
	}, nil)
	for _, tc := range []struct {
		name   string
		policy cluster.RestartPolicy
	}{{"never-ok", cluster.RestartNever}, {"never-bad", cluster.RestartNever}, {"onfailure-ok", cluster.RestartOnFailure}, {"onfailure-bad", cluster.RestartOnFailure}} {
		p := newPod(tc.name, "job")
		p.Spec.RestartPolicy = tc.policy
		h.src.putPod(p)
	}
	want := map[string]cluster.PodPhase{"never-ok": cluster.PodSucceeded, "never-bad": cluster.PodFailed, "onfailure-ok": cluster.PodSucceeded, "onfailure-bad": cluster.PodSucceeded}
	for name, phase := range want {
		h.waitFor(name+" "+string(phase), func() bool { return h.status(name).Phase == phase })
	}
	h.settle(3)
	calls := h.rt.callsOf("")
	for name, n := range map[string]int{"never-ok": 1, "never-bad": 1, "onfailure-ok": 1, "onfailure-bad": 3} {
		if got := len(startsOf(calls, name+"-uid")); got != n {
			t.Errorf("%s started %d times, want %d", name, got, n)
		}
	}
	if c := h.ctrStatus("never-bad", "job"); c.State != cluster.ContainerTerminated || c.Reason != "Error" || c.ExitCode != 1 {
		t.Errorf("never-bad container = %+v", c)
	}
	if h.status("never-ok").Ready {
		t.Errorf("a finished pod is not ready")
	}
}

func TestLivenessFailureRestarts(t *testing.T) {
	var failing atomic.Bool
	h := start(t, func(h *harness) {
		h.rt.exec = func(uid, container string, cmd []string) (int, error) {
			// Only the first run of the container turns unhealthy.
			if c, _ := h.rt.container(uid, container); failing.Load() && c.Attempt == 1 {
				return 1, nil
			}
			return 0, nil
		}
	}, nil)
	p := newPod("live", "app")
	p.Spec.TerminationGracePeriodSeconds = 3
	p.Spec.Containers[0].LivenessProbe = &cluster.Probe{Exec: []string{"check"}, PeriodSeconds: 1, FailureThreshold: 2}
	h.src.putPod(p)
	h.waitFor("running", func() bool { return h.status("live").Ready })
	failing.Store(true)
	h.waitFor("stopped for liveness", func() bool { return len(h.rt.callsOf("StopContainer")) > 0 })
	if g := h.rt.callsOf("StopContainer")[0].grace; g != 3*time.Second {
		t.Errorf("stopped with grace %v, want 3s", g)
	}
	h.waitFor("restarted and reported Unhealthy", func() bool {
		c := h.ctrStatus("live", "app")
		return c.State == cluster.ContainerRunning && c.RestartCount == 1 &&
			c.LastTermination == "Unhealthy" && strings.Contains(c.Message, "liveness probe failed")
	})
}

// TestRuntimeOutageDoesNotChurnPods: while containerd is down (listings
// and execs fail, the agent's monitor says the runtime is not ready) a
// running pod's status does not change: exec probes that cannot reach the
// container neither restart it nor make it unready. The same failures with
// the runtime ready are the container's, and restart it.
func TestRuntimeOutageDoesNotChurnPods(t *testing.T) {
	var down atomic.Bool
	h := start(t, func(h *harness) {
		h.rt.exec = func(uid, container string, cmd []string) (int, error) {
			if down.Load() {
				return 0, errors.New("connection refused")
			}
			return 0, nil
		}
	}, func(c *Config) { c.RuntimeReady = func() bool { return !down.Load() } })
	p := newPod("steady", "app")
	p.Spec.Containers[0].LivenessProbe = &cluster.Probe{Exec: []string{"live"}, PeriodSeconds: 1, FailureThreshold: 1}
	p.Spec.Containers[0].ReadinessProbe = &cluster.Probe{Exec: []string{"ready"}, PeriodSeconds: 1, FailureThreshold: 1}
	h.src.putPod(p)
	h.waitFor("running and ready", func() bool { return h.status("steady").Ready })
	h.settle(3)
	before := h.status("steady")
	reports := h.rep.calls()

	h.rt.mu.Lock()
	h.rt.listErr = errors.New("list pods: connection refused")
	h.rt.mu.Unlock()
	down.Store(true)
	h.settle(20) // 20 failed listings, some 60 probe periods
	h.rt.mu.Lock()
	h.rt.listErr = nil
	h.rt.mu.Unlock()
	down.Store(false)
	h.settle(5)

	after := h.status("steady")
	if !statusEqual(before, after) || !after.Ready || after.Phase != cluster.PodRunning {
		t.Errorf("status changed across the outage:\nbefore %+v\nafter  %+v", before, after)
	}
	if n := len(startsOf(h.rt.callsOf(""), p.UID)); n != 1 || len(h.rt.callsOf("StopContainer")) != 0 {
		t.Errorf("the outage restarted the container: calls %v", h.rt.callsOf(""))
	}
	if n := h.rep.calls(); n != reports {
		t.Errorf("%d status reports during the outage, want none", n-reports)
	}

	// The runtime ready and the command failing to run: the container's
	// problem, as before.
	h.rt.mu.Lock()
	h.rt.exec = func(string, string, []string) (int, error) { return 0, errors.New("exec: no such file") }
	h.rt.mu.Unlock()
	h.waitFor("restarted for liveness", func() bool { return len(h.rt.callsOf("StopContainer")) > 0 })
}

// TestUnansweredExecProbe: a hung containerd fails every exec (a deadline
// before the command started) seconds before the runtime monitor marks
// the runtime not ready. Such failures count neither way: a healthy
// container is not restarted for them, nor made unready; a command that
// runs and fails still is.
func TestUnansweredExecProbe(t *testing.T) {
	var hung atomic.Bool
	h := start(t, func(h *harness) {
		h.rt.exec = func(uid, container string, cmd []string) (int, error) {
			if hung.Load() {
				return 0, fmt.Errorf("exec in container %s: %w: context deadline exceeded", container, rtapi.ErrRuntimeUnresponsive)
			}
			return 0, nil
		}
	}, nil)
	p := newPod("hung", "app")
	p.Spec.Containers[0].LivenessProbe = &cluster.Probe{Exec: []string{"live"}, PeriodSeconds: 1, FailureThreshold: 1}
	p.Spec.Containers[0].ReadinessProbe = &cluster.Probe{Exec: []string{"ready"}, PeriodSeconds: 1, FailureThreshold: 1}
	h.src.putPod(p)
	h.waitFor("running and ready", func() bool { return h.status("hung").Ready })
	hung.Store(true)
	live := len(h.rt.execsOf("live"))
	// Each probe fails several times over: once would already have
	// restarted the container (FailureThreshold 1).
	h.waitFor("liveness probes while hung", func() bool { return len(h.rt.execsOf("live")) >= live+4 })
	h.settle(2)
	if st := h.status("hung"); !st.Ready || len(h.rt.callsOf("StopContainer")) != 0 {
		t.Fatalf("unanswered execs changed the pod: ready %v, calls %v", st.Ready, h.rt.callsOf(""))
	}
	h.rt.mu.Lock()
	h.rt.exec = func(string, string, []string) (int, error) { return 1, nil }
	h.rt.mu.Unlock()
	h.waitFor("restarted for liveness", func() bool { return len(h.rt.callsOf("StopContainer")) > 0 })
}

func TestReadinessProbe(t *testing.T) {
	var ready atomic.Bool
	h := start(t, func(h *harness) {
		h.rt.exec = func(uid, container string, cmd []string) (int, error) {
			if ready.Load() {
				return 0, nil
			}
			return 1, nil
		}
	}, nil)
	p := newPod("ready", "app")
	p.Spec.Containers[0].ReadinessProbe = &cluster.Probe{Exec: []string{"check"}, PeriodSeconds: 1, FailureThreshold: 1}
	h.src.putPod(p)
	h.waitFor("running", func() bool { return h.status("ready").Phase == cluster.PodRunning })
	h.settle(3)
	if h.status("ready").Ready {
		t.Fatalf("ready before the readiness probe passed")
	}
	ready.Store(true)
	h.waitFor("ready", func() bool { return h.status("ready").Ready && h.ctrStatus("ready", "app").Ready })
	ready.Store(false)
	h.waitFor("not ready again", func() bool {
		return !h.status("ready").Ready && strings.Contains(h.ctrStatus("ready", "app").Message, "readiness probe failed")
	})
	if n := len(startsOf(h.rt.callsOf(""), p.UID)); n != 1 {
		t.Errorf("a readiness failure restarted the container (%d starts)", n)
	}
}

func TestHTTPAndTCPProbesWithStartupGate(t *testing.T) {
	var healthz atomic.Int32
	healthz.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(int(healthz.Load()))
	}))
	defer srv.Close()
	_, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)

	h := start(t, nil, nil)
	p := newPod("probes", "app")
	c := &p.Spec.Containers[0]
	c.Ports = []cluster.ContainerPort{{Name: "http", ContainerPort: int32(port)}}
	c.StartupProbe = &cluster.Probe{HTTPGet: &cluster.HTTPGetAction{Path: "/healthz", PortName: "http"}, PeriodSeconds: 1, FailureThreshold: 1000, TimeoutSeconds: 100}
	// Timeouts of 100 probe "seconds" (1s): a loaded test machine is slow.
	c.ReadinessProbe = &cluster.Probe{TCPSocket: &cluster.TCPSocketAction{Port: int32(port)}, PeriodSeconds: 1, TimeoutSeconds: 100}
	h.src.putPod(p)
	h.waitFor("running", func() bool { return h.status("probes").Phase == cluster.PodRunning })
	h.settle(3)
	if h.status("probes").Ready {
		t.Fatalf("ready before the startup probe passed")
	}
	healthz.Store(http.StatusOK)
	h.waitFor("ready once started and reachable", func() bool { return h.status("probes").Ready })
}

func TestImagePullBackOff(t *testing.T) {
	h := start(t, func(h *harness) {
		h.rt.pullErr["registry.local/app:1"] = errors.New("manifest unknown")
	}, nil)
	p := newPod("img", "app")
	h.src.putPod(p)
	h.waitFor("ImagePullBackOff", func() bool {
		s := h.status("img")
		return s.Phase == cluster.PodPending && s.Reason == "ImagePullBackOff" &&
			len(s.Containers) == 1 && s.Containers[0].Reason == "ImagePullBackOff" &&
			strings.Contains(s.Containers[0].Message, "manifest unknown")
	})
	h.waitFor("pull retried", func() bool { return len(h.rt.callsOf("PullImage")) >= 3 })
	h.rt.mu.Lock()
	delete(h.rt.pullErr, "registry.local/app:1")
	h.rt.mu.Unlock()
	h.waitFor("running once the image pulls", func() bool { return h.status("img").Ready })
}

func TestTerminatingPodRemovedThenStoppedReported(t *testing.T) {
	h := start(t, nil, nil)
	p := newPod("term", "app")
	p.Spec.TerminationGracePeriodSeconds = 7
	h.src.putPod(p)
	h.waitFor("running", func() bool { return h.status("term").Ready })
	// The leader loses the first Stopped report: the node sends it again.
	var lost atomic.Bool
	h.rep.mu.Lock()
	h.rep.lose = func(u cluster.PodStatusUpdate) bool { return u.Status.Stopped && !lost.Swap(true) }
	h.rep.mu.Unlock()
	h.src.modify(cluster.DefaultNamespace, "term", func(p *cluster.Pod) { p.Terminating = true })
	h.waitFor("Stopped in the state", func() bool { return h.status("term").Stopped })
	if !lost.Load() {
		t.Errorf("the first Stopped report was not the one lost")
	}
	rm := h.rt.callsOf("RemovePod")
	if len(rm) != 1 || rm[0].uid != p.UID || rm[0].grace != 7*time.Second {
		t.Errorf("RemovePod calls = %+v, want one with 7s grace", rm)
	}
	if h.rt.has(p.UID) {
		t.Errorf("runtime still holds the pod")
	}
	// The leader deletes it; nothing more happens.
	h.src.update(func(t *cluster.Txn) { t.DeletePod(cluster.DefaultNamespace, "term") })
	h.settle(3)
	if n := len(h.rt.callsOf("RemovePod")); n != 1 {
		t.Errorf("RemovePod called %d times", n)
	}
}

func TestOrphansAndReplacedPodsRemoved(t *testing.T) {
	h := start(t, func(h *harness) {
		h.rt.put(rtapi.PodState{UID: "gone-uid", Namespace: "default", Name: "gone",
			Sandbox:    &rtapi.PodSandbox{UID: "gone-uid", IP: "10.88.0.9"},
			Containers: []rtapi.ContainerState{{Name: "app", ID: "x", Running: true, Attempt: 1}}})
		h.rt.put(rtapi.PodState{UID: "web-old", Namespace: "default", Name: "web",
			Sandbox:    &rtapi.PodSandbox{UID: "web-old", IP: "10.88.0.8"},
			Containers: []rtapi.ContainerState{{Name: "app", ID: "y", Running: true, Attempt: 1, Generation: "h1"}}})
		h.src.putPod(newPod("web", "app")) // same name, new UID
	}, nil)
	h.waitFor("orphans removed", func() bool { return !h.rt.has("gone-uid") && !h.rt.has("web-old") })
	h.waitFor("the new web running", func() bool { return h.status("web").Ready })
	for _, c := range h.rt.callsOf("RemovePod") {
		if c.uid == "web-uid" {
			t.Errorf("removed the desired pod")
		}
		if c.grace != 30*time.Second {
			t.Errorf("orphan removed with grace %v, want the 30s default", c.grace)
		}
	}
}

func TestAdoptsRunningPodsAfterRestart(t *testing.T) {
	started := time.Now().Add(-time.Hour)
	h := start(t, func(h *harness) {
		p := newPod("db", "app", "side")
		p.Status = cluster.PodStatus{Phase: cluster.PodRunning, StartedAt: started}
		h.src.putPod(p)
		h.rt.put(rtapi.PodState{UID: p.UID, Namespace: "default", Name: "db",
			Sandbox: &rtapi.PodSandbox{UID: p.UID, IP: "10.88.0.7"},
			Containers: []rtapi.ContainerState{
				{Name: "app", ID: "a", Running: true, Attempt: 3, Generation: "h1", StartedAt: started},
				{Name: "side", ID: "s", Running: true, Attempt: 1, Generation: "h1", StartedAt: started},
			}})
	}, nil)
	h.waitFor("adopted and ready", func() bool {
		s := h.status("db")
		return s.Ready && s.PodIP == "10.88.0.7" && s.Containers[0].RestartCount == 2
	})
	h.settle(5)
	for _, c := range h.rt.callsOf("") {
		if c.op != "PullImage" && c.op != "EnsureSandbox" {
			t.Errorf("adoption made a %s call", c.op)
		}
	}
	if s := h.status("db"); !s.StartedAt.Equal(started) {
		t.Errorf("StartedAt = %v, want the original %v", s.StartedAt, started)
	}
}

func TestTemplateChangeRecreatesContainer(t *testing.T) {
	h := start(t, nil, nil)
	p := newPod("tpl", "app")
	h.src.putPod(p)
	h.waitFor("running", func() bool { return h.status("tpl").Ready })
	h.src.modify(cluster.DefaultNamespace, "tpl", func(p *cluster.Pod) { p.TemplateHash = "h2" })
	h.waitFor("recreated with the new generation", func() bool {
		c, _ := h.rt.container(p.UID, "app")
		return c.Running && c.Generation == "h2"
	})
	if n := len(h.rt.callsOf("StopContainer")); n != 1 {
		t.Errorf("StopContainer called %d times, want 1", n)
	}
	h.waitFor("ready again", func() bool { return h.status("tpl").Ready })
	if c := h.ctrStatus("tpl", "app"); c.LastTermination != "" || c.Reason == "CrashLoopBackOff" {
		t.Errorf("a recreate counted as a crash: %+v", c)
	}
}

func TestReportsAreBatched(t *testing.T) {
	const n = 40
	h := start(t, nil, func(c *Config) { c.ReportInterval = 250 * time.Millisecond })
	h.src.update(func(t *cluster.Txn) {
		for i := range n {
			t.PutPod(newPod(fmt.Sprintf("p%02d", i), "app"))
		}
	})
	h.waitFor("all running", func() bool {
		for i := range n {
			if !h.status(fmt.Sprintf("p%02d", i)).Ready {
				return false
			}
		}
		return true
	})
	if c := h.rep.calls(); c > 10 {
		t.Errorf("%d ReportStatus calls for %d pods, want a few batches", c, n)
	}
	// Nothing changes any more, so nothing is sent.
	before := h.rep.calls()
	h.settle(5)
	if after := h.rep.calls(); after != before {
		t.Errorf("%d reports sent without a status change", after-before)
	}
}

func TestInitContainersThenSidecarsThenContainers(t *testing.T) {
	h := start(t, func(h *harness) {
		h.rt.onStart = func(p *cluster.Pod, c cluster.Container, attempt int) *exitSpec {
			switch {
			case c.Name == "migrate" && attempt == 1:
				return &exitSpec{code: 1} // fails once, then succeeds
			case c.Name == "migrate" || c.Name == "setup":
				return &exitSpec{code: 0}
			}
			return nil
		}
	}, nil)
	p := newPod("init", "app")
	p.Spec.InitContainers = []cluster.Container{
		{Name: "setup", Image: "busybox"},
		{Name: "proxy", Image: "envoy", RestartPolicy: cluster.RestartAlways},
		{Name: "migrate", Image: "busybox"},
	}
	h.src.putPod(p)
	h.waitFor("running", func() bool { return h.status("init").Ready })
	if got := joined(startsOf(h.rt.callsOf(""), p.UID)); got != "setup,proxy,migrate,migrate,app" {
		t.Errorf("start order = %s", got)
	}
	if c, _ := h.rt.container(p.UID, "proxy"); !c.Running {
		t.Errorf("sidecar not kept running")
	}
	s := h.status("init")
	if len(s.Containers) != 4 || s.Containers[0].Reason != "Completed" || s.Containers[1].State != cluster.ContainerRunning {
		t.Errorf("containers = %+v", s.Containers)
	}
	// A sidecar that dies is restarted; the init containers never rerun.
	h.rt.exit(p.UID, "proxy", 1, false)
	h.waitFor("sidecar restarted", func() bool { c, _ := h.rt.container(p.UID, "proxy"); return c.Running && c.Attempt == 2 })
	h.rt.exit(p.UID, "app", 1, false)
	h.waitFor("app restarted", func() bool { c, _ := h.rt.container(p.UID, "app"); return c.Running && c.Attempt == 2 })
	if got := joined(startsOf(h.rt.callsOf(""), p.UID)); strings.Count(got, "setup") != 1 {
		t.Errorf("init containers ran again: %s", got)
	}
}

func TestSidecarStoppedWhenJobCompletes(t *testing.T) {
	h := start(t, func(h *harness) {
		h.rt.onStart = func(p *cluster.Pod, c cluster.Container, attempt int) *exitSpec {
			if c.Name == "job" {
				return &exitSpec{code: 0}
			}
			return nil
		}
	}, nil)
	p := newPod("job", "job")
	p.Spec.RestartPolicy = cluster.RestartNever
	p.Spec.InitContainers = []cluster.Container{{Name: "proxy", Image: "envoy", RestartPolicy: cluster.RestartAlways}}
	h.src.putPod(p)
	h.waitFor("Succeeded", func() bool { return h.status("job").Phase == cluster.PodSucceeded })
	if c, _ := h.rt.container(p.UID, "proxy"); c.Running {
		t.Errorf("sidecar still running after the job completed")
	}
}

func TestInitContainerFailureFailsNeverPod(t *testing.T) {
	h := start(t, func(h *harness) {
		h.rt.onStart = func(*cluster.Pod, cluster.Container, int) *exitSpec { return &exitSpec{code: 3} }
	}, nil)
	p := newPod("bad-init", "app")
	p.Spec.RestartPolicy = cluster.RestartNever
	p.Spec.InitContainers = []cluster.Container{{Name: "setup", Image: "busybox"}}
	h.src.putPod(p)
	h.waitFor("Failed", func() bool { return h.status("bad-init").Phase == cluster.PodFailed })
	if got := joined(startsOf(h.rt.callsOf(""), p.UID)); got != "setup" {
		t.Errorf("starts = %s, want only the init container once", got)
	}
}

// After a start the worker reads its own pod: the status says Running
// without a listing of every pod, however long that takes.
func TestStartReportedWithoutListing(t *testing.T) {
	h := start(t, nil, nil)
	h.waitFor("first listing", func() bool { return h.rt.lists.Load() > 0 })
	h.rt.listsStall.Store(true)
	p := newPod("web", "app")
	h.src.putPod(p)
	h.waitFor("web reported Running", func() bool {
		return h.rep.sawStatus(p.UID, func(s cluster.PodStatus) bool { return s.Phase == cluster.PodRunning })
	})
	if n := len(startsOf(h.rt.callsOf("StartContainer"), p.UID)); n != 1 {
		t.Errorf("%d starts, want 1", n)
	}
}

// Sandbox setups and container starts share MaxParallelStarts slots.
func TestStartsBounded(t *testing.T) {
	for _, limit := range []int{1, 3} {
		var inFlight, most atomic.Int64
		h := start(t, func(h *harness) {
			h.rt.during = func() {
				n := inFlight.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(5 * time.Millisecond)
				inFlight.Add(-1)
			}
		}, func(c *Config) { c.MaxParallelStarts = limit })
		var pods []*cluster.Pod
		for i := range 8 {
			p := newPod(fmt.Sprintf("p%d-%d", limit, i), "app")
			pods = append(pods, p)
			h.src.putPod(p)
		}
		h.waitFor("every pod Running", func() bool {
			for _, p := range pods {
				if h.status(p.Name).Phase != cluster.PodRunning {
					return false
				}
			}
			return true
		})
		if m := most.Load(); m > int64(limit) || m < 1 {
			t.Errorf("limit %d: %d starts at once", limit, m)
		}
	}
}
