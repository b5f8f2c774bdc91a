package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"time"

	"shoal/autopilot"
	"shoal/consensus"
	"shoal/gossip"
)

// raftMembers is the Raft configuration as the membership unit changes it;
// consensus.Store implements it.
type raftMembers interface {
	stateStore
	Servers() ([]consensus.Server, error)
	AddNonvoter(ctx context.Context, id, addr string) error
	AddVoter(ctx context.Context, id, addr string) error
	DemoteVoter(ctx context.Context, id string) error
	RemoveServer(ctx context.Context, id string) error
}

// memberList is gossip's view of the cluster; *gossip.Gossip implements it.
type memberList interface {
	Members() []gossip.Member
	Events() <-chan gossip.Event
}

// membershipUnit runs on the leader: it turns what gossip says into Raft
// membership (add replicas, promote, replace voters; the other agents stay
// out of Raft) and node health (Ready, NotReady, Down), so that quorum
// heals without an operator.
type membershipUnit struct {
	self      string // this agent's name: the leader's Raft ID
	store     raftMembers
	gossip    memberList
	deadGrace time.Duration
	// replicasPerZone caps the non-voting replicas, as
	// autopilot.Config.ReplicasPerZone (zero: the default).
	replicasPerZone int
	// downAfter is how long a node gossip declares dead stays NotReady
	// before it is Down and its stateless pods start elsewhere.
	downAfter time.Duration
	log       *slog.Logger
	// settle lets a burst of gossip events gather into one pass; every is
	// the longest wait between passes (node health moves with time).
	settle, every time.Duration
}

func (c *membershipUnit) run(ctx context.Context) {
	settle, every := c.settle, c.every
	if settle == 0 {
		settle = 50 * time.Millisecond
	}
	if every == 0 {
		every = time.Second
	}
	leaderSince := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		c.tick(ctx, leaderSince)
		select {
		case <-ctx.Done():
			return
		case <-c.gossip.Events():
			if !sleep(ctx, settle) {
				return
			}
			drain(c.gossip.Events())
		case <-tick.C:
		}
	}
}

// drain empties ch without waiting: the next pass reads every member
// afresh, so the events it held are already accounted for.
func drain[T any](ch <-chan T) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// tick is one pass: observe, decide (package autopilot, pure), act.
func (c *membershipUnit) tick(ctx context.Context, leaderSince time.Time) {
	now := time.Now()
	members := autopilotMembers(c.gossip.Members())
	servers, err := c.store.Servers()
	if err != nil {
		c.log.Warn("read raft configuration", "err", err)
		return
	}
	in := autopilot.Input{
		LeaderID:    c.self,
		LeaderSince: leaderSince,
		Now:         now,
		Members:     members,
		Config:      autopilot.Config{DeadGrace: c.deadGrace, ReplicasPerZone: c.replicasPerZone},
	}
	var unmarked []string
	trust := c.store.State().Trust()
	for _, s := range servers {
		in.Servers = append(in.Servers, autopilot.Server{ID: s.ID, Addr: s.Addr, Voter: s.Voter})
		if !trust.HeldRaft(s.ID) {
			unmarked = append(unmarked, s.ID) // the first voter; members from before MarkRaftNodes
		}
	}
	if err := c.markRaftNodes(ctx, unmarked...); err != nil {
		c.log.Warn("mark raft members", "err", err)
		return
	}
	for _, ch := range autopilot.PlanMembership(in) {
		if err := c.change(ctx, ch); err != nil {
			c.log.Warn("raft membership change failed", "change", ch.String(), "err", err)
			return // observe again before the next change
		}
		c.log.Info("raft membership changed", "change", ch.String())
	}

	var cmds []consensus.Command
	for _, sc := range autopilot.StatusChanges(c.store.State().Nodes(), members, now, c.downAfter, c.deadGrace, leaderSince) {
		c.log.Info("node status", "node", sc.Node, "status", sc.Status, "disk_pressure", sc.DiskPressure)
		cmds = append(cmds, &consensus.SetNodeStatus{Name: sc.Node, Status: sc.Status, DiskPressure: sc.DiskPressure})
	}
	if len(cmds) > 0 {
		if _, err := c.store.Apply(ctx, cmds...); err != nil {
			c.log.Warn("record node status", "err", err)
		}
	}
}

// markRaftNodes records that nodes hold or held Raft
// (consensus.MarkRaftNodes): members serve the whole state to them, and
// to any other node only its view. Those already marked are skipped.
func (c *membershipUnit) markRaftNodes(ctx context.Context, nodes ...string) error {
	trust := c.store.State().Trust()
	nodes = slices.DeleteFunc(nodes, trust.HeldRaft)
	if len(nodes) == 0 {
		return nil
	}
	rs, err := c.store.Apply(ctx, &consensus.MarkRaftNodes{Nodes: nodes})
	if err == nil {
		err = rs[0].Err
	}
	if err != nil {
		return fmt.Errorf("mark %v as raft members: %w", nodes, err)
	}
	return nil
}

func (c *membershipUnit) change(ctx context.Context, ch autopilot.Change) error {
	switch ch.Op {
	case autopilot.OpAddNonvoter, autopilot.OpPromote:
		// Marked first: once a member, it may be cut off or removed and
		// follow the whole state from the others.
		if err := c.markRaftNodes(ctx, ch.ID); err != nil {
			return err
		}
	}
	switch ch.Op {
	case autopilot.OpAddNonvoter:
		return c.store.AddNonvoter(ctx, ch.ID, ch.Addr)
	case autopilot.OpPromote:
		return c.store.AddVoter(ctx, ch.ID, ch.Addr)
	case autopilot.OpDemote:
		return c.store.DemoteVoter(ctx, ch.ID)
	case autopilot.OpRemove:
		return c.store.RemoveServer(ctx, ch.ID)
	}
	return nil
}

func autopilotMembers(ms []gossip.Member) []autopilot.Member {
	out := make([]autopilot.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, autopilot.Member{
			Name:     m.Name,
			RaftAddr: net.JoinHostPort(m.Meta.Address, strconv.Itoa(m.Meta.RaftPort)),
			Zone:     m.Meta.Zone,
			State:    memberState(m.State),
			Since:    m.StateSince,
			// Only the node's status heeds it, not Raft membership.
			RuntimeNotReady: m.Meta.RuntimeNotReady,
			DiskPressure:    m.Meta.DiskPressure,
		})
	}
	return out
}

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
