package agent

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"time"

	"shoal/cluster"
	"shoal/consensus"
	"shoal/scheduler"
)

// stateStore is the replicated state as the leader units read and write
// it; consensus.Store implements it.
type stateStore interface {
	State() *cluster.State
	Changed() <-chan struct{}
	Apply(ctx context.Context, cmds ...consensus.Command) ([]consensus.Result, error)
}

// schedulerUnit is the leader's scheduling loop: the one writer of
// placements. Each pass reads the latest state, and consensus re-checks
// the plan when it commits.
type schedulerUnit struct {
	store stateStore
	log   *slog.Logger
	// fenced returns, of the given nodes, those whose fencing lease has
	// surely expired.
	fenced func(nodes []string) map[string]bool
	// minInterval spaces passes so that a burst of changes (status
	// reports from many pods) is scheduled in one pass; every is the
	// longest wait between passes, so a lost wake-up never stalls
	// scheduling.
	minInterval, every time.Duration
}

// run schedules until ctx ends (leadership lost or agent stopping).
func (l *schedulerUnit) run(ctx context.Context) {
	minInterval, every := l.minInterval, l.every
	if minInterval == 0 {
		minInterval = 50 * time.Millisecond
	}
	if every == 0 {
		every = time.Second
	}
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	ids := scheduler.NewRandIDs(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))
	for {
		changed := l.store.Changed()
		l.pass(ctx, ids)
		if !sleep(ctx, minInterval) {
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

// pass computes one plan from the latest state and commits it.
func (l *schedulerUnit) pass(ctx context.Context, ids scheduler.IDSource) {
	st := l.store.State()
	opts := scheduler.Options{}
	if l.fenced != nil {
		var down []string
		for _, n := range st.Nodes() {
			if n.Status == cluster.NodeDown {
				down = append(down, n.Name)
			}
		}
		if len(down) > 0 {
			opts.Fenced = l.fenced(down)
		}
	}
	plan := opts.Compute(st, time.Now().UTC(), ids)
	if plan.Empty() {
		return
	}
	res, err := l.store.Apply(ctx, &consensus.ApplyPlan{Plan: plan})
	switch {
	case err != nil:
		if ctx.Err() == nil {
			l.log.Warn("commit plan", "err", err)
		}
	case res[0].Err != nil:
		l.log.Warn("plan refused", "err", res[0].Err)
	case res[0].Plan != nil:
		pr := res[0].Plan
		l.log.Debug("plan committed", "created", pr.Created, "placed", pr.Placed, "pending", pr.Pending,
			"terminated", pr.Terminated, "deleted", pr.Deleted, "resized", pr.Resized, "rejected", len(pr.Rejected))
	}
}

// sleep waits d unless ctx ends first; it reports whether ctx is still
// alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
