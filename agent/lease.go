package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"shoal/autopilot"
	"shoal/cluster"
	"shoal/consensus"
)

// leaseKeeper is the leader's side of StatefulSet fencing: it renews the
// lease of a node that asks, but only after confirming with a quorum that
// it still leads, so a deposed leader in a minority vouches for nobody.
// The renewals of a short window share one confirmation (verifyBatcher).
//
// A renewal also says how far the node's state must have come before it
// starts a StatefulSet pod: the leader's state index, which is past every
// placement made before the renewal. A node whose state lags (restarted
// from its own old copy, or back from a partition) may still see placed
// on it a pod the leader moved while it was away; it must not start that.
// The scheduler's moves of fenced pods and the renewals are serialized
// (moving), so a renewal never falls between a move's decision and its
// commit, and a new leader applies everything committed before it vouches.
type leaseKeeper struct {
	store  leaderCheck
	lease  time.Duration
	margin time.Duration
	verify *verifyBatcher
	// term is replaced each time this agent becomes leader: a new leader
	// saw no renewals and must wait a full lease from its election.
	term atomic.Pointer[leaseTerm]
	// moving is held while the scheduler moves fenced nodes' pods, and by
	// each renewal while it records the lease and reads the index.
	moving sync.Mutex
}

// leaseTerm is one term's leases.
type leaseTerm struct {
	leases *autopilot.Leases
	// applied: a barrier has applied, on this leader, every entry
	// committed before its term (done once, before the first renewal).
	applied atomic.Bool
}

// leaderCheck is how the lease keeper confirms that it still leads, and
// reads the index of its state; consensus.Store implements it.
type leaderCheck interface {
	IsLeader() bool
	Leader() (addr, id string)
	VerifyLeader(ctx context.Context) error
	Barrier(ctx context.Context) error
	State() *cluster.State
}

// verifyWindowDiv divides the lease into the window in which renewals
// gather for one leadership check: 250 ms of the default 10 s lease, a
// tenth of the lease/4 a renewal may take before its node gives up on it.
const verifyWindowDiv = 40

func newLeaseKeeper(store leaderCheck, lease, margin time.Duration) *leaseKeeper {
	if lease <= 0 {
		lease = autopilot.DefaultLease
	}
	k := &leaseKeeper{store: store, lease: lease, margin: margin,
		verify: newVerifyBatcher(store.VerifyLeader, lease/verifyWindowDiv, lease/4)}
	k.elected(time.Now())
	return k
}

// elected starts the leases afresh at the start of a term.
func (k *leaseKeeper) elected(now time.Time) {
	k.term.Store(&leaseTerm{leases: autopilot.NewLeases(k.lease, k.margin, now)})
}

// Renew implements apiserver.LeaseKeeper.
func (k *leaseKeeper) Renew(ctx context.Context, node string) (uint64, error) {
	if !k.store.IsLeader() {
		addr, id := k.store.Leader()
		return 0, &consensus.NotLeaderError{LeaderAddr: addr, LeaderID: id}
	}
	if err := k.verify.Verify(ctx); err != nil {
		return 0, err
	}
	t := k.term.Load()
	if !t.applied.Load() {
		if err := k.store.Barrier(ctx); err != nil {
			return 0, err
		}
		t.applied.Store(true)
	}
	k.moving.Lock()
	defer k.moving.Unlock()
	t.leases.Renew(node, time.Now())
	return k.store.State().Index(), nil
}

// expired lists the nodes whose lease has surely run out.
func (k *leaseKeeper) expired(nodes []string) map[string]bool {
	return k.term.Load().leases.ExpiredNodes(nodes, time.Now())
}

// hold serializes a scheduling pass that may move fenced nodes' pods with
// the renewals; it returns the release.
func (k *leaseKeeper) hold() func() {
	k.moving.Lock()
	return k.moving.Unlock
}

