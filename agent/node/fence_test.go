package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shoal/cluster"
)

// statefulPod is db-0 of StatefulSet db, with claim data-db-0.
func statefulPod(names ...string) *cluster.Pod {
	p := newPod("db-0", names...)
	p.Ordinal = 0
	p.Owner = &cluster.OwnerRef{Kind: cluster.KindStatefulSet, Name: "db", UID: "db-uid"}
	p.Spec.Volumes = []cluster.Volume{{Name: "data", Claim: &cluster.ClaimSource{ClaimName: "data-db-0"}}}
	return p
}

// dbAndWeb places db-0 (a StatefulSet pod) and web (a Deployment's) on
// the node.
func dbAndWeb(h *harness) (db, web *cluster.Pod) {
	db = statefulPod("app")
	web = newPod("web", "app")
	web.Owner = &cluster.OwnerRef{Kind: cluster.KindDeployment, Name: "web", UID: "web-uid"}
	h.src.putPod(db)
	h.src.putPod(web)
	return db, web
}

type fetchCall struct{ from, ns, claim, dest string }

// fakeFetcher fails its first fail calls, recording each call and the
// runtime calls made before it.
type fakeFetcher struct {
	h    *harness
	fail int

	mu     sync.Mutex
	calls  []fetchCall
	before []int // runtime calls made before each fetch
}

func (f *fakeFetcher) fetch(_ context.Context, from, ns, claim, dest string) error {
	n := len(f.h.rt.callsOf(""))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fetchCall{from, ns, claim, dest})
	f.before = append(f.before, n)
	if len(f.calls) <= f.fail {
		return errors.New("connection refused")
	}
	return nil
}

