package node

import (
	"testing"
	"time"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

const mi = 1 << 20

func TestEvictionMessage(t *testing.T) {
	pod := func(edit func(p *cluster.Pod)) *cluster.Pod {
		p := newPod("p", "app", "log")
		edit(p)
		return p
	}
	limited := pod(func(p *cluster.Pod) {
		p.Spec.Containers[0].Limits.EphemeralStorage = 20 * mi
		p.Spec.Containers[1].Limits.EphemeralStorage = 10 * mi
	})
	appOnly := pod(func(p *cluster.Pod) { p.Spec.Containers[0].Limits.EphemeralStorage = 20 * mi })
	withDirs := pod(func(p *cluster.Pod) {
		p.Spec.Volumes = []cluster.Volume{
			{Name: "cache", EmptyDir: &cluster.EmptyDirSource{SizeLimit: 5 * mi}},
			{Name: "ram", EmptyDir: &cluster.EmptyDirSource{Medium: "Memory", SizeLimit: mi}},
			{Name: "free", EmptyDir: &cluster.EmptyDirSource{}},
		}
	})
	use := func(app, log int64, dirs map[string]int64) rtapi.PodStorage {
		return rtapi.PodStorage{
			Containers: map[string]rtapi.ContainerStorage{"app": {RootFS: app, Logs: mi}, "log": {RootFS: log}},
			EmptyDirs:  dirs,
		}
	}
	for _, tc := range []struct {
		name string
		pod  *cluster.Pod
		u    rtapi.PodStorage
		want string
	}{
		{"under every limit", limited, use(10*mi, 5*mi, nil), ""},
		{"at the limit exactly", appOnly, use(19*mi, 0, nil), ""}, // 19Mi written, 1Mi of logs
		{"pod over the sum of limits", limited, use(19*mi, 11*mi, nil),
			"Pod ephemeral local storage usage exceeds the total limit of containers 30Mi."},
		// The log container has no limit: the pod's is 20Mi, all its own.
		{"pod limit from the containers that set one", appOnly, use(10*mi, 15*mi, nil),
			"Pod ephemeral local storage usage exceeds the total limit of containers 20Mi."},
		{"emptyDirs count towards the pod", limited, use(10*mi, 5*mi, map[string]int64{"x": 20 * mi}),
			"Pod ephemeral local storage usage exceeds the total limit of containers 30Mi."},
		// 20Mi written and 1Mi of logs: over app's 20Mi, not the pod's 30Mi.
		{"container over its own limit, logs included", limited, use(20*mi, 0, nil),
			`Container app exceeded its local ephemeral storage limit "20Mi".`},
		{"container over its own limit, pod under", limited, use(5*mi, 10*mi+1, nil),
			`Container log exceeded its local ephemeral storage limit "10Mi".`},
		{"emptyDir over its sizeLimit", withDirs, use(0, 0, map[string]int64{"cache": 6 * mi, "free": 100 * mi}),
			`Usage of EmptyDir volume "cache" exceeds the limit "5Mi".`},
		{"emptyDir first", pod(func(p *cluster.Pod) {
			p.Spec.Containers[0].Limits.EphemeralStorage = mi
			p.Spec.Volumes = withDirs.Spec.Volumes
		}), use(10*mi, 0, map[string]int64{"cache": 6 * mi}), `Usage of EmptyDir volume "cache" exceeds the limit "5Mi".`},
		{"no limits at all", newPod("p", "app"), use(1<<40, 0, nil), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := evictionMessage(tc.pod, tc.u); got != tc.want {
				t.Errorf("evictionMessage = %q\nwant %q", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		pod  *cluster.Pod
		want bool
	}{{limited, true}, {withDirs, true}, {newPod("p", "app"), false}, {pod(func(p *cluster.Pod) {
		p.Spec.Volumes = []cluster.Volume{{Name: "ram", EmptyDir: &cluster.EmptyDirSource{Medium: "Memory", SizeLimit: mi}}}
	}), false}} {
		if got := storageLimited(tc.pod); got != tc.want {
			t.Errorf("storageLimited(%+v) = %t, want %t", tc.pod.Spec, got, tc.want)
		}
	}
}

// TestEvictionOverStorageLimit: a running pod over its ephemeral-storage
// limit is evicted: its containers stopped at once without their preStop
// hooks, the pod Failed, reason Evicted, nothing restarted. A pod under
// its limit and one without limits are left alone.
func TestEvictionOverStorageLimit(t *testing.T) {
	h := start(t, nil, func(c *Config) { c.EvictionInterval = 20 * time.Millisecond })
	hog := newPod("hog", "app")
	hog.Spec.Containers[0].Limits.EphemeralStorage = 20 * mi
	hog.Spec.Containers[0].Lifecycle = &cluster.Lifecycle{PreStop: execHook("drain")}
	fine := newPod("fine", "app")
	fine.Spec.Containers[0].Limits.EphemeralStorage = 20 * mi
	free := newPod("free", "app")
	h.rt.setStorage(hog.UID, rtapi.PodStorage{Containers: map[string]rtapi.ContainerStorage{"app": {RootFS: 40 * mi}}})
	h.rt.setStorage(fine.UID, rtapi.PodStorage{Containers: map[string]rtapi.ContainerStorage{"app": {RootFS: 10 * mi}}})
	for _, p := range []*cluster.Pod{hog, fine, free} {
		h.src.putPod(p)
	}
	h.waitFor("hog evicted", func() bool {
		s := h.status("hog")
		return s.Phase == cluster.PodFailed && s.Reason == reasonEvicted &&
			s.Message == "Pod ephemeral local storage usage exceeds the total limit of containers 20Mi." &&
			len(s.Containers) == 1 && s.Containers[0].State == cluster.ContainerTerminated
	})
	h.settle(5)
	for _, c := range h.rt.callsOf("StopContainer") {
		if c.uid != hog.UID || c.grace != minStopGrace {
			t.Errorf("stop %+v: want only hog's container, with the minimum grace", c)
		}
	}
	if n := len(startsOf(h.rt.callsOf(""), hog.UID)); n != 1 {
		t.Errorf("hog started %d times, want once: an evicted pod never runs again", n)
	}
	if len(h.rt.execsOf("drain")) != 0 {
		t.Errorf("an evicted pod's preStop hook ran")
	}
	if s := h.status("fine"); s.Phase != cluster.PodRunning || !s.Ready {
		t.Errorf("fine (under its limit): %+v", s)
	}
	for _, c := range h.rt.callsOf("PodStorage") {
		if c.uid == free.UID {
			t.Fatalf("a pod without limits was measured")
		}
	}
	// The leader then stops it: removed without its hooks.
	h.src.modify(cluster.DefaultNamespace, "hog", func(p *cluster.Pod) { p.Terminating = true })
	h.waitFor("hog removed", func() bool { return h.status("hog").Stopped })
	if len(h.rt.execsOf("drain")) != 0 {
		t.Errorf("an evicted pod's preStop hook ran at removal")
	}
	if s := h.status("hog"); s.Reason != reasonEvicted {
		t.Errorf("removed evicted pod shows %q, want Evicted still", s.Reason)
	}
}
