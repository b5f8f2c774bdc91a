package node

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"shoal/cluster"
)

func execHook(cmd ...string) *cluster.LifecycleHandler { return &cluster.LifecycleHandler{Exec: cmd} }

// TestPostStartHook: the container is Waiting while its postStart hook
// runs and Running once it succeeded; the hook runs once per start.
func TestPostStartHook(t *testing.T) {
	release := make(chan struct{})
	h := start(t, func(h *harness) {
		h.rt.execCtx = func(ctx context.Context, _, _ string, cmd []string) (int, error) {
			if cmd[0] == "warm-up" {
				select {
				case <-release:
				case <-ctx.Done():
					return 0, ctx.Err()
				}
			}
			return 0, nil
		}
	}, nil)
	p := newPod("hooked", "app")
	p.Spec.Containers[0].Lifecycle = &cluster.Lifecycle{PostStart: execHook("warm-up")}
	h.src.putPod(p)
	h.waitFor("hook started", func() bool { return len(h.rt.execsOf("warm-up")) == 1 })
	h.settle(3)
	if s := h.ctrStatus("hooked", "app"); s.State != cluster.ContainerWaiting || s.Reason != "ContainerCreating" || h.status("hooked").Ready {
		t.Fatalf("while postStart runs: container %+v, want Waiting (ContainerCreating), not ready", s)
	}
	close(release)
	h.waitFor("running and ready after the hook", func() bool {
		return h.status("hooked").Ready && h.ctrStatus("hooked", "app").State == cluster.ContainerRunning
	})
	h.settle(3)
	if n := len(h.rt.execsOf("warm-up")); n != 1 {
		t.Errorf("postStart ran %d times, want once", n)
	}
}

// TestPostStartHookFailure: a failing postStart hook stops the container,
// which restarts under the pod's policy, with FailedPostStartHook and the
// hook's message in its status; under Never the pod fails.
func TestPostStartHookFailure(t *testing.T) {
	for _, tc := range []struct {
		policy   cluster.RestartPolicy
		restarts bool
	}{{cluster.RestartAlways, true}, {cluster.RestartOnFailure, true}, {cluster.RestartNever, false}} {
		t.Run(string(tc.policy), func(t *testing.T) {
			h := start(t, func(h *harness) {
				h.rt.exec = func(_, _ string, cmd []string) (int, error) {
					if cmd[0] == "fail" {
						return 3, nil
					}
					return 0, nil
				}
			}, nil)
			p := newPod("bad", "app")
			p.Spec.RestartPolicy = tc.policy
			p.Spec.Containers[0].Lifecycle = &cluster.Lifecycle{PostStart: execHook("fail")}
			h.src.putPod(p)
			h.waitFor("stopped for the hook", func() bool { return len(h.rt.callsOf("StopContainer")) > 0 })
			if !tc.restarts {
				h.waitFor("pod failed", func() bool {
					s := h.status("bad")
					return s.Phase == cluster.PodFailed && len(s.Containers) == 1 &&
						s.Containers[0].State == cluster.ContainerTerminated &&
						s.Containers[0].LastTermination == reasonPostStartHook
				})
				h.settle(3)
				if n := len(startsOf(h.rt.callsOf(""), p.UID)); n != 1 {
					t.Errorf("%d starts under Never, want 1", n)
				}
				return
			}
			h.waitFor("restarted, reason shown", func() bool {
				c := h.ctrStatus("bad", "app")
				return c.RestartCount >= 1 && c.LastTermination == reasonPostStartHook &&
					strings.Contains(c.LastMessage, `Exec lifecycle hook ([fail]) for Container "app" in Pod "default/bad" failed - error: command 'fail' exited with 3`)
			})
		})
	}
}