func (f *fakeFetcher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func TestVolumeCopiedBeforeAnyContainerStarts(t *testing.T) {
	ff := &fakeFetcher{fail: 2}
	h := start(t, func(h *harness) { ff.h = h }, func(c *Config) {
		c.FetchVolume = ff.fetch
		c.ClaimDir = func(ns string, claim *cluster.ClaimSource, pod string) string {
			return filepath.Join("/data/volumes", ns, claim.DirName(pod))
		}
	})
	p := statefulPod("app")
	p.VolumeFrom = "n0"
	h.src.putPod(p)

	h.waitFor("a failed fetch reported", func() bool {
		return h.rep.sawStatus(p.UID, func(s cluster.PodStatus) bool {
			return s.Phase == cluster.PodPending && s.Reason == reasonFetchBackOff &&
				s.Message == "copying volume data-db-0 from node n0: connection refused"
		})
	})
	h.waitFor("the copy reported done", func() bool { return h.status("db-0").VolumesFetched })
	if n := ff.count(); n != 3 {
		t.Errorf("%d fetches, want 3 (two failures, retried)", n)
	}
	want := fetchCall{"n0", "default", "data-db-0-db-0", "/data/volumes/default/data-db-0-db-0"}
	if ff.calls[0] != want {
		t.Errorf("fetch %+v, want %+v", ff.calls[0], want)
	}
	for i, n := range ff.before {
		if n != 0 {
			t.Errorf("fetch %d came after %d runtime calls", i, n)
		}
	}
	// Nothing starts until the cluster has moved the claim here.
	h.settle(3)
	if calls := h.rt.callsOf(""); len(calls) != 0 {
		t.Fatalf("runtime calls before the copy was recorded: %v", calls)
	}
	h.src.modify("default", "db-0", func(p *cluster.Pod) { p.VolumeFrom = "" })
	h.waitFor("db-0 running", func() bool { return h.status("db-0").Phase == cluster.PodRunning })
	if n := ff.count(); n != 3 {
		t.Errorf("%d fetches after start, want 3", n)
	}
}

func TestLeaseLapseStopsStatefulPodsOnly(t *testing.T) {
	var valid atomic.Bool
	valid.Store(true)
	h := start(t, nil, func(c *Config) { c.LeaseValid = valid.Load })
	db, web := dbAndWeb(h)
	h.waitFor("both ready", func() bool { return h.status("db-0").Ready && h.status("web").Ready })

	valid.Store(false)
	h.waitFor("db-0 stopped and reported fenced", func() bool {
		c, _ := h.rt.container(db.UID, "app")
		s := h.status("db-0")
		return !c.Running && s.Reason == reasonFenced && !s.Ready &&
			len(s.Containers) == 1 && s.Containers[0].State == cluster.ContainerTerminated && s.Containers[0].Reason == reasonFenced
	})
	if s := h.status("db-0"); s.Phase != cluster.PodRunning {
		t.Errorf("fenced db-0 phase %s, want Running (still placed here)", s.Phase)
	}
	h.settle(3)
	if c, _ := h.rt.container(db.UID, "app"); c.Running {
		t.Fatal("db-0 restarted while fenced")
	}
	if c, _ := h.rt.container(web.UID, "app"); !c.Running || !h.status("web").Ready {
		t.Fatal("web stopped by fencing")
	}

	valid.Store(true)
	h.waitFor("db-0 running again", func() bool {
		c, _ := h.rt.container(db.UID, "app")
		return c.Running && c.Attempt == 2 && h.status("db-0").Ready
	})
	if cs := h.ctrStatus("db-0", "app"); cs.LastTermination != "" {
		t.Errorf("fencing counted as a crash: %+v", cs)
	}
	if n := len(startsOf(h.rt.callsOf(""), web.UID)); n != 1 {
		t.Errorf("web started %d times", n)
	}
}

// TestStaleStateHoldsStatefulPods: a node restarted from its own old copy
// of the state, or back from a partition, may still see placed here a
// StatefulSet pod the leader has moved away. Until the state the pods come
// from reaches the index the lease's last renewal named, nothing is done
// for a StatefulSet pod; other pods go on, and a running one is left be.
func TestStaleStateHoldsStatefulPods(t *testing.T) {
	var need atomic.Uint64
	need.Store(1 << 40)
	// No resync: only the state catching up may wake db-0's worker.
	h := start(t, nil, func(c *Config) { c.LeaseIndex = need.Load; c.ResyncInterval = time.Hour })
	// quiet gives a wrong start time to happen.
	quiet := func() { time.Sleep(150 * time.Millisecond) }
	db, _ := dbAndWeb(h)
	h.waitFor("web ready", func() bool { return h.status("web").Ready })
	quiet()
	for _, c := range h.rt.callsOf("") {
		if c.uid == db.UID {
			t.Fatalf("db-0 acted on from a state behind the lease: %+v", c)
		}
	}

	// The lease named an index three changes ahead; the state gets there
	// through changes to other pods, which wake nobody else.
	need.Store(h.src.State().Index() + 3)
	for i := range 3 {
		quiet()
		if c, _ := h.rt.container(db.UID, "app"); c.Running {
			t.Fatalf("db-0 started %d changes short of the index", 3-i)
		}
		h.src.modify("default", "web", func(p *cluster.Pod) { p.Labels = map[string]string{"n": fmt.Sprint(i)} })
	}
	h.waitFor("db-0 running once the state reached the index", func() bool {
		c, _ := h.rt.container(db.UID, "app")
		return c.Running && h.status("db-0").Ready
	})

	// A later renewal names an index the state has not reached yet: the
	// running pod is neither stopped nor restarted.
	need.Store(1 << 40)
	quiet()
	if c, _ := h.rt.container(db.UID, "app"); !c.Running || c.Attempt != 1 {
		t.Fatalf("db-0 while the state lags: running %v, attempt %d", c.Running, c.Attempt)
	}
}

// TestCheckHeldSaysWhy: StatefulSet pods held for long by a lagging state
// neither start nor report, so the node logs why, once, and when it ends.
func TestCheckHeldSaysWhy(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{}
	r := New(Config{NodeName: "n1", Clock: clock, Logger: slog.New(slog.NewTextHandler(&buf, nil)),
		LeaseIndex: func() uint64 { return 9 }})
	r.handedOut.Store(4)
	r.held.Store(true)
	r.checkHeld()
	clock.Advance(heldWarnAfter - time.Second)
	r.checkHeld()
	if buf.Len() != 0 {
		t.Fatalf("logged before %v: %s", heldWarnAfter, buf.String())
	}
	clock.Advance(time.Second)
	r.checkHeld()
	r.checkHeld()
	if n := strings.Count(buf.String(), "level=WARN"); n != 1 || !strings.Contains(buf.String(), "state_index=4 lease_index=9") {
		t.Fatalf("want one warning naming both indexes, got:\n%s", buf.String())
	}
	r.handedOut.Store(9)
	r.checkHeld()
	if !strings.Contains(buf.String(), "state caught up") {
		t.Fatalf("no word of the end of the wait:\n%s", buf.String())
	}
}
