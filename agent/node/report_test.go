package node

import (
	"context"
	"errors"
	"log/slog"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"shoal/cluster"
)

// flakyReporter fails while failing is set and records what it accepted.
type flakyReporter struct {
	mu       sync.Mutex
	failing  bool
	accepted []cluster.PodStatusUpdate
}

func (f *flakyReporter) ReportStatus(ctx context.Context, node string, updates []cluster.PodStatusUpdate) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing {
		return errors.New("no leader")
	}
	f.accepted = append(f.accepted, updates...)
	return nil
}

func TestReporterRetriesWithTheLatestStatus(t *testing.T) {
	dst := &flakyReporter{failing: true}
	r := newReporter("n1", dst, time.Millisecond, time.Hour, realClock{}, slog.New(slog.DiscardHandler))
	ref := cluster.PodRef{Namespace: "default", Name: "a", UID: "a-uid"}
	r.set(ref, cluster.PodStatus{Phase: cluster.PodPending})
	if r.flush(context.Background()) {
		t.Fatalf("flush succeeded against a failing leader")
	}
	// A newer status arrives while the old one waits: only it is sent.
	r.set(ref, cluster.PodStatus{Phase: cluster.PodRunning})
	dst.mu.Lock()
	dst.failing = false
	dst.mu.Unlock()
	if !r.flush(context.Background()) {
		t.Fatalf("flush failed")
	}
	if len(dst.accepted) != 1 || dst.accepted[0].Status.Phase != cluster.PodRunning {
		t.Fatalf("accepted %+v, want only the Running status", dst.accepted)
	}
	// The same status again is not sent.
	r.set(ref, cluster.PodStatus{Phase: cluster.PodRunning})
	r.flush(context.Background())
	if len(dst.accepted) != 1 {
		t.Fatalf("an unchanged status was sent again")
	}
	// A failed batch keeps statuses that nothing replaced.
	dst.mu.Lock()
	dst.failing = true
	dst.mu.Unlock()
	r.set(ref, cluster.PodStatus{Phase: cluster.PodFailed})
	r.flush(context.Background())
	r.mu.Lock()
	kept := r.pending[ref.UID].Status.Phase
	r.mu.Unlock()
	if kept != cluster.PodFailed {
		t.Fatalf("pending after a failed send = %q, want Failed", kept)
	}
}

// resyncDuringReport is the leader as the node's main loop sees it: the
// state shows a report before ReportStatus has returned, and a resync may
// run in between.
type resyncDuringReport struct {
	*fakeReporter
	resync func()
}

func (d resyncDuringReport) ReportStatus(ctx context.Context, node string, updates []cluster.PodStatusUpdate) error {
	err := d.fakeReporter.ReportStatus(ctx, node, updates)
	d.resync()
	return err
}

// TestRecheckDuringReportKeepsTheNewStatus: a resync while a report is on
// its way must not take the new status in the state for a lost report and
// send the older one over it; nothing would send the new one again.
func TestRecheckDuringReportKeepsTheNewStatus(t *testing.T) {
	src := newFakeSource()
	p := newPod("a", "app")
	src.putPod(p)
	clock := &fakeClock{}
	var r *reporter
	dst := resyncDuringReport{fakeReporter: &fakeReporter{src: src}, resync: func() {
		r.recheck(map[string]*cluster.Pod{p.UID: src.pod("a")})
	}}
	r = newReporter("n1", dst, time.Millisecond, time.Second, clock, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	r.set(p.Ref(), cluster.PodStatus{Phase: cluster.PodPending, Reason: "ImagePullBackOff"})
	r.flush(ctx)
	clock.Advance(time.Minute) // the Pending report is past its resync interval
	r.set(p.Ref(), cluster.PodStatus{Phase: cluster.PodRunning})
	r.flush(ctx)
	r.flush(ctx)
	if got := src.pod("a").Status.Phase; got != cluster.PodRunning {
		t.Fatalf("state shows %s after the resync, want Running", got)
	}
}

func TestStatusEqualComparesInstants(t *testing.T) {
	now := time.Now()
	a := cluster.PodStatus{StartedAt: now, Containers: []cluster.ContainerStatus{{Name: "c", StartedAt: now}}}
	b := cluster.PodStatus{StartedAt: now.UTC().Round(0), Containers: []cluster.ContainerStatus{{Name: "c", StartedAt: now.UTC().Round(0)}}}
	if !statusEqual(a, b) {
		t.Errorf("equal instants in other locations compare unequal")
	}
	b.Containers[0].RestartCount = 1
	if statusEqual(a, b) {
		t.Errorf("different restart counts compare equal")
	}
}

func TestReportFailuresAreRetriedEndToEnd(t *testing.T) {
	h := start(t, nil, nil)
	h.rep.failing.Store(true)
	h.src.putPod(newPod("r", "app"))
	h.waitFor("a few failed reports", func() bool { return h.rep.failures.Load() >= 3 })
	if h.status("r").Phase != "" {
		t.Fatalf("status applied while the leader was failing")
	}
	h.rep.failing.Store(false)
	h.waitFor("status eventually in the state", func() bool { return h.status("r").Ready })
}

func TestRunLeavesNoGoroutines(t *testing.T) {
	before := goruntime.NumGoroutine()
	sub := t.Run("run", func(t *testing.T) {
		h := start(t, nil, nil)
		p := newPod("g", "app")
		p.Spec.Containers[0].LivenessProbe = &cluster.Probe{Exec: []string{"true"}, PeriodSeconds: 1}
		p.Spec.Containers[0].ReadinessProbe = &cluster.Probe{Exec: []string{"true"}, PeriodSeconds: 1}
		h.src.putPod(p)
		h.waitFor("ready", func() bool { return h.status("g").Ready })
	})
	if !sub {
		t.Fatal("subtest failed")
	}
	deadline := time.Now().Add(5 * time.Second)
	for goruntime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after Run returned:\n%s", before, goruntime.NumGoroutine(), buf[:goruntime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closingSource signals changes the other way a feed may: Changed returns a
// channel that is closed at the next change.
type closingSource struct {
	*fakeSource
	mu sync.Mutex
	ch chan struct{}
}

func (s *closingSource) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *closingSource) putPod(p *cluster.Pod) {
	s.fakeSource.putPod(p)
	s.mu.Lock()
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}

func TestSourceWithClosingChangeFeed(t *testing.T) {
	var src *closingSource
	h := start(t, func(h *harness) {
		src = &closingSource{fakeSource: h.src, ch: make(chan struct{})}
	}, func(c *Config) {
		c.Source = src
		c.ResyncInterval = time.Hour // only the feed can wake it
	})
	h.waitFor("the first listing", func() bool { return h.rt.lists.Load() >= 1 })
	src.putPod(newPod("feed", "app"))
	h.waitFor("started from the feed", func() bool { return len(h.rt.callsOf("StartContainer")) == 1 })
}

func TestRunRejectsIncompleteConfig(t *testing.T) {
	err := New(Config{NodeName: "n1"}).Run(context.Background())
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("Run = %v, want ErrConfig", err)
	}
}