// TestPostStartCutShortByDeletion: a hanging postStart hook does not hold
// up the removal of its pod, and is not counted as the container's fault.
func TestPostStartCutShortByDeletion(t *testing.T) {
	h := start(t, func(h *harness) {
		h.rt.execCtx = func(ctx context.Context, _, _ string, _ []string) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		}
	}, nil)
	p := newPod("hang", "app")
	p.Spec.Containers[0].Lifecycle = &cluster.Lifecycle{PostStart: execHook("hang")}
	h.src.putPod(p)
	h.waitFor("hook started", func() bool { return len(h.rt.execsOf("hang")) == 1 })
	h.src.modify(cluster.DefaultNamespace, "hang", func(p *cluster.Pod) { p.Terminating = true })
	h.waitFor("removed", func() bool { return h.status("hang").Stopped })
	if s := h.ctrStatus("hang", "app"); s.LastTermination == reasonPostStartHook {
		t.Errorf("a hook cut short by the deletion counted as failed: %+v", s)
	}
}

// TestPreStopHook: preStop runs before SIGTERM when the pod is deleted,
// when a liveness probe fails, and not when the pod is evicted; its time
// comes out of the grace period.
func TestPreStopHook(t *testing.T) {
	var unhealthy atomic.Bool
	h := start(t, func(h *harness) {
		h.rt.exec = func(uid, container string, cmd []string) (int, error) {
			switch {
			case cmd[0] == "live" && unhealthy.Load():
				// Only the first run turns unhealthy.
				if c, _ := h.rt.container(uid, container); c.Attempt == 1 {
					return 1, nil
				}
			case cmd[0] == "drain":
				time.Sleep(300 * time.Millisecond)
			}
			return 0, nil
		}
	}, nil)
	p := newPod("drain", "app", "log")
	p.Spec.TerminationGracePeriodSeconds = 5
	app := &p.Spec.Containers[0]
	app.Lifecycle = &cluster.Lifecycle{PreStop: execHook("drain")}
	app.LivenessProbe = &cluster.Probe{Exec: []string{"live"}, PeriodSeconds: 1, FailureThreshold: 1}
	h.src.putPod(p)
	h.waitFor("running", func() bool { return h.status("drain").Ready })

	// Liveness: the hook, then SIGTERM with the rest of the grace period.
	unhealthy.Store(true)
	h.waitFor("stopped for liveness", func() bool { return len(h.rt.callsOf("StopContainer")) == 1 })
	hooks, stop := h.rt.execsOf("drain"), h.rt.callsOf("StopContainer")[0]
	if len(hooks) != 1 || !hooks[0].at.Before(stop.at) || stop.at.Sub(hooks[0].at) < 300*time.Millisecond {
		t.Fatalf("preStop %v, stop at %v: want the hook to end before SIGTERM", hooks, stop.at)
	}
	if stop.grace >= 5*time.Second || stop.grace < 4*time.Second {
		t.Errorf("SIGTERM grace %v, want 5s less the hook's time", stop.grace)
	}
	h.waitFor("restarted", func() bool { return h.ctrStatus("drain", "app").RestartCount == 1 && h.status("drain").Ready })

	// Deletion: the container with the hook is stopped after it, the one
	// without at once, then the pod is removed.
	h.src.modify(cluster.DefaultNamespace, "drain", func(p *cluster.Pod) { p.Terminating = true })
	h.waitFor("removed", func() bool { return h.status("drain").Stopped })
	hooks = h.rt.execsOf("drain")
	if len(hooks) != 2 {
		t.Fatalf("preStop ran %d times, want twice", len(hooks))
	}
	var appStop, logStop time.Time
	for _, c := range h.rt.callsOf("StopContainer")[1:] {
		switch c.container {
		case "app":
			appStop = c.at
		case "log":
			logStop = c.at
		}
	}
	rm := h.rt.callsOf("RemovePod")
	switch {
	case appStop.IsZero() || logStop.IsZero() || len(rm) != 1:
		t.Fatalf("stops app %v, log %v, removals %d", appStop, logStop, len(rm))
	case appStop.Sub(hooks[1].at) < 300*time.Millisecond:
		t.Errorf("app stopped %v after its hook began, want after the hook", appStop.Sub(hooks[1].at))
	case !logStop.Before(appStop) || logStop.Sub(hooks[1].at) > 200*time.Millisecond:
		t.Errorf("log (no hook) stopped %v after app's hook began: want at once", logStop.Sub(hooks[1].at))
	case rm[0].at.Before(appStop):
		t.Errorf("pod removed before its containers stopped")
	}
}

