// Package node is the node reconciler, Shoal's kubelet: it makes what the
// container runtime runs match the pods the cluster state places on this
// node, and sends what it observed back through the leader.
//
// Shape (modelled on swarmkit's agent: one worker per task, latest-value
// hand-offs):
//
//   - the main loop owns the set of workers, one per pod UID. It learns the
//     desired pods from the state (Source) and the observed ones from the
//     runtime (ListPods), and hands each worker the latest of both;
//   - a worker calls step(desired, observed), which does at most one runtime
//     call and returns the pod's status; it loops until nothing is left to
//     do, then sleeps until something changes;
//   - one lister goroutine runs ListPods on request, so a burst of container
//     exits or a hundred starting pods costs a few listings, not hundreds;
//   - one reporter goroutine batches status changes into ReportStatus calls.
//
// Nothing ever blocks a worker on another goroutine: hand-offs are "replace
// the latest value and poke a channel of capacity one".
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// Source is the local view of the cluster state: the FSM's latest snapshot
// and a feed that fires after it changes.
type Source interface {
	State() *cluster.State
	// Changed returns a channel that receives a value, or is closed, once
	// the state has moved past what State last returned. The reconciler
	// calls it again after every wake-up, so both a long-lived signal
	// channel and a per-index closed channel work.
	Changed() <-chan struct{}
}

// Reporter sends a node's observed pod statuses to the leader, which
// commits them as one Raft command.
type Reporter interface {
	ReportStatus(ctx context.Context, node string, updates []cluster.PodStatusUpdate) error
}

// Clock tells the time; tests pass a fake one to jump past back-offs.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Config configures a Reconciler. Zero durations take the defaults noted.
type Config struct {
	// NodeName selects the pods placed here (Pod.NodeName).
	NodeName string
	// NodeAddress is reported as every pod's Status.HostIP.
	NodeAddress string
	Runtime     Runtime
	Source      Source
	Reporter    Reporter
	Logger      *slog.Logger
	Clock       Clock
	// BackoffBase is the first restart / image pull back-off (10s, as in
	// Kubernetes); it doubles up to BackoffMax (5m). A container that ran
	// for BackoffReset (10m) starts over from no back-off.
	BackoffBase  time.Duration
	BackoffMax   time.Duration
	BackoffReset time.Duration
	// ReportInterval is the batching window for status reports (200ms).
	ReportInterval time.Duration
	// ResyncInterval is how often the runtime is listed even without
	// events, and unacknowledged statuses are sent again (2s).
	ResyncInterval time.Duration
	// ProbeSecond is how long a "second" of a probe's settings lasts
	// (1s); tests shrink it rather than wait for real seconds.
	ProbeSecond time.Duration
	// OrphanGrace is the grace period for pods the runtime holds but the
	// state no longer mentions, whose spec is unknown (30s).
	OrphanGrace time.Duration
	// MaxParallelStarts bounds how many pods set up their sandbox or
	// start a container at once (4 per CPU, at least 8: much of a start
	// waits on containerd, its shim and the disk): a hundred pods placed
	// together then queue rather than share the CPUs a hundred ways, and
	// the first ones run, and report, early.
	MaxParallelStarts int
	// EvictionInterval is how often running pods with a local storage
	// limit are measured, and evicted when over it (10s, the kubelet's
	// eviction monitoring period).
	EvictionInterval time.Duration

	// FetchVolume copies StatefulSet claim data from node fromNode's agent
	// into destDir, replacing what is there; claim is the claim
	// directory's name under the source's volumes/<namespace>/ (the base of
	// ClaimDir). It runs before the containers of a pod placed with
	// VolumeFrom start. Nil: such pods wait, saying so.
	FetchVolume func(ctx context.Context, fromNode, namespace, claim, destDir string) error
	// ClaimDir is where this node keeps a pod's claim (the runtime's
	// layout: (*runtime.Runtime).ClaimDir).
	ClaimDir func(namespace string, claim *cluster.ClaimSource, podName string) string
	// LeaseValid reports whether this node's fencing lease holds; nil means
	// always. While it does not, the node's StatefulSet pods are stopped
	// and none starts (see fence.go).
	LeaseValid func() bool
	// LeaseRegained, if set, receives when the lease turns valid, so that
	// pods waiting for it start without waiting for the next resync.
	LeaseRegained <-chan struct{}
	// LeaseIndex, if set, is the state index the lease's last renewal
	// named: until the state the pods come from has reached it, nothing is
	// done for a StatefulSet pod (its placement here may be one the leader
	// has since moved; see fence.go).
	LeaseIndex func() uint64
	// Secrets opens the Secrets pods use (the agent's keyring). Nil: a
	// pod that uses one waits with CreateContainerConfigError, saying this
	// node cannot open Secrets; its imagePullSecrets are skipped, and its
	// pulls go on without them.
	Secrets SecretOpener
	// RuntimeReady reports whether the container runtime answers (the
	// agent's runtime health monitor); nil means always. While it does
	// not, exec probes that fail say nothing about the container (the
	// call could not reach it), so they neither restart it nor make it
	// unready: a containerd restart does not churn pods.
	RuntimeReady func() bool
}

