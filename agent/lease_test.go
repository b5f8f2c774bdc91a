package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shoal/autopilot"
	"shoal/cluster"
	"shoal/internal/poll"
)

// needState is the state as a leaseRenewal reads it: need is what it says
// of this node, and each change of it closes the channel changedCh gave,
// as consensus.Store's Changed does.
type needState struct {
	need    atomic.Bool
	mu      sync.Mutex
	changed chan struct{}
}

func newNeedState() *needState { return &needState{changed: make(chan struct{})} }

func (s *needState) set(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.need.Store(v)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *needState) changedCh() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// TestLeaseRenewalOnlyWhileNeeded: a node renews its fencing lease once at
// start, then only while it is assigned a StatefulSet pod; the first renewal that makes the
// lease valid says so at once (the reconciler starts the waiting pods), a
// failed renewal leaves it invalid, and renewals stop when the last such
// pod leaves.
func TestLeaseRenewalOnlyWhileNeeded(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	var renewals atomic.Int64
	st := newNeedState()
	change := st.set
	holder := &leaseHolder{h: autopilot.NewHolder(time.Minute), regained: make(chan struct{}, 1)}
	l := &leaseRenewal{node: "n1", every: 20 * time.Millisecond, holder: holder,
		need: st.need.Load, log: slog.New(slog.DiscardHandler), changed: st.changedCh,
		renew: func(_ context.Context, node string) (uint64, error) {
			if node != "n1" {
				t.Errorf("renewed the lease of %q", node)
			}
			n := renewals.Add(1)
			if fail.Load() {
				return 0, errors.New("no leader")
			}
			// The leader's state index: falling every other answer, as
			// answers from two leaders may.
			return uint64(100*n - 150*(n%2)), nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	// As startLeaseRenewal does before the reconciler starts.
	if err := l.renewOnce(ctx); err == nil {
		t.Fatal("the renewal at start succeeded with no leader")
	}
	go func() { defer close(done); l.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// At start the node renews once, whatever it runs (a restarted agent's
	// StatefulSet pods may not show in its state yet); with no StatefulSet
	// pod it renews no more, whatever else changes in the state. This one
	// fails: the lease stays invalid and nothing says otherwise.
	poll.Until(t, 5*time.Second, "the renewal at start", poll.Bool(func() bool { return renewals.Load() == 1 }))
	time.Sleep(5 * l.every)
	change(false)
	time.Sleep(5 * l.every)
	if n := renewals.Load(); n != 1 || holder.valid() {
		t.Fatalf("with no StatefulSet pod: %d renewals, valid %v", n, holder.valid())
	}
	change(true)
	poll.Until(t, 5*time.Second, "renewals once a StatefulSet pod is here", poll.Bool(func() bool { return renewals.Load() > 2 }))
	if holder.valid() {
		t.Fatal("valid after failed renewals")
	}
	select {
	case <-holder.regained:
		t.Fatal("regained after a failed renewal")
	default:
	}
	fail.Store(false)
	select {
	case <-holder.regained:
	case <-time.After(5 * time.Second):
		t.Fatal("no word of the lease regained")
	}
	if !holder.valid() {
		t.Fatal("not valid after a renewal")
	}
	before := renewals.Load()
	poll.Until(t, 5*time.Second, "renewals every period", poll.Bool(func() bool { return renewals.Load() >= before+3 }))
	// The index StatefulSet pods wait for is the highest any answer named.
	if got, n := holder.stateIndex(), uint64(renewals.Load()); got < 100*(n-2) || got > 100*n {
		t.Fatalf("state index %d after %d renewals, want the highest named (about %d)", got, n, 100*n)
	}

	// The last StatefulSet pod left: at most the renewal in flight.
	change(false)
	stopped := renewals.Load()
	time.Sleep(10 * l.every)
	if n := renewals.Load(); n > stopped+1 {
		t.Fatalf("%d renewals after the node stopped needing a lease", n-stopped)
	}

	// A StatefulSet pod is placed here again: the next renewal says the
	// lease holds, though it had not lapsed, so that the pod starts.
	select {
	case <-holder.regained:
	default:
	}
	change(true)
	select {
	case <-holder.regained:
	case <-time.After(5 * time.Second):
		t.Fatal("no word of the lease when a StatefulSet pod came back")
	}
}

// TestLeaseFirstRenewalAndGuard: the renewal at start is sent only where
// it may matter (no watchdog to spare, an earlier run's pods possibly
// alive, or a StatefulSet pod already placed here), and a renewal counts
// only once the watchdog was told its deadline, a full lease from the send.
func TestLeaseFirstRenewalAndGuard(t *testing.T) {
	const lease = time.Minute
	tests := []struct {
		name        string
		guard       bool  // a watchdog to tell
		guardErr    error // what telling it returns
		armed, need bool
		renewed     bool // a renewal was sent
		valid       bool
	}{
		{name: "no watchdog", renewed: true, valid: true},
		{name: "watchdog, nothing to guard", guard: true},
		{name: "watchdog, an earlier run's pods", guard: true, armed: true, renewed: true, valid: true},
		{name: "watchdog, a pod placed here", guard: true, need: true, renewed: true, valid: true},
		{name: "watchdog cannot be told", guard: true, guardErr: errors.New("no watchdog"), need: true, renewed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var renewals int
			var logged bytes.Buffer
			g := &fakeGuard{err: tt.guardErr}
			l := &leaseRenewal{node: "n1", every: lease / 4, lease: lease, log: slog.New(slog.NewTextHandler(&logged, nil)),
				holder: &leaseHolder{h: autopilot.NewHolder(lease * 3 / 4), regained: make(chan struct{}, 1)},
				need:   func() bool { return tt.need },
				renew: func(context.Context, string) (uint64, error) {
					renewals++
					return 7, nil
				}}
			if tt.guard {
				l.guard = g
			}
			start := time.Now()
			l.first(context.Background(), tt.armed)
			if got := renewals == 1; got != tt.renewed {
				t.Fatalf("%d renewals, want sent %v", renewals, tt.renewed)
			}
			if got := l.holder.valid(); got != tt.valid {
				t.Fatalf("lease valid %v, want %v", got, tt.valid)
			}
			if got := l.holder.stateIndex() == 7; got != tt.valid {
				t.Fatalf("state index %d with the lease valid %v", l.holder.stateIndex(), tt.valid)
			}
			deadlines := g.told() // of first alone
			// A pod that waits for a lease never renewed shows only that
			// it is fenced: the agent's log says why, once a run of
			// failures.
			_ = l.renewOnce(context.Background())
			warned := strings.Count(logged.String(), "level=WARN")
			if wantWarn := tt.guardErr != nil; (warned == 1) != wantWarn || warned > 1 ||
				(wantWarn && !strings.Contains(logged.String(), tt.guardErr.Error())) {
				t.Fatalf("want a warning %v (once, with the error), logged:\n%s", wantWarn, logged.String())
			}
			if !tt.guard || !tt.renewed {
				if len(deadlines) != 0 {
					t.Fatalf("watchdog told %v with no renewal", deadlines)
				}
				return
			}
			if len(deadlines) != 1 || deadlines[0].Before(start.Add(lease)) || deadlines[0].After(time.Now().Add(lease)) {
				t.Fatalf("watchdog told %v, want one deadline a lease from the send", deadlines)
			}
		})
	}
}

// fakeGuard records what a leaseRenewal tells its watchdog (each
// deadline, also those it refuses with err).
type fakeGuard struct {
	err      error
	mu       sync.Mutex
	ds       []time.Time
	releases []time.Time
}

func (g *fakeGuard) Renewed(d time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ds = append(g.ds, d)
	return g.err
}

func (g *fakeGuard) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.releases = append(g.releases, time.Now())
}

func (g *fakeGuard) told() []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]time.Time(nil), g.ds...)
}

