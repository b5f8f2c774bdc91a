package node

import (
	"strings"
	"testing"
	"time"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// A running container whose pod was resized: updated in place, or, where
// its resizePolicy says RestartContainer for a resource that changed,
// stopped and restarted at once (not counted as a crash).
func TestStepResize(t *testing.T) {
	old := cluster.AppliedResources{Requests: cluster.Resources{MilliCPU: 100, Memory: 64 << 20}, Limits: cluster.Resources{MilliCPU: 200, Memory: 64 << 20}}
	restartMem := []cluster.ContainerResizePolicy{{ResourceName: cluster.ResourceMemory, RestartPolicy: cluster.ResizeRestartContainer}}
	tests := []struct {
		name     string
		applied  *cluster.AppliedResources
		limits   cluster.Resources
		policy   []cluster.ContainerResizePolicy
		want     actionKind
		why      string
		resizing bool
	}{
		{name: "same: nothing to do", applied: &old, limits: old.Limits, want: actNone},
		{name: "cpu, default policy: in place", applied: &old, limits: cluster.Resources{MilliCPU: 500, Memory: 64 << 20}, want: actResize, resizing: true},
		{name: "cpu, memory restarts: in place", applied: &old, limits: cluster.Resources{MilliCPU: 500, Memory: 64 << 20}, policy: restartMem, want: actResize, resizing: true},
		{name: "memory, memory restarts: restart", applied: &old, limits: cluster.Resources{MilliCPU: 200, Memory: 128 << 20}, policy: restartMem,
			want: actStopContainer, why: stopResize, resizing: true},
		{name: "unknown applied: taken to be the spec's", applied: nil, limits: old.Limits, want: actNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newPodMemory("192.0.2.1", backoff{base: time.Second, max: time.Minute, reset: time.Hour}, 30*time.Second)
			p := newPod("r", "app")
			c := &p.Spec.Containers[0]
			c.Requests, c.Limits, c.ResizePolicy = old.Requests, tc.limits, tc.policy
			m.sandbox, m.pulled[c.Image], m.initDone = &rtapi.PodSandbox{UID: p.UID, IP: "10.88.0.2"}, true, true
			in := stepInput{now: time.Now(), pod: p, obs: &rtapi.PodState{UID: p.UID, Containers: []rtapi.ContainerState{
				{Name: "app", ID: "c1", Attempt: 1, Running: true, Generation: "h1", Resources: tc.applied}}}}
			d := m.step(in)
			if d.act.kind != tc.want || d.act.why != tc.why || d.status.Resizing != tc.resizing {
				t.Fatalf("step: %v %q resizing %v, want %v %q %v", d.act.kind, d.act.why, d.status.Resizing, tc.want, tc.why, tc.resizing)
			}
			if cs := d.status.Containers[0]; tc.applied != nil && cs.Resources != *tc.applied {
				t.Errorf("status resources %+v, want the applied %+v", cs.Resources, *tc.applied)
			}
			if tc.applied == nil {
				// Then resized: the spec first seen stands for what it runs with.
				c.Limits.MilliCPU = 900
				if d = m.step(in); d.act.kind != actResize || !d.status.Resizing {
					t.Fatalf("resize of a container without a record: %v resizing %v", d.act.kind, d.status.Resizing)
				}
			}
			if tc.why != stopResize {
				return
			}
			// Stopped for the resize: it restarts at once, attempt 2.
			m.record(d.act, nil, nil, in.now)
			in.obs.Containers[0] = rtapi.ContainerState{Name: "app", ID: "c1", Attempt: 1, Exited: true, ExitCode: 137, Generation: "h1", Resources: tc.applied}
			d = m.step(in)
			if d.act.kind != actStartContainer || d.act.attempt != 2 || !d.status.Resizing || m.ctr("app").crashes != 0 {
				t.Fatalf("after the stop: %+v resizing %v crashes %d", d.act, d.status.Resizing, m.ctr("app").crashes)
			}
		})
	}
}

// A memory limit below usage is refused by the runtime: the resize stays
// in progress with the runtime's words, is retried after the back-off, and
// is done once usage allows.
func TestResizeBelowUsageRetries(t *testing.T) {
	p := newPod("m", "app")
	p.Spec.Containers[0].Limits.Memory = 256 << 20
	h := start(t, func(h *harness) { h.src.putPod(p) }, nil)
	h.waitFor("running", func() bool { return h.ctrStatus("m", "app").State == cluster.ContainerRunning })
	h.rt.setUsage(p.UID, "app", 100<<20)

	h.src.modify(p.Namespace, p.Name, func(p *cluster.Pod) { p.Spec.Containers[0].Limits.Memory = 64 << 20 })
	h.waitFor("resize refused", func() bool {
		s := h.status("m")
		return s.Resizing && strings.Contains(s.ResizeMessage, "below current usage")
	})
	if cs := h.ctrStatus("m", "app"); cs.Resources.Limits.Memory != 256<<20 || cs.RestartCount != 0 || cs.State != cluster.ContainerRunning {
		t.Fatalf("the old limit should stay applied: %+v", cs)
	}
	h.rt.setUsage(p.UID, "app", 10<<20)
	h.waitFor("resize applied", func() bool {
		s := h.status("m")
		return !s.Resizing && s.ResizeMessage == "" && h.ctrStatus("m", "app").Resources.Limits.Memory == 64<<20
	})
	if cs := h.ctrStatus("m", "app"); cs.RestartCount != 0 {
		t.Fatalf("after the retry: %+v", cs)
	}
	if n := len(h.rt.callsOf("UpdateResources")); n < 2 {
		t.Fatalf("%d UpdateResources calls, want a retry", n)
	}
}