// ErrConfig is returned by Run for a config missing a required field.
var ErrConfig = errors.New("node: invalid config")

func (c *Config) validate() error {
	switch {
	case c.NodeName == "":
		return fmt.Errorf("%w: NodeName is empty", ErrConfig)
	case c.Runtime == nil || c.Source == nil || c.Reporter == nil:
		return fmt.Errorf("%w: Runtime, Source and Reporter are required", ErrConfig)
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.BackoffBase, 10*time.Second)
	def(&c.BackoffMax, 5*time.Minute)
	def(&c.BackoffReset, 10*time.Minute)
	def(&c.ReportInterval, 200*time.Millisecond)
	def(&c.ResyncInterval, 2*time.Second)
	def(&c.ProbeSecond, time.Second)
	def(&c.OrphanGrace, 30*time.Second)
	def(&c.EvictionInterval, 10*time.Second)
	if c.MaxParallelStarts <= 0 {
		c.MaxParallelStarts = max(8, 4*goruntime.GOMAXPROCS(0))
	}
}

// Reconciler runs this node's pods. Create it with New and call Run once.
type Reconciler struct {
	cfg      Config
	log      *slog.Logger
	lister   *lister
	reporter *reporter
	wg       sync.WaitGroup // every goroutine Run started, workers included
	// starts holds a token per sandbox setup or container start in
	// flight (MaxParallelStarts).
	starts chan struct{}

	// Owned by the main loop (Run's goroutine).
	workers map[string]*worker // pod UID → worker
	desired map[string]*cluster.Pod
	listed  bool                       // a ListPods has succeeded
	lastObs map[string]*rtapi.PodState // from the latest listing
	lastSeq uint64
	leaseOK bool // LeaseValid at the last check
	// handedOut is the index of the state the workers' pods were last
	// handed out from (stored after they all have theirs); held says a
	// worker holds its StatefulSet pod back until it reaches the lease's
	// index, and is to be woken then.
	handedOut atomic.Uint64
	held      atomic.Bool
	// heldSince is when the resync tick first saw pods held (main loop's),
	// heldWarned whether it said so.
	heldSince  time.Time
	heldWarned bool
}

// New returns a reconciler for cfg.NodeName.
func New(cfg Config) *Reconciler {
	cfg.setDefaults()
	log := cfg.Logger.With("component", "node", "node", cfg.NodeName)
	return &Reconciler{
		cfg:      cfg,
		log:      log,
		lister:   newLister(),
		reporter: newReporter(cfg.NodeName, cfg.Reporter, cfg.ReportInterval, cfg.ResyncInterval, cfg.Clock, log),
		starts:   make(chan struct{}, cfg.MaxParallelStarts),
		workers:  map[string]*worker{},
		desired:  map[string]*cluster.Pod{},
		leaseOK:  true,
	}
}

