package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// errRuntimeLost stops the agent when the containerd it supervises cannot
// be brought back: the agent exits with an error, and its service manager
// (systemd: Restart=always) starts it afresh.
var errRuntimeLost = errors.New("the container runtime cannot be recovered")

// runtimeDaemon is the containerd process the agent supervises;
// *supervisedContainerd implements it, tests use a fake.
type runtimeDaemon interface {
	// Exited is closed once the current process has exited.
	Exited() <-chan struct{}
	// Restart starts a new process on the same socket after the current
	// one exited; it returns once the socket answers.
	Restart(ctx context.Context) error
	// Kill kills the current process (a hung one) and returns once it
	// has exited.
	Kill()
}

// healthLimits are the runtime health monitor's timings; zero fields take
// the defaults noted. Tests shorten them.
type healthLimits struct {
	Every   time.Duration // between probes (2s)
	Timeout time.Duration // a probe's deadline (3s)
	// NotReadyAfter failed probes in a row mark the runtime not ready (2);
	// an exited containerd does at once.
	NotReadyAfter int
	// HungAfter failed probes in a row make the agent kill its
	// containerd, to restart it (5). Never for one it does not supervise.
	HungAfter int
	// Restarts back off from BackoffBase (1s), doubling up to BackoffMax
	// (30s).
	BackoffBase, BackoffMax time.Duration
	// The agent gives up, and stops with errRuntimeLost, once GiveUpAfter
	// (5m) has passed since containerd went down and at least
	// GiveUpRestarts (10) restarts in a row failed.
	GiveUpAfter    time.Duration
	GiveUpRestarts int
	// A restarted containerd that lives StableFor (1m) ends the outage: its
	// next exit starts the back-off and the counts afresh. One that dies
	// sooner counts as a failed restart.
	StableFor time.Duration
}

func (l *healthLimits) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.Every, 2*time.Second)
	def(&l.Timeout, 3*time.Second)
	def(&l.BackoffBase, time.Second)
	def(&l.BackoffMax, 30*time.Second)
	def(&l.GiveUpAfter, 5*time.Minute)
	def(&l.StableFor, time.Minute)
	if l.NotReadyAfter <= 0 {
		l.NotReadyAfter = 2
	}
	if l.HungAfter <= 0 {
		l.HungAfter = 5
	}
	if l.GiveUpRestarts <= 0 {
		l.GiveUpRestarts = 10
	}
}

// runtimeHealth watches the container runtime: it probes it, restarts the
// containerd the agent supervises when it exits (or hangs), and tells the
// cluster (report) whether the runtime is ready, so that the node shows
// NotReady and gets no new pods meanwhile. Pods keep running: their shims
// outlive containerd.
type runtimeHealth struct {
	limits healthLimits
	probe  func(ctx context.Context) error
	daemon runtimeDaemon // nil: containerd is not ours to restart
	// report is called when readiness changes.
	report func(ready bool, why string)
	// fatal stops the agent.
	fatal func(error)
	log   *slog.Logger

	ready atomic.Bool

	// Owned by run.
	failedProbes int
	restarts     int       // failed restarts in this outage
	downSince    time.Time // when this outage began
	restartedAt  time.Time // the last successful restart
}

func newRuntimeHealth(limits healthLimits, probe func(context.Context) error, daemon runtimeDaemon,
	report func(bool, string), fatal func(error), log *slog.Logger) *runtimeHealth {
	limits.setDefaults()
	h := &runtimeHealth{limits: limits, probe: probe, daemon: daemon, report: report, fatal: fatal,
		log: log.With("component", "runtime-health")}
	h.ready.Store(true) // startRuntime has just reached it
	return h
}

// isReady tells whether the runtime is ready now (the node reconciler
// holds back conclusions drawn from failed runtime calls while it is not).
func (h *runtimeHealth) isReady() bool { return h.ready.Load() }

