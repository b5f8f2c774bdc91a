package autopilot

import (
	"slices"
	"strings"
	"time"

	"shoal/cluster"
)

// NodeStatus maps a member's gossip state to the node status the cluster
// shows: alive is Ready, or NotReady while it says its container runtime
// is not ready; suspect (or unknown) is NotReady; dead or left is NotReady
// until downAfter has passed since it entered that state, then Down. Down
// is what lets the scheduler move Deployment pods away. Gossip declares a
// member dead only after a failed probe and a suspicion period that other
// members confirm, so downAfter is short (a second: enough for a slow node
// to refute its death); replacing a dead voter in Raft waits far longer
// (autopilot.Config.DeadGrace), as a new voter costs a log transfer. A
// runtime that is not ready never makes a node Down (its pods keep running
// across a containerd restart, and an agent that cannot bring it back
// exits, which gossip then sees).
func NodeStatus(m Member, now time.Time, downAfter time.Duration) cluster.NodeStatus {
	switch m.State {
	case Alive:
		if m.RuntimeNotReady {
			return cluster.NodeNotReady
		}
		return cluster.NodeReady
	case Dead, Left:
		if now.Sub(m.Since) >= downAfter {
			return cluster.NodeDown
		}
	}
	return cluster.NodeNotReady
}

// StatusChange is a node whose recorded status should change.
type StatusChange struct {
	Node         string
	Status       cluster.NodeStatus
	DiskPressure bool
}

// StatusChanges returns, sorted by node name, the nodes whose recorded
// status differs from what gossip now implies.
//
// A node that gossip does not know at all (a leader that just restarted has
// not heard from everyone yet; memberlist forgets long-dead members) counts
// as dead since leaderSince, when this agent became leader: NotReady at
// first, Down only after unknownAfter, which is the long grace: gossip
// gave no evidence either way. So a new leader never declares every node
// Down at once, and a node nobody hears from still goes Down in the end. A
// zero leaderSince is taken as now.
func StatusChanges(nodes []*cluster.Node, members []Member, now time.Time, downAfter, unknownAfter time.Duration, leaderSince time.Time) []StatusChange {
	if leaderSince.IsZero() {
		leaderSince = now
	}
	byName := make(map[string]Member, len(members))
	for _, m := range members {
		byName[m.Name] = m
	}
	var out []StatusChange
	for _, n := range nodes {
		m, ok := byName[n.Name]
		after := downAfter
		if !ok {
			m = Member{Name: n.Name, State: Dead, Since: leaderSince}
			after = unknownAfter
		}
		// Only a live member's word counts: a dead one's pods move anyway.
		pressure := ok && m.State == Alive && m.DiskPressure
		if s := NodeStatus(m, now, after); s != n.Status || pressure != n.DiskPressure {
			out = append(out, StatusChange{Node: n.Name, Status: s, DiskPressure: pressure})
		}
	}
	slices.SortFunc(out, func(a, b StatusChange) int { return strings.Compare(a.Node, b.Node) })
	return out
}
