package agent

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"time"

	"shoal/autopilot"
	"shoal/consensus"
	"shoal/gossip"
)

// clusterLoop runs on the leader: it turns what gossip says into Raft
// membership (add, promote, replace voters) and node health (Ready,
// NotReady, Down), so that quorum heals without an operator.
type clusterLoop struct {
	store     *consensus.Store
	gossip    *gossip.Gossip
	deadGrace time.Duration
	log       *slog.Logger
}

func (c *clusterLoop) run(ctx context.Context) {
	var leaderSince time.Time
	for ctx.Err() == nil {
		if !c.store.IsLeader() {
			leaderSince = time.Time{}
		} else {
			if leaderSince.IsZero() {
				leaderSince = time.Now()
			}
			c.tick(ctx, leaderSince)
		}
		select {
		case <-ctx.Done():
			return
		case <-c.gossip.Events():
			// Let a burst of events settle into one pass.
			time.Sleep(50 * time.Millisecond)
		case <-time.After(time.Second):
		}
	}
}

// tick is one pass: observe, decide (package autopilot, pure), act.
func (c *clusterLoop) tick(ctx context.Context, leaderSince time.Time) {
	now := time.Now()
	var members []autopilot.Member
	for _, m := range c.gossip.Members() {
		members = append(members, autopilot.Member{
			Name:     m.Name,
			RaftAddr: net.JoinHostPort(m.Meta.Address, strconv.Itoa(m.Meta.RaftPort)),
			Zone:     m.Meta.Zone,
			State:    memberState(m.State),
			Since:    m.StateSince,
		})
	}
	servers, err := c.store.Servers()
	if err != nil {
		c.log.Warn("read raft configuration", "err", err)
		return
	}
	in := autopilot.Input{
		LeaderID:    c.localID(),
		LeaderSince: leaderSince,
		Now:         now,
		Members:     members,
		Config:      autopilot.Config{DeadGrace: c.deadGrace},
	}
	for _, s := range servers {
		in.Servers = append(in.Servers, autopilot.Server{ID: s.ID, Addr: s.Addr, Voter: s.Voter})
	}
	for _, ch := range autopilot.PlanMembership(in) {
		var err error
		switch ch.Op {
		case autopilot.OpAddNonvoter:
			err = c.store.AddNonvoter(ctx, ch.ID, ch.Addr)
		case autopilot.OpPromote:
			err = c.store.AddVoter(ctx, ch.ID, ch.Addr)
		case autopilot.OpDemote:
			err = c.store.DemoteVoter(ctx, ch.ID)
		case autopilot.OpRemove:
			err = c.store.RemoveServer(ctx, ch.ID)
		}
		if err != nil {
			c.log.Warn("raft membership change failed", "change", ch.String(), "err", err)
			return // observe again before the next change
		}
		c.log.Info("raft membership changed", "change", ch.String())
	}

	var cmds []consensus.Command
	for _, sc := range autopilot.StatusChanges(c.store.State().Nodes(), members, now, c.deadGrace, leaderSince) {
		c.log.Info("node status", "node", sc.Node, "status", sc.Status)
		cmds = append(cmds, &consensus.SetNodeStatus{Name: sc.Node, Status: sc.Status})
	}
	if len(cmds) > 0 {
		if _, err := c.store.Apply(ctx, cmds...); err != nil {
			c.log.Warn("record node status", "err", err)
		}
	}
}

func (c *clusterLoop) localID() string { return c.gossip.LocalNode().Name }

func memberState(s gossip.State) autopilot.State {
	switch s {
	case gossip.StateAlive:
		return autopilot.Alive
	case gossip.StateSuspect:
		return autopilot.Suspect
	case gossip.StateDead:
		return autopilot.Dead
	case gossip.StateLeft:
		return autopilot.Left
	}
	return 0
}