// TestPreStopHookBoundedByGrace: a preStop hook that outlasts the grace
// period is cut off at its end, and SIGTERM still gets the kubelet's
// minimum of 2 s.
func TestPreStopHookBoundedByGrace(t *testing.T) {
	h := start(t, nil, nil)
	p := newPod("slow", "app")
	p.Spec.TerminationGracePeriodSeconds = 1
	p.Spec.Containers[0].Lifecycle = &cluster.Lifecycle{PreStop: &cluster.LifecycleHandler{Sleep: &cluster.SleepAction{Seconds: 30}}}
	h.src.putPod(p)
	h.waitFor("running", func() bool { return h.status("slow").Ready })
	began := time.Now()
	h.src.modify(cluster.DefaultNamespace, "slow", func(p *cluster.Pod) { p.Terminating = true })
	h.waitFor("removed", func() bool { return h.status("slow").Stopped })
	stops := h.rt.callsOf("StopContainer")
	if len(stops) != 1 || stops[0].grace != minStopGrace {
		t.Fatalf("stops %+v, want one with the minimum grace %v", stops, minStopGrace)
	}
	if d := stops[0].at.Sub(began); d < time.Second || d > 5*time.Second {
		t.Errorf("SIGTERM %v after deletion, want when the 1s grace period ended", d)
	}
}

func TestHookRunner(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	_, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	rt := newFakeRuntime(&fakeClock{})
	rt.exec = func(_, _ string, cmd []string) (int, error) { return len(cmd) - 1, nil }
	hr := hookRunner{rt: rt, podUID: "u", podKey: "default/p", podIP: "127.0.0.1"}
	c := cluster.Container{Name: "app", Ports: []cluster.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}
	for _, tc := range []struct {
		name string
		h    cluster.LifecycleHandler
		ok   bool
		msg  string
	}{
		{"exec succeeds", cluster.LifecycleHandler{Exec: []string{"true"}}, true, ""},
		{"exec fails", cluster.LifecycleHandler{Exec: []string{"sh", "-c"}}, false, `Exec lifecycle hook ([sh -c]) for Container "app" in Pod "default/p" failed - error: command 'sh -c' exited with 1`},
		// The kubelet does not look at the status code of a hook's GET.
		{"http answers 500", cluster.LifecycleHandler{HTTPGet: &cluster.HTTPGetAction{Path: "/quit", PortName: "web"}}, true, ""},
		{"https answered in http", cluster.LifecycleHandler{HTTPGet: &cluster.HTTPGetAction{Path: "/quit", Port: int32(port), Scheme: "HTTPS"}}, true, ""},
		{"http refused", cluster.LifecycleHandler{HTTPGet: &cluster.HTTPGetAction{Path: "/quit", Port: int32(closed)}}, false, "HTTP lifecycle hook (/quit) for Container \"app\" in Pod \"default/p\" failed - error: "},
		{"sleep", cluster.LifecycleHandler{Sleep: &cluster.SleepAction{Seconds: 0}}, true, ""},
		{"tcpSocket is never run", cluster.LifecycleHandler{TCPSocket: &cluster.TCPSocketAction{Port: 80}}, false, "Cannot run handler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, msg := hr.run(context.Background(), c, &tc.h)
			if ok != tc.ok || !strings.Contains(msg, tc.msg) {
				t.Errorf("run = %t, %q; want %t, %q", ok, msg, tc.ok, tc.msg)
			}
		})
	}
	if hits.Load() != 2 {
		t.Errorf("server saw %d requests, want 2 (one of them after the HTTPS fallback)", hits.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if ok, msg := hr.run(ctx, c, &cluster.LifecycleHandler{Sleep: &cluster.SleepAction{Seconds: 10}}); ok || !strings.Contains(msg, "container terminated before sleep hook finished") {
		t.Errorf("sleep cut short: %t, %q", ok, msg)
	}
}
