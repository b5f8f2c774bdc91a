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
// the plan when it commits. A scheduler.Tracker keeps each pass to what
// changed since the last one (nothing at all while the cluster is idle),
// with a full pass every fullEvery as the safety net.
type schedulerUnit struct {
	store stateStore
	log   *slog.Logger
	// fenced returns, of the given nodes, those whose fencing lease has
	// surely expired; hold, when set, serializes a pass that may move
	// their pods with the lease renewals until its plan is applied here
	// (see leaseKeeper), and returns the release.
	fenced func(nodes []string) map[string]bool
	hold   func() func()
	// minInterval spaces passes so that a burst of changes (status
	// reports from many pods) is scheduled in one pass; every is the
	// longest wait between looks at the state (a look with nothing changed
	// costs next to nothing), so fencing that expires with time and a lost
	// wake-up are noticed within it.
	minInterval, every time.Duration
	// fullEvery spaces the full passes (0: scheduler.DefaultFullEvery).
	fullEvery time.Duration
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
	tr := &scheduler.Tracker{FullEvery: l.fullEvery}
	for {
		changed := l.store.Changed()
		l.pass(ctx, tr, ids)
		if !sleep(ctx, minInterval) {
			return
		}
		wait := every
		if next := tr.NextWake(); !next.IsZero() {
			wait = min(wait, max(time.Until(next), 0))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// pass computes one plan from the latest state, restricted to what changed
// since the last, and commits it.
func (l *schedulerUnit) pass(ctx context.Context, tr *scheduler.Tracker, ids scheduler.IDSource) {
	st := l.store.State()
	opts := scheduler.Options{}
	if down := tr.Down(st); l.fenced != nil && len(down) > 0 {
		if l.hold != nil {
			defer l.hold()()
		}
		opts.Fenced = l.fenced(down)
	}
	res, ran := tr.Pass(opts, st, time.Now().UTC(), ids)
	if !ran || res.Plan.Empty() {
		return
	}
	plan := res.Plan
	out, err := l.store.Apply(ctx, &consensus.ApplyPlan{Plan: plan})
	switch {
	case err != nil:
		// The next pass cannot tell from the change feed what this one
		// meant to do: it looks at everything again.
		tr.Invalidate()
		if ctx.Err() == nil {
			l.log.Warn("commit plan", "err", err)
		}
	case out[0].Err != nil:
		tr.Invalidate()
		l.log.Warn("plan refused", "err", out[0].Err)
	case out[0].Plan != nil:
		pr := out[0].Plan
		if len(pr.Rejected) > 0 || out[0].Skipped > 0 {
			// Parts of the plan did not apply, so the change feed will not
			// name their keys: the next pass looks at everything.
			tr.Invalidate()
		}
		l.log.Debug("plan committed", "full", res.Full, "created", pr.Created, "placed", pr.Placed, "pending", pr.Pending,
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