// run watches until ctx ends, or until it gives up on containerd, which
// stops the agent.
func (h *runtimeHealth) run(ctx context.Context) {
	tick := time.NewTicker(h.limits.Every)
	defer tick.Stop()
	for {
		var exited <-chan struct{}
		if h.daemon != nil {
			exited = h.daemon.Exited()
		}
		select {
		case <-ctx.Done():
			return
		case <-exited:
			if err := h.recover(ctx); err != nil {
				if ctx.Err() == nil {
					h.log.Error("giving up on containerd; stopping the agent", "err", err)
					h.fatal(err)
				}
				return
			}
			h.check(ctx)
		case <-tick.C:
			h.check(ctx)
		}
	}
}

// check probes the runtime once; not while the supervised containerd has
// exited, which run handles first.
func (h *runtimeHealth) check(ctx context.Context) {
	if h.daemon != nil {
		select {
		case <-h.daemon.Exited():
			return
		default:
		}
	}
	pctx, cancel := context.WithTimeout(ctx, h.limits.Timeout)
	err := h.probe(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err == nil {
		h.failedProbes = 0
		h.setReady(true, "")
		return
	}
	h.failedProbes++
	h.log.Warn("container runtime probe failed", "failures", h.failedProbes, "err", err)
	if h.failedProbes >= h.limits.NotReadyAfter {
		h.setReady(false, fmt.Sprintf("containerd not answering: %v", err))
	}
	if h.daemon != nil && h.failedProbes >= h.limits.HungAfter {
		h.log.Error("containerd hangs; killing it to start it again", "failed_probes", h.failedProbes)
		h.daemon.Kill() // run sees it exit and restarts it
		h.failedProbes = 0
	}
}

// recover restarts the exited containerd, backing off between attempts,
// until one succeeds (nil) or it gives up (errRuntimeLost).
func (h *runtimeHealth) recover(ctx context.Context) error {
	h.setReady(false, "containerd exited")
	now := time.Now()
	if h.restartedAt.IsZero() || now.Sub(h.restartedAt) >= h.limits.StableFor {
		h.restarts, h.downSince = 0, now // a new outage
	} else {
		h.restarts++ // died again soon after its restart
	}
	for {
		if h.restarts >= h.limits.GiveUpRestarts && time.Since(h.downSince) >= h.limits.GiveUpAfter {
			return fmt.Errorf("%w: containerd has been down for %s; %d restarts in a row failed",
				errRuntimeLost, roundDuration(time.Since(h.downSince)), h.restarts)
		}
		delay := h.backoff()
		h.log.Warn("containerd exited; restarting it", "in", delay, "failed_restarts", h.restarts)
		if !sleep(ctx, delay) {
			return ctx.Err()
		}
		err := h.daemon.Restart(ctx)
		if err == nil {
			h.restartedAt = time.Now()
			h.failedProbes = 0
			h.log.Info("containerd restarted", "down_for", roundDuration(time.Since(h.downSince)))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		h.restarts++
		h.log.Error("restart containerd", "failed_restarts", h.restarts, "err", err)
	}
}

// backoff is the wait before the next restart: BackoffBase after no failed
// restart, doubling with each, at most BackoffMax.
func (h *runtimeHealth) backoff() time.Duration {
	d := h.limits.BackoffBase
	for i := 0; i < h.restarts && d < h.limits.BackoffMax; i++ {
		d *= 2
	}
	return min(d, h.limits.BackoffMax)
}

// roundDuration rounds d for a message: to the second, or to the
// millisecond below ten seconds.
func roundDuration(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

func (h *runtimeHealth) setReady(ready bool, why string) {
	if h.ready.Swap(ready) == ready {
		return
	}
	if ready {
		h.log.Info("container runtime ready")
	} else {
		h.log.Warn("container runtime not ready; the node reports NotReady", "why", why)
	}
	h.report(ready, why)
}