// leaseHolder is the node's side: it may run StatefulSet pods only while
// its last confirmed renewal is younger than the lease.
type leaseHolder struct {
	h *autopilot.Holder
	// index is the highest state index a renewal named: StatefulSet pods
	// start only from a state at or past it (leaseKeeper).
	index atomic.Uint64
	// regained receives (without blocking) when a renewal makes the lease
	// valid again, so the reconciler starts the pods that waited for it
	// now rather than at its next resync.
	regained chan struct{}
}

func (l *leaseHolder) valid() bool { return l.h.Valid(time.Now()) }

// stateIndex is the index the node's state must reach before a
// StatefulSet pod starts.
func (l *leaseHolder) stateIndex() uint64 { return l.index.Load() }

// leaseRenewal renews this node's lease with the leader a few times per
// lease period, while the node needs one: while it is assigned a
// StatefulSet pod. A node without any has nothing to fence, and its
// renewals would be the largest part of an idle leader's work in a large
// cluster (one request per node every lease/4). When one is placed here
// the node renews before the pod may start (fence.go holds it until then),
// so the leader never counts on a lease the node did not ask for.
type leaseRenewal struct {
	node string
	// every is the period of renewals (lease/4).
	every time.Duration
	renew func(ctx context.Context, node string) (uint64, error)
	need  func() bool
	// changed is closed at the next change of the state need reads: while
	// no lease is needed the node waits on it rather than polling, so an
	// idle node does not wake for this at all.
	changed func() <-chan struct{}
	holder  *leaseHolder
	// guard is told each confirmed renewal's deadline; nil when there
	// is none. told is the last deadline it was told, zero once it was
	// released from it.
	guard    leaseGuard
	told     time.Time
	lease    time.Duration
	log      *slog.Logger
	wasValid bool
	// failSaid: a failure since the lease was last valid has been logged.
	failSaid bool
	// next is when the next renewal is due while a lease is needed: zero
	// until the first, so the first is sent at once.
	next time.Time
}

// renewOnce sends one renewal and says when the lease turns valid or
// lapses; it returns the renewal's error.
func (l *leaseRenewal) renewOnce(ctx context.Context) error {
	sent := time.Now()
	l.next = sent.Add(l.every)
	rctx, cancel := context.WithTimeout(ctx, l.every)
	index, err := l.renew(rctx, l.node)
	cancel()
	if err == nil && l.guard != nil {
		// The watchdog counts the full lease from the send: a quarter
		// more than this agent gives itself, so that while the agent
		// lives it stops its pods gracefully first, and still the
		// leader's margin before it places them elsewhere. A renewal
		// the watchdog was not told of does not count: a pod started on
		// it would outlive this agent unguarded.
		if gerr := l.guard.Renewed(sent.Add(l.lease)); gerr != nil {
			err = fmt.Errorf("fencing watchdog not told of the renewal: %w", gerr)
		} else {
			l.told = sent.Add(l.lease)
		}
	}
	if err == nil {
		l.holder.h.Renewed(sent)
		// Answers come from one leader or another; only the highest
		// index counts.
		if index > l.holder.index.Load() {
			l.holder.index.Store(index)
		}
	}
	valid := l.holder.valid()
	switch {
	case valid && !l.wasValid:
		l.log.Info("fencing lease renewed: StatefulSet pods may run here")
		select {
		case l.holder.regained <- struct{}{}:
		default:
		}
	case !valid && l.wasValid:
		l.log.Warn("fencing lease expired: stopping StatefulSet pods on this node", "err", err)
		l.failSaid = true
	case !valid && err != nil && !l.failSaid && l.need():
		// Never valid yet: the pods placed here show only that they are
		// fenced, so the first failure of a run of them says why.
		l.log.Warn("fencing lease not renewed: StatefulSet pods here wait for it", "err", err,
			"took", time.Since(sent).Round(time.Millisecond), "every", l.every)
		l.failSaid = true
	}
	if valid {
		l.failSaid = false
	}
	l.wasValid = valid
	return err
}

