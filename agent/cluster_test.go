package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"shoal/consensus"
	"shoal/consensus/consensustest"
	"shoal/gossip"
)

// fakeRaft is a Raft configuration the membership unit changes in memory;
// the state (for node health) is a real single-node store.
type fakeRaft struct {
	stateStore
	servers []consensus.Server
}

func (f *fakeRaft) Servers() ([]consensus.Server, error) { return slices.Clone(f.servers), nil }

func (f *fakeRaft) index(id string) int {
	return slices.IndexFunc(f.servers, func(s consensus.Server) bool { return s.ID == id })
}

func (f *fakeRaft) AddNonvoter(_ context.Context, id, addr string) error {
	if f.index(id) >= 0 {
		return fmt.Errorf("add %s: already a server", id)
	}
	f.servers = append(f.servers, consensus.Server{ID: id, Addr: addr})
	return nil
}

func (f *fakeRaft) AddVoter(_ context.Context, id, addr string) error {
	i := f.index(id)
	if i < 0 {
		return fmt.Errorf("promote %s: not a server", id)
	}
	f.servers[i].Voter = true
	return nil
}

func (f *fakeRaft) DemoteVoter(_ context.Context, id string) error {
	i := f.index(id)
	if i < 0 {
		return fmt.Errorf("demote %s: not a server", id)
	}
	f.servers[i].Voter = false
	return nil
}

func (f *fakeRaft) RemoveServer(_ context.Context, id string) error {
	i := f.index(id)
	if i < 0 {
		return fmt.Errorf("remove %s: not a server", id)
	}
	f.servers = slices.Delete(f.servers, i, i+1)
	return nil
}

type fakeMembers []gossip.Member

// aliveMembers is n agents, n1 to nN, alive for an hour.
func aliveMembers(n int) fakeMembers {
	var members fakeMembers
	for i := range n {
		members = append(members, gossip.Member{
			Name:       fmt.Sprintf("n%d", i+1),
			Meta:       gossip.NodeMeta{Address: "127.0.0.1", RaftPort: 7000 + i},
			State:      gossip.StateAlive,
			StateSince: time.Now().Add(-time.Hour),
		})
	}
	return members
}

func (m fakeMembers) Members() []gossip.Member    { return m }
func (m fakeMembers) Events() <-chan gossip.Event { return nil }

// TestMembershipUnitReplicas: the agent's --raft-replicas-per-zone reaches
// the planner. 9 healthy agents in one zone settle on 5 voters and that
// many replicas; the rest stay out of Raft.
func TestMembershipUnitReplicas(t *testing.T) {
	store := consensustest.Cluster(t, 1, nil)[0]
	members := aliveMembers(9)
	for _, tc := range []struct {
		replicasPerZone, wantReplicas int
	}{
		{0, 2}, {NoRaftReplicas, 0}, {1, 1}, {3, 3},
	} {
		t.Run(fmt.Sprint(tc.replicasPerZone), func(t *testing.T) {
			raft := &fakeRaft{stateStore: store, servers: []consensus.Server{{ID: "n1", Addr: "127.0.0.1:7000", Voter: true}}}
			u := &membershipUnit{self: "n1", store: raft, gossip: members, deadGrace: time.Minute,
				replicasPerZone: tc.replicasPerZone, downAfter: time.Minute, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			for range 10 { // more passes than the planner needs to converge
				u.tick(context.Background(), time.Now())
			}
			voters := 0
			for _, s := range raft.servers {
				if s.Voter {
					voters++
				}
			}
			if voters != 5 || len(raft.servers)-voters != tc.wantReplicas {
				t.Errorf("servers %v: want 5 voters and %d non-voters", raft.servers, tc.wantReplicas)
			}
		})
	}
}

// TestMembershipUnitMarksRaftNodes: every agent the unit makes a Raft
// member, and the first voter, is marked in the state before it is one
// (members serve the whole state to those only); one removed stays
// marked, and an agent kept out of Raft is not.
func TestMembershipUnitMarksRaftNodes(t *testing.T) {
	store := consensustest.Cluster(t, 1, nil)[0]
	members := aliveMembers(4)
	raft := &fakeRaft{stateStore: store, servers: []consensus.Server{{ID: "n1", Addr: "127.0.0.1:7000", Voter: true}}}
	u := &membershipUnit{self: "n1", store: raft, gossip: members, deadGrace: time.Minute,
		replicasPerZone: NoRaftReplicas, downAfter: time.Minute, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for range 10 {
		u.tick(context.Background(), time.Now())
	}
	var servers []string
	for _, s := range raft.servers {
		servers = append(servers, s.ID)
	}
	slices.Sort(servers)
	if got := store.State().Trust().RaftNodes; len(servers) != 3 || !slices.Equal(got, servers) {
		t.Fatalf("marked %v, servers %v: want the 3 voters marked, and only them", got, servers)
	}
	// n3 leaves Raft (its agent is gone); it stays marked, as its data
	// dir still holds the state.
	raft.servers = slices.DeleteFunc(raft.servers, func(s consensus.Server) bool { return s.ID == servers[2] })
	u.tick(context.Background(), time.Now())
	if !store.State().Trust().HeldRaft(servers[2]) {
		t.Fatalf("%s unmarked when it left Raft", servers[2])
	}
}
