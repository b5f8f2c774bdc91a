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

// leaderLoop runs the scheduler while this agent is the Raft leader: the
// one writer of placements (STYLE practice 6). Each pass reads the latest
// state, and consensus re-checks the plan when it commits.
type leaderLoop struct {
	store *consensus.Store
	log   *slog.Logger
	// fenced returns, of the given nodes, those whose fencing lease has
	// surely expired; elected is called at the start of each term.
	fenced  func(nodes []string) map[string]bool
	elected func(now time.Time)
	// minInterval spaces passes so that a burst of changes (status
	// reports from many pods) is scheduled in one pass.
	minInterval time.Duration
}

func (l *leaderLoop) run(ctx context.Context) {
	if l.minInterval == 0 {
		l.minInterval = 50 * time.Millisecond
	}
	for ctx.Err() == nil {
		if !l.store.IsLeader() {
			select {
			case <-ctx.Done():
				return
			case <-l.store.LeaderCh():
			case <-time.After(time.Second):
			}
			continue
		}
		if l.elected != nil {
			l.elected(time.Now())
		}
		l.log.Info("leading: scheduling loop started")
		l.lead(ctx)
		l.log.Info("scheduling loop stopped")
	}
}

// lead schedules until ctx ends or leadership is lost.
func (l *leaderLoop) lead(ctx context.Context) {
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	ids := scheduler.NewRandIDs(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))
	for ctx.Err() == nil && l.store.IsLeader() {
		changed := l.store.Changed()
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
		if !plan.Empty() {
			res, err := l.store.Apply(ctx, &consensus.ApplyPlan{Plan: plan})
			switch {
			case err != nil:
				l.log.Warn("commit plan", "err", err)
			case res[0].Err != nil:
				l.log.Warn("plan refused", "err", res[0].Err)
			case res[0].Plan != nil:
				pr := res[0].Plan
				l.log.Debug("plan committed", "created", pr.Created, "placed", pr.Placed, "pending", pr.Pending,
					"terminated", pr.Terminated, "deleted", pr.Deleted, "rejected", len(pr.Rejected))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(l.minInterval):
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(time.Second):
			// Periodic pass: time-driven decisions (none yet need it, but
			// a lost wake-up must not stall scheduling).
		}
	}
}