func (g *fakeGuard) released() []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]time.Time(nil), g.releases...)
}

// TestLeaseGuardReleased: once the node needs no lease, its watchdog is
// released a second after the last deadline it was told, not before and
// only once; a StatefulSet pod placed here again tells it anew.
func TestLeaseGuardReleased(t *testing.T) {
	const lease = 200 * time.Millisecond
	st := newNeedState()
	change := st.set
	g := &fakeGuard{}
	l := &leaseRenewal{node: "n1", every: lease / 4, lease: lease, log: slog.New(slog.DiscardHandler), guard: g,
		holder: &leaseHolder{h: autopilot.NewHolder(lease * 3 / 4), regained: make(chan struct{}, 1)},
		need:   st.need.Load, changed: st.changedCh,
		renew: func(context.Context, string) (uint64, error) { return 1, nil }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	change(true)
	poll.Until(t, 5*time.Second, "renewals told to the watchdog", poll.Bool(func() bool { return len(g.told()) >= 3 }))
	change(false)
	poll.Until(t, 5*time.Second, "the watchdog released", poll.Bool(func() bool { return len(g.released()) > 0 }))
	told, rel := g.told(), g.released()
	if last := told[len(told)-1]; rel[0].Before(last.Add(time.Second)) {
		t.Fatalf("released at %v, before a second past the last deadline told, %v", rel[0], last)
	}
	time.Sleep(2 * time.Second)
	if n := len(g.released()); n != 1 {
		t.Fatalf("released %d times, want once", n)
	}
	change(true)
	poll.Until(t, 5*time.Second, "the watchdog told again", poll.Bool(func() bool { return len(g.told()) > len(told) }))
}

func TestHasStatefulSetPod(t *testing.T) {
	txn := cluster.Empty().Txn(1)
	put := func(name, node string, kind cluster.WorkloadKind) {
		p := &cluster.Pod{Namespace: "default", Name: name, NodeName: node}
		if kind != "" {
			p.Owner = &cluster.OwnerRef{Kind: kind, Name: "x"}
		}
		txn.PutPod(p)
	}
	put("web-1", "n1", cluster.KindDeployment)
	put("bare", "n1", "")
	put("db-0", "n2", cluster.KindStatefulSet)
	put("pending", "", cluster.KindStatefulSet)
	st := txn.Commit()
	for node, want := range map[string]bool{"n1": false, "n2": true, "n3": false} {
		if got := hasStatefulSetPod(st, node); got != want {
			t.Errorf("hasStatefulSetPod(%s) = %v, want %v", node, got, want)
		}
	}
}

// fakeLeader is a leader whose state index the test moves.
type fakeLeader struct {
	index    atomic.Uint64
	barriers atomic.Int64
}

func (f *fakeLeader) IsLeader() bool                     { return true }
func (f *fakeLeader) Leader() (string, string)           { return "", "self" }
func (f *fakeLeader) VerifyLeader(context.Context) error { return nil }
func (f *fakeLeader) Barrier(context.Context) error      { f.barriers.Add(1); return nil }
func (f *fakeLeader) State() *cluster.State              { return cluster.Empty().Txn(f.index.Load()).Commit() }

// TestLeaseKeeperIndex: a renewal names the leader's state index, read
// after a barrier once a term, and never between the decision to move a
// fenced node's pods and that move's commit.
func TestLeaseKeeperIndex(t *testing.T) {
	f := &fakeLeader{}
	f.index.Store(10)
	k := newLeaseKeeper(f, time.Second, time.Second)
	ctx := context.Background()
	for range 3 {
		if i, err := k.Renew(ctx, "n1"); err != nil || i != 10 {
			t.Fatalf("renewal: index %d, %v; want 10", i, err)
		}
	}
	if n := f.barriers.Load(); n != 1 {
		t.Fatalf("%d barriers for one term's renewals, want 1", n)
	}
	k.elected(time.Now())
	if _, err := k.Renew(ctx, "n1"); err != nil || f.barriers.Load() != 2 {
		t.Fatalf("a new term's first renewal: %v, %d barriers in all; want 2", err, f.barriers.Load())
	}

	// A pass that moves fenced pods holds renewals until its plan is
	// applied (index 11): the renewal waiting names the move.
	release := k.hold()
	got := make(chan uint64, 1)
	go func() {
		i, _ := k.Renew(ctx, "n1")
		got <- i
	}()
	select {
	case i := <-got:
		t.Fatalf("renewal answered (index %d) while a move was being committed", i)
	case <-time.After(100 * time.Millisecond):
	}
	f.index.Store(11)
	release()
	if i := <-got; i != 11 {
		t.Fatalf("renewal after the move named index %d, want 11", i)
	}
}
