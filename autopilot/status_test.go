package autopilot

import (
	"slices"
	"testing"
	"time"

	"shoal/cluster"
)

func TestNodeStatus(t *testing.T) {
	const downAfter = time.Minute
	for _, tc := range []struct {
		m    Member
		want cluster.NodeStatus
	}{
		{mem("a", Alive, 0), cluster.NodeReady},
		{mem("a", Alive, time.Hour), cluster.NodeReady},
		{mem("a", Suspect, time.Hour), cluster.NodeNotReady},
		{mem("a", 0, time.Hour), cluster.NodeNotReady}, // unknown state
		{mem("a", Dead, 0), cluster.NodeNotReady},
		{mem("a", Dead, downAfter-time.Nanosecond), cluster.NodeNotReady},
		{mem("a", Dead, downAfter), cluster.NodeDown},
		{mem("a", Left, 10*time.Second), cluster.NodeNotReady},
		{mem("a", Left, time.Hour), cluster.NodeDown},
		// The runtime's health matters only while the agent is alive, and
		// never makes a node Down however long it lasts.
		{notReady(mem("a", Alive, 0)), cluster.NodeNotReady},
		{notReady(mem("a", Alive, time.Hour)), cluster.NodeNotReady},
		{notReady(mem("a", Suspect, time.Hour)), cluster.NodeNotReady},
		{notReady(mem("a", Dead, 0)), cluster.NodeNotReady},
		{notReady(mem("a", Dead, downAfter)), cluster.NodeDown},
	} {
		if got := NodeStatus(tc.m, now, downAfter); got != tc.want {
			t.Errorf("%v (runtime not ready %v) for %v: %s, want %s", tc.m.State, tc.m.RuntimeNotReady, now.Sub(tc.m.Since), got, tc.want)
		}
	}
}

func TestStatusChanges(t *testing.T) {
	const downAfter = time.Minute
	node := func(name string, s cluster.NodeStatus) *cluster.Node {
		return &cluster.Node{Name: name, Status: s}
	}
	// Nodes given out of order; changes come back sorted.
	nodes := []*cluster.Node{
		node("f", cluster.NodeDown), node("a", cluster.NodeReady), node("b", cluster.NodeReady),
		node("c", cluster.NodeNotReady), node("d", cluster.NodeReady), node("e", cluster.NodeNotReady),
		node("g", ""), node("h", cluster.NodeDown),
	}
	members := []Member{
		mem("a", Alive, time.Hour),     // unchanged
		mem("b", Suspect, time.Second), // Ready → NotReady
		mem("c", Dead, 2*time.Minute),  // NotReady → Down
		mem("f", Alive, time.Second),   // back: Down → Ready
		mem("g", Alive, time.Second),   // new node, no status yet
		mem("h", Dead, 2*time.Minute),  // already Down
		mem("zz", Alive, time.Second),  // in gossip, not a node: ignored
	}
	// i: alive, its runtime down: Ready → NotReady; j: its runtime back.
	nodes = append(nodes, node("i", cluster.NodeReady), node("j", cluster.NodeNotReady))
	members = append(members, notReady(mem("i", Alive, time.Hour)), mem("j", Alive, time.Hour))
	// k: its data dir fills (DiskPressure, still Ready); l: it has room
	// again; m: dead with pressure: only its Down counts.
	pressured := node("l", cluster.NodeReady)
	pressured.DiskPressure = true
	nodes = append(nodes, node("k", cluster.NodeReady), pressured, node("m", cluster.NodeDown))
	full := mem("k", Alive, time.Hour)
	full.DiskPressure = true
	gone := mem("m", Dead, time.Hour)
	gone.DiskPressure = true
	members = append(members, full, mem("l", Alive, time.Hour), gone)
	// d and e are missing from gossip; the leader took over 10s ago.
	got := StatusChanges(nodes, members, now, downAfter, downAfter, now.Add(-10*time.Second))
	want := []StatusChange{
		{Node: "b", Status: cluster.NodeNotReady}, {Node: "c", Status: cluster.NodeDown}, {Node: "d", Status: cluster.NodeNotReady},
		{Node: "f", Status: cluster.NodeReady}, {Node: "g", Status: cluster.NodeReady}, {Node: "i", Status: cluster.NodeNotReady}, {Node: "j", Status: cluster.NodeReady},
		{Node: "k", Status: cluster.NodeReady, DiskPressure: true}, {Node: "l", Status: cluster.NodeReady},
	}
	if !slices.Equal(got, want) {
		t.Errorf("changes = %v, want %v", got, want)
	}

	// Long after the leader took over, nodes still unheard of are Down.
	got = StatusChanges(nodes, members, now, downAfter, downAfter, now.Add(-2*time.Minute))
	want = []StatusChange{
		{Node: "b", Status: cluster.NodeNotReady}, {Node: "c", Status: cluster.NodeDown}, {Node: "d", Status: cluster.NodeDown},
		{Node: "e", Status: cluster.NodeDown}, {Node: "f", Status: cluster.NodeReady}, {Node: "g", Status: cluster.NodeReady},
		{Node: "i", Status: cluster.NodeNotReady}, {Node: "j", Status: cluster.NodeReady},
		{Node: "k", Status: cluster.NodeReady, DiskPressure: true}, {Node: "l", Status: cluster.NodeReady},
	}
	if !slices.Equal(got, want) {
		t.Errorf("after downAfter: changes = %v, want %v", got, want)
	}
}

func TestStatusChangesNewLeader(t *testing.T) {
	// A leader that has just started knows no members yet: every node
	// becomes NotReady, none Down, until downAfter has passed since it
	// took over.
	nodes := []*cluster.Node{
		{Name: "a", Status: cluster.NodeReady}, {Name: "b", Status: cluster.NodeReady},
		{Name: "c", Status: cluster.NodeNotReady},
	}
	for _, leaderSince := range []time.Time{now, now.Add(-59 * time.Second), {}} {
		got := StatusChanges(nodes, nil, now, time.Second, time.Minute, leaderSince)
		want := []StatusChange{{Node: "a", Status: cluster.NodeNotReady}, {Node: "b", Status: cluster.NodeNotReady}}
		if !slices.Equal(got, want) {
			t.Errorf("leader since %v: changes = %v, want %v", now.Sub(leaderSince), got, want)
		}
	}
	got := StatusChanges(nodes, nil, now, time.Second, time.Minute, now.Add(-time.Minute))
	if len(got) != 3 || got[0].Status != cluster.NodeDown {
		t.Errorf("a minute on: changes = %v, want all Down", got)
	}
}

// TestStatusChangesTwoGraces: a member gossip found dead is Down after the
// short downAfter, while a node gossip knows nothing of waits out the long
// unknownAfter.
func TestStatusChangesTwoGraces(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	nodes := []*cluster.Node{{Name: "dead", Status: cluster.NodeReady}, {Name: "unknown", Status: cluster.NodeReady}}
	members := []Member{{Name: "dead", State: Dead, Since: now.Add(-3 * time.Second)}}
	got := StatusChanges(nodes, members, now, 2*time.Second, 30*time.Second, now.Add(-3*time.Second))
	want := []StatusChange{{Node: "dead", Status: cluster.NodeDown}, {Node: "unknown", Status: cluster.NodeNotReady}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// notReady is m saying its container runtime is not ready.
func notReady(m Member) Member {
	m.RuntimeNotReady = true
	return m
}
