package agent

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// leaderUnit is work that only the Raft leader does: scheduling, Raft
// membership and node health, fencing leases. It runs until ctx ends,
// which is when leadership is lost or the agent stops.
type leaderUnit struct {
	name string
	run  func(ctx context.Context)
}

// leadership is the one place that follows this agent's Raft leadership
// (swarmkit's becomeLeader is the model). Every leader-only unit is
// started when leadership is gained and cancelled, and waited for, when it
// is lost, so no unit polls IsLeader or outlives its term.
type leadership struct {
	// changes delivers this member's leadership after each change
	// (consensus.Store.LeaderCh). It keeps the latest value for its one
	// reader, this watcher, so a term gained before run starts is still
	// delivered.
	changes <-chan bool
	// elected runs at the start of each term, before any unit starts: a
	// unit's first pass must see what a new term resets (the leases).
	elected []func(now time.Time)
	units   []leaderUnit
	log     *slog.Logger
}

// run follows leadership until ctx ends, then stops the units.
func (l *leadership) run(ctx context.Context) {
	var (
		cancel context.CancelFunc
		wg     sync.WaitGroup
	)
	stop := func() {
		if cancel == nil {
			return
		}
		cancel()
		wg.Wait()
		cancel = nil
		l.log.Info("leadership lost: leader units stopped")
	}
	start := func() {
		now := time.Now()
		for _, fn := range l.elected {
			fn(now)
		}
		var uctx context.Context
		uctx, cancel = context.WithCancel(ctx)
		for _, u := range l.units {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u.run(uctx)
			}()
		}
		l.log.Info("leadership gained: leader units started", "units", len(l.units))
	}
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case leader := <-l.changes:
			// Raft notifies every change, so the values alternate. The
			// channel keeps only the latest: "true" while leading means
			// a loss and a new term were squashed into one value, and the
			// units restart so the new term starts afresh.
			stop()
			if leader {
				start()
			}
		}
	}
}