// run renews every period while a lease is needed (the renewal at
// start-up is the first), and the moment the state assigns this node a
// StatefulSet pod after none.
func (l *leaseRenewal) run(ctx context.Context) {
	for {
		changed := l.changed() // before need reads the state: no change falls between
		if !l.need() {
			// The lease runs out unrenewed; no pod here depends on it, and
			// the next renewal, made as soon as one does, says so again.
			l.wasValid = false
			l.next = time.Time{}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			case <-l.releaseAfter():
				// The last deadline has passed with no StatefulSet pod
				// here: the watchdog fences what may be left, and goes.
				l.guard.Release()
				l.told = time.Time{}
			}
			continue
		}
		if d := time.Until(l.next); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
			continue
		}
		_ = l.renewOnce(ctx) // it logs what changes
	}
}

// releaseAfter fires a second after the last deadline the guard was told
// (nil if none): a second, so that its watchdog has fenced that deadline
// by then and leaves at once.
func (l *leaseRenewal) releaseAfter() <-chan time.Time {
	if l.told.IsZero() {
		return nil
	}
	return time.After(time.Until(l.told) + time.Second)
}

// first sends the renewal made before the reconciler starts, when an
// earlier run's StatefulSet pods may still run here (armed): the state
// may not show them yet, and the reconciler would stop them if it adopted
// them before the lease held. It also takes their guard over from that
// run's watchdog. A node that never ran one waits for the state to need a
// lease, and starts no watchdog until then. A failure is logged by
// renewOnce when a pod waits for the lease (without a leader the renewal
// waits up to lease/4, which the log says).
func (l *leaseRenewal) first(ctx context.Context, armed bool) {
	if l.guard != nil && !armed && !l.need() {
		return
	}
	_ = l.renewOnce(ctx)
}

// startLeaseRenewal starts renewing this node's lease whenever it is
// assigned a StatefulSet pod in the state.
func startLeaseRenewal(ctx context.Context, loop func(func(context.Context)), w *leaderWriter, store stateSource, guard leaseGuard, armed bool, cfg Config, log *slog.Logger) *leaseHolder {
	// The node gives up a quarter of the lease early: after its lease lapses
	// it still needs a resync tick and a (capped) grace period to stop its
	// StatefulSet pods, all before the leader's lease + margin runs out.
	holder := &leaseHolder{h: autopilot.NewHolder(cfg.Lease * 3 / 4), regained: make(chan struct{}, 1)}
	l := &leaseRenewal{node: cfg.Name, every: cfg.Lease / 4, renew: w.renewLease,
		need:    func() bool { return hasStatefulSetPod(store.State(), cfg.Name) },
		changed: store.Changed, holder: holder, guard: guard, lease: cfg.Lease, log: log.With("component", "lease")}
	l.first(ctx, armed)
	loop(l.run)
	return holder
}

// leaseGuard stops this node's StatefulSet containers when its lease runs
// out and the agent cannot (fencewatch.Keeper).
type leaseGuard interface {
	// Renewed is told each confirmed renewal's deadline, before the
	// lease counts; the first starts the guard.
	Renewed(deadline time.Time) error
	// Release: the node holds no lease and the last deadline told has
	// passed. A later Renewed starts the guard again.
	Release()
}

// stateSource is the state and word of its next change (a
// consensus.Store, fed by Raft or the stream).
type stateSource interface {
	State() *cluster.State
	Changed() <-chan struct{}
}

// hasStatefulSetPod reports whether node is assigned a StatefulSet pod.
func hasStatefulSetPod(st *cluster.State, node string) bool {
	for _, p := range st.PodsOnNode(node) {
		if p.Owner != nil && p.Owner.Kind == cluster.KindStatefulSet {
			return true
		}
	}
	return false
}
