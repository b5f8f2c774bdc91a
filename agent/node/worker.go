package node

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// worker drives one pod (by UID) toward its desired state. The main loop
// replaces its inputs (desired pod, observed state) under mu and pokes
// wake; only the worker's goroutine touches mem and its probers.
type worker struct {
	r    *Reconciler
	uid  string
	wake chan struct{}

	mu     sync.Mutex
	pod    *cluster.Pod
	obs    *rtapi.PodState
	seq    uint64 // listing obs came from
	closed bool   // the goroutine has returned; the main loop starts anew
	// evictMsg is why the storage monitor evicts the pod ("": it does not).
	evictMsg string
	// hookCancel cuts short the postStart hook running now, if any, when
	// the pod is to stop.
	hookCancel context.CancelFunc
	// watch: pod refers to ConfigMaps or Secrets, so every state change
	// may concern it (config.go).
	watch bool

	// Owned by run.
	mem       *podMemory
	ticket    uint64 // ignore listings older than this (see lister)
	published *cluster.PodStatus
	probes    *probeSet
	probers   map[string]*proberHandle // container name → running prober
	config    configMemory
}

type proberHandle struct {
	inst   instance
	cancel context.CancelFunc
}

func newWorker(r *Reconciler, uid string, pod *cluster.Pod, obs *rtapi.PodState, seq uint64) *worker {
	w := &worker{
		r: r, uid: uid, wake: make(chan struct{}, 1),
		pod: pod, obs: obs, seq: seq,
		mem: newPodMemory(r.cfg.NodeAddress,
			backoff{base: r.cfg.BackoffBase, max: r.cfg.BackoffMax, reset: r.cfg.BackoffReset},
			r.cfg.OrphanGrace),
		probes:  &probeSet{res: map[string]probeResult{}},
		probers: map[string]*proberHandle{},
		config:  configMemory{written: map[string]string{}, lastErr: map[string]string{}},
		watch:   watchesState(pod),
	}
	if pod != nil {
		// What the state already shows need not be sent again (an agent
		// that restarts and adopts its pods reports nothing new).
		st := pod.Status.Clone()
		w.published = &st
	}
	return w
}

// setPod hands the worker its desired pod; false means the worker has
// exited and a new one must be started.
func (w *worker) setPod(p *cluster.Pod) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	if (p == nil || p.Terminating) && w.hookCancel != nil {
		w.hookCancel()
	}
	// Snapshots share unchanged objects, so the same pointer means the
	// same pod: no need to wake the worker on every unrelated change.
	if w.pod != p {
		w.pod = p
		w.watch = watchesState(p)
		poke(w.wake)
	}
	return true
}

// evict hands the worker the storage monitor's verdict; the first one
// stands.
func (w *worker) evict(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.evictMsg == "" {
		w.evictMsg = msg
		poke(w.wake)
	}
}

// stateChanged wakes the worker after a state change that left its pod
// as it was, if the pod refers to objects that may have changed.
func (w *worker) stateChanged() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.watch && !w.closed {
		poke(w.wake)
	}
}

// setObserved hands the worker what listing seq saw of its pod.
func (w *worker) setObserved(obs *rtapi.PodState, seq uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	if seq < w.seq {
		// Older than what refresh read after the worker's last change.
		return true
	}
	w.obs, w.seq = obs, seq
	poke(w.wake)
	return true
}

// takeTicket asks for a listing after a change the worker made: until one
// that started after it arrives (or refresh reads the pod), the worker
// waits. What it saw before the change is stale, refresh's read included.
func (w *worker) takeTicket() {
	t := w.r.lister.request()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ticket = t
	w.seq = min(w.seq, t-1)
}