// listResult is one ListPods outcome; seq orders it against workers'
// tickets (see lister).
type listResult struct {
	seq  uint64
	pods []rtapi.PodState
	err  error
}

// Run reconciles until ctx ends, then waits for every goroutine it started
// and returns nil. Containers are left running: an agent restart must not
// restart pods, so the next Run adopts them.
func (r *Reconciler) Run(ctx context.Context) error {
	if err := r.cfg.validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer r.wg.Wait() // runs after cancel (defers are LIFO)
	defer cancel()

	lists := make(chan listResult)
	evictions := make(chan eviction)
	r.goroutine(func() { r.lister.run(ctx, r.cfg.Runtime, lists) })
	r.goroutine(func() { r.reporter.run(ctx) })
	r.goroutine(func() { r.watchEvents(ctx) })
	r.goroutine(func() { r.watchStorage(ctx, evictions) })

	ticker := time.NewTicker(r.cfg.ResyncInterval)
	defer ticker.Stop()
	// Adopt before acting: no worker starts until the first listing has
	// told it what already runs, or it would recreate running containers.
	r.lister.request()
	changed := r.cfg.Source.Changed()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-changed:
			next := r.cfg.Source.Changed()
			if !ok && next == changed {
				// A closed channel that stays the same would spin: leave
				// it until the next tick, which fetches it again.
				next = nil
			}
			changed = next
			r.syncDesired(ctx)
		case res := <-lists:
			r.applyList(ctx, res)
		case e := <-evictions:
			if w := r.workers[e.uid]; w != nil {
				w.evict(e.msg)
			}
		case <-r.cfg.LeaseRegained:
			r.checkLease()
		case <-ticker.C:
			r.checkLease()
			r.checkHeld()
			if changed == nil {
				changed = r.cfg.Source.Changed()
			}
			r.lister.request()
			r.syncDesired(ctx)
		}
	}
}

// bounded runs f once one of the MaxParallelStarts slots is free.
func (r *Reconciler) bounded(ctx context.Context, f func() error) error {
	select {
	case r.starts <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.starts }()
	return f()
}

func (r *Reconciler) goroutine(f func()) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
}

// watchEvents turns container exits into a listing, so a crash is seen at
// once rather than at the next resync.
func (r *Reconciler) watchEvents(ctx context.Context) {
	events := r.cfg.Runtime.Events(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				return
			}
			r.lister.request()
		}
	}
}

// syncDesired reads the state and hands every worker its pod (nil for one
// no longer placed here), starting workers for new pods.
func (r *Reconciler) syncDesired(ctx context.Context) {
	st := r.cfg.Source.State()
	desired := map[string]*cluster.Pod{}
	for _, p := range st.PodsOnNode(r.cfg.NodeName) {
		desired[p.UID] = p
	}
	r.desired = desired
	r.reporter.recheck(desired)
	if !r.listed {
		return
	}
	for uid, p := range desired {
		if w := r.workers[uid]; w != nil && w.setPod(p) {
			w.stateChanged()
			continue
		}
		r.startWorker(ctx, uid, p)
	}
	for uid, w := range r.workers {
		if desired[uid] == nil && !w.setPod(nil) {
			delete(r.workers, uid)
		}
	}
	r.handedOut.Store(st.Index())
	if r.held.Load() && !r.behind() && r.held.Swap(false) {
		for _, w := range r.workers {
			poke(w.wake)
		}
	}
}

// heldWarnAfter is how long StatefulSet pods wait for a lagging state
// before the node says so: normally the state catches up in milliseconds.
const heldWarnAfter = 5 * time.Second

