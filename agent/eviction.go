package agent

import (
	"context"
	"log/slog"
	"time"

	"shoal/cluster"
	"shoal/consensus"
)

// taintEvictionUnit is the leader's NoExecute taint manager: it terminates
// the pods on a node with a NoExecute taint they do not tolerate, at once,
// or after the tolerationSeconds of a toleration that bounds its stay.
// Their workloads replace them elsewhere, as after a drain.
type taintEvictionUnit struct {
	store stateStore
	log   *slog.Logger
	// now is the leader's clock; only durations between its readings are
	// used (its monotonic reading), never wall times from the state.
	now   func() time.Time
	every time.Duration
}

// evictionClock remembers since when each pod has been due for eviction,
// by UID. It starts afresh with each term: a new leader counts a pod's
// tolerationSeconds again from when it first sees the taint, so a pod may
// stay longer across a leader change, never shorter.
type evictionClock map[string]time.Time

// due returns the pods that must be terminated now and forgets the pods
// that no longer need to go.
func (c evictionClock) due(st *cluster.State, now time.Time) []cluster.PodRef {
	var out []cluster.PodRef
	pending := map[string]bool{}
	for _, n := range st.Nodes() {
		if !hasNoExecute(n.Taints) {
			continue
		}
		for _, p := range st.PodsOnNode(n.Name) {
			if p.Terminating || !p.Holds() {
				continue
			}
			evict, secs := cluster.NoExecuteGrace(n.Taints, p.Spec.Tolerations)
			if !evict {
				continue
			}
			pending[p.UID] = true
			since, ok := c[p.UID]
			if !ok {
				since = now
				c[p.UID] = now
			}
			if now.Sub(since) >= time.Duration(secs)*time.Second {
				out = append(out, p.Ref())
			}
		}
	}
	for uid := range c {
		if !pending[uid] {
			delete(c, uid)
		}
	}
	return out
}

func hasNoExecute(taints []cluster.Taint) bool {
	for _, t := range taints {
		if t.Effect == cluster.TaintNoExecute {
			return true
		}
	}
	return false
}

// run evicts until ctx ends (leadership lost or agent stopping).
func (u *taintEvictionUnit) run(ctx context.Context) {
	now, every := u.now, u.every
	if now == nil {
		now = time.Now
	}
	if every == 0 {
		every = time.Second
	}
	clock := evictionClock{}
	for {
		changed := u.store.Changed()
		if refs := clock.due(u.store.State(), now()); len(refs) > 0 {
			res, err := u.store.Apply(ctx, &consensus.TerminatePods{Pods: refs})
			switch {
			case err != nil:
				if ctx.Err() == nil {
					u.log.Warn("evict pods for NoExecute taints", "err", err)
				}
			case res[0].Err != nil:
				u.log.Warn("evict pods for NoExecute taints", "err", res[0].Err)
			default:
				u.log.Info("evicted pods for NoExecute taints", "pods", len(refs))
			}
		}
		// Space passes out, as the scheduler does, under bursts of changes.
		if !sleep(ctx, 50*time.Millisecond) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(every):
		}
	}
}