// refresh reads the pod's own state after a change the worker made, so
// the next step sees the change (and the status saying so goes out)
// without waiting for a listing of every pod on the node, which grows
// with them. The listing asked for still comes; those that started before
// this read are then ignored (setObserved), so what the worker sees never
// goes back in time.
func (w *worker) refresh(ctx context.Context, log *slog.Logger) {
	before := w.r.lister.last()
	obs, err := w.r.cfg.Runtime.PodState(ctx, w.uid)
	if err != nil {
		if ctx.Err() == nil {
			log.Debug("reading the pod's state; waiting for the next listing", "err", err)
		}
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// As new as the first listing to start after the read; the ticket
	// taken before the read is never above it.
	if seq := before + 1; seq >= w.seq {
		w.obs, w.seq = obs, seq
	}
}

func (w *worker) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the probers
	log := w.r.log.With("pod_uid", w.uid)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		// Before the pod is read: an index past the lease's says the pod
		// read next came from a state at least as new.
		behind := w.r.behind()
		w.mu.Lock()
		pod, obs, fresh, evict := w.pod, w.obs, w.seq >= w.ticket, w.evictMsg
		if fresh && pod == nil && obs == nil {
			// Not desired and nothing left in the runtime: done. Closing
			// under mu means the main loop never hands work to a worker
			// that is gone.
			w.closed = true
			w.mu.Unlock()
			w.r.reporter.forget(w.uid)
			return
		}
		w.mu.Unlock()
		if behind && pod != nil && pod.Owner != nil && pod.Owner.Kind == cluster.KindStatefulSet {
			// Held back (fence.go) until the main loop, handing out a
			// state that has caught up, wakes the held workers. Saying so
			// before looking again means that wake-up cannot be missed;
			// caught up meanwhile, the pod read above may be older than
			// the index: read it again.
			w.r.held.Store(true)
			if !w.r.behind() {
				continue
			}
		}

		var wakeAt time.Time
		if fresh {
			sb := w.mem.sandbox
			if sb == nil && obs != nil {
				sb = obs.Sandbox
			}
			var ip string
			if sb != nil {
				ip = sb.IP
			}
			cfg := w.syncConfig(ctx, log, pod, ip, sb != nil)
			d := w.mem.step(stepInput{now: w.r.cfg.Clock.Now(), pod: pod, obs: obs, probes: w.probes.snapshot(),
				node: w.r.cfg.NodeName, fenced: !w.r.leaseValid(), behind: behind, evict: evict, config: cfg})
			w.syncProbers(ctx, pod, obs)
			if d.status != nil && (w.published == nil || !statusEqual(*w.published, *d.status)) {
				if w.published == nil || w.published.Phase != d.status.Phase {
					log.Debug("pod phase", "pod", pod.Key(), "phase", d.status.Phase)
				}
				w.published = d.status
				w.r.reporter.set(pod.Ref(), *d.status)
			}
			if d.act.kind != actNone {
				w.do(ctx, log, pod, d.act)
				if ctx.Err() != nil {
					return
				}
				continue
			}
			wakeAt = d.wakeAt
		}
		if !wakeAt.IsZero() {
			// The clock may be a test's fake: resync wakes us too.
			timer.Reset(max(wakeAt.Sub(w.r.cfg.Clock.Now()), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// do makes one runtime call and records its outcome. Calls that change
// what the runtime holds take a lister ticket: the next step waits for a
// listing that started after the change.
func (w *worker) do(ctx context.Context, log *slog.Logger, pod *cluster.Pod, a action) {
	rt := w.r.cfg.Runtime
	began := time.Now()
	var (
		sb       *rtapi.PodSandbox
		err      error
		hookFail string
	)
	switch a.kind {
	case actEnsureSandbox:
		err = w.r.bounded(ctx, func() (err error) {
			sb, err = rt.EnsureSandbox(ctx, pod)
			return err
		})
	case actPullImage:
		err = w.pullImage(ctx, log, pod, a)
	case actStartContainer:
		var c cluster.Container
		if c, err = w.containerToStart(log, pod, a.container, w.mem.sandbox); err != nil {
			break // nothing reached the runtime
		}
		log.Info("starting container", "pod", pod.Key(), "container", a.container.Name, "attempt", a.attempt)
		err = w.r.bounded(ctx, func() error { return rt.StartContainer(ctx, pod, w.mem.sandbox, c, a.attempt) })
		w.takeTicket()
		w.refresh(ctx, log)
		if err == nil && postStartOf(a.container) != nil {
			hookFail = w.postStart(ctx, log, pod, a.container)
		}
	case actStopContainer:
		log.Info("stopping container", "pod", pod.Key(), "container", a.container.Name, "why", a.why)
		grace := a.grace
		if a.preStop {
			grace = w.preStop(ctx, log, pod, a.container, grace)
		}
		err = rt.StopContainer(ctx, w.uid, a.container.Name, grace)
		w.takeTicket()
	case actRemovePod:
		log.Info("removing pod", "grace", a.grace)
		if len(a.running) > 0 {
			w.stopAll(ctx, log, pod, a.running, a.grace)
		}
		err = rt.RemovePod(ctx, w.uid, a.grace)
		w.takeTicket()
	case actResize:
		log.Info("resizing container in place", "pod", pod.Key(), "container", a.container.Name,
			"requests", a.container.Requests.String(), "limits", a.container.Limits.String())
		err = rt.UpdateResources(ctx, w.uid, a.container)
		w.takeTicket()
	case actFetchVolume:
		log.Info("copying volume data", "pod", pod.Key(), "from", a.from)
		err = w.r.fetchVolumes(ctx, pod, a.from)
	}
	if err != nil && ctx.Err() == nil {
		log.Warn("runtime call failed", "call", a.kind.String(), "err", err)
	}
	// Where a pod's start spends its time (make bench-pods, LOG_LEVEL=debug).
	log.Debug("runtime call done", "call", a.kind.String(), "took", time.Since(began), "ok", err == nil)
	w.mem.record(a, sb, err, w.r.cfg.Clock.Now())
	if hookFail != "" {
		w.mem.postStartFailed(a.container.Name, a.attempt, hookFail)
	}
}

func (k actionKind) String() string {
	return [...]string{"none", "EnsureSandbox", "PullImage", "StartContainer", "StopContainer", "RemovePod", "FetchVolume", "Resize"}[k]
}

// syncProbers runs one prober per running container instance that has
// probes, and stops those whose instance is gone.
func (w *worker) syncProbers(ctx context.Context, pod *cluster.Pod, obs *rtapi.PodState) {
	want := map[string]instance{}
	specs := map[string]cluster.Container{}
	if pod != nil && !pod.Terminating && obs != nil && w.mem.sandbox != nil {
		all := append(append([]cluster.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
		for _, c := range all {
			if c.LivenessProbe == nil && c.ReadinessProbe == nil && c.StartupProbe == nil {
				continue
			}
			for _, oc := range obs.Containers {
				if oc.Name == c.Name && oc.Running {
					want[c.Name] = instance{oc.ID, oc.Attempt}
					specs[c.Name] = c
				}
			}
		}
	}
	for name, h := range w.probers {
		if inst, ok := want[name]; !ok || inst != h.inst {
			h.cancel()
			delete(w.probers, name)
		}
	}
	for name, inst := range want {
		if w.probers[name] != nil {
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		w.probers[name] = &proberHandle{inst: inst, cancel: cancel}
		p := &prober{
			rt: w.r.cfg.Runtime, podUID: w.uid, podIP: w.mem.sandbox.IP,
			c: specs[name], inst: inst, unit: w.r.cfg.ProbeSecond,
			set: w.probes, wake: w.wake, runtimeReady: w.r.cfg.RuntimeReady,
		}
		w.r.goroutine(func() { p.run(pctx) })
	}
}