// checkHeld says when StatefulSet pods have waited long for this node's
// state to reach the lease's index, and when they stop waiting: nothing
// else shows why they neither start nor report.
func (r *Reconciler) checkHeld() {
	now := r.cfg.Clock.Now()
	if !r.held.Load() || !r.behind() {
		if r.heldWarned {
			r.log.Info("state caught up with the fencing lease: StatefulSet pods go on", "waited", now.Sub(r.heldSince).Round(time.Second))
		}
		r.heldSince, r.heldWarned = time.Time{}, false
		return
	}
	if r.heldSince.IsZero() {
		r.heldSince = now
	}
	if !r.heldWarned && now.Sub(r.heldSince) >= heldWarnAfter {
		r.heldWarned = true
		r.log.Warn("StatefulSet pods wait for this node's state to reach the index its fencing lease named: is Raft or the state stream reaching this node?",
			"state_index", r.handedOut.Load(), "lease_index", r.cfg.LeaseIndex())
	}
}

// behind reports whether the state the workers' pods came from is older
// than the lease's last renewal says it must be for StatefulSet pods.
func (r *Reconciler) behind() bool {
	return r.cfg.LeaseIndex != nil && r.handedOut.Load() < r.cfg.LeaseIndex()
}

// applyList hands every worker what the runtime holds for it and starts
// workers for pods the runtime holds but nobody watches (orphans, and
// everything at start-up).
func (r *Reconciler) applyList(ctx context.Context, res listResult) {
	if res.err != nil {
		if ctx.Err() == nil {
			r.log.Warn("listing runtime pods", "err", res.err)
		}
		return
	}
	obs := make(map[string]*rtapi.PodState, len(res.pods))
	for i := range res.pods {
		obs[res.pods[i].UID] = &res.pods[i]
	}
	r.lastObs, r.lastSeq = obs, res.seq
	if !r.listed {
		r.listed = true
		r.syncDesired(ctx)
	}
	for uid := range obs {
		if r.workers[uid] == nil {
			r.startWorker(ctx, uid, r.desired[uid])
		}
	}
	for uid, w := range r.workers {
		if !w.setObserved(obs[uid], res.seq) {
			delete(r.workers, uid)
			if p := r.desired[uid]; p != nil || obs[uid] != nil {
				r.startWorker(ctx, uid, p)
			}
		}
	}
}

func (r *Reconciler) startWorker(ctx context.Context, uid string, pod *cluster.Pod) {
	w := newWorker(r, uid, pod, r.lastObs[uid], r.lastSeq)
	r.workers[uid] = w
	r.goroutine(func() { w.run(ctx) })
}

// lister runs ListPods on request, coalescing requests that arrive while a
// listing is in flight. Each listing gets a sequence number when it starts;
// request returns the number of the first listing that will start after
// the call, so a worker that just changed the runtime waits for a listing
// that surely reflects its change and never acts twice on a stale one.
type lister struct {
	mu      sync.Mutex
	started uint64
	pending bool
	wake    chan struct{}
}

func newLister() *lister { return &lister{wake: make(chan struct{}, 1)} }

func (l *lister) request() uint64 {
	l.mu.Lock()
	l.pending = true
	ticket := l.started + 1
	l.mu.Unlock()
	poke(l.wake)
	return ticket
}

// last returns the number of the latest listing to have started.
func (l *lister) last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.started
}

func (l *lister) run(ctx context.Context, rt Runtime, out chan<- listResult) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		}
		l.mu.Lock()
		if !l.pending {
			l.mu.Unlock()
			continue
		}
		l.pending = false
		l.started++
		seq := l.started
		l.mu.Unlock()
		pods, err := rt.ListPods(ctx)
		select {
		case out <- listResult{seq: seq, pods: pods, err: err}:
		case <-ctx.Done():
			return
		}
	}
}

// poke wakes whoever waits on c without ever blocking the caller.
func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
