package autopilot

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// State is a gossip member's state as the leader last saw it.
type State int

// Member states. The zero State is "unknown": it is treated like Suspect
// (neither alive for quorum nor removable), so a Member built without its
// state can never cause a removal.
const (
	Alive State = iota + 1
	Suspect
	Dead
	Left
)

func (s State) String() string {
	switch s {
	case Alive:
		return "alive"
	case Suspect:
		return "suspect"
	case Dead:
		return "dead"
	case Left:
		return "left"
	}
	return "unknown"
}

// Server is one member of the Raft configuration. It has the shape of
// consensus.Server, so the caller converts with autopilot.Server(s); this
// package does not import consensus so that it stays free of Raft.
type Server struct {
	ID    string
	Addr  string
	Voter bool
}

// Member is one agent as gossip reports it. Name is the agent's node name,
// which is also its Raft server ID.
type Member struct {
	Name     string
	RaftAddr string
	Zone     string // the node's `zone` label; "" when it has none
	State    State
	// Since is when the member entered State, on the leader's clock. It is
	// only ever subtracted from Input.Now, which is on the same clock.
	Since time.Time
	// RuntimeNotReady: the member says its container runtime is down or
	// not answering (gossip meta). It only affects the node's status, not
	// Raft membership: the agent itself is fine.
	RuntimeNotReady bool
	// DiskPressure: the member says its data dir is below its reserve;
	// only the node's status heeds it (no new pods there).
	DiskPressure bool
}

// Defaults for Config's zero fields.
const (
	DefaultDeadGrace = 30 * time.Second
	DefaultStableFor = 5 * time.Second
	// DefaultReplicasPerZone non-voting replicas per zone: one to promote
	// when a voter of the zone is lost and one more to stream the state
	// from while that one is being promoted.
	DefaultReplicasPerZone = 2
	// DefaultMaxReplicas bounds the replicas whatever the zone count, so
	// that with 5 voters the leader sends each entry to at most 12
	// followers at any cluster size. It is 2 per zone for up to 4 zones.
	DefaultMaxReplicas = 8
)

// NoReplicas, for Config.ReplicasPerZone or Config.MaxReplicas, keeps Raft
// to the voters (any negative value does); zero means the default.
const NoReplicas = -1

// Config tunes PlanMembership. Zero fields take the defaults.
type Config struct {
	// TargetVoters returns how many voters the cluster should have when n
	// agents are present (see PlanMembership for which count). An even
	// answer is rounded down and anything below 1 becomes 1. Default:
	// DefaultTargetVoters.
	TargetVoters func(n int) int
	// DeadGrace is how long a voter's member must have been dead before
	// the voter is removed: long enough to ride out a reboot or a short
	// partition without churning the configuration.
	DeadGrace time.Duration
	// StableFor is how long a non-voter's member must have been alive
	// before it is promoted, so a flapping agent never gets a vote, and
	// how long a member must have been alive before it becomes a replica.
	StableFor time.Duration
	// ReplicasPerZone and MaxReplicas cap the non-voting replicas Raft
	// holds beside the voters: ReplicasPerZone for each zone present
	// agents are in, at most MaxReplicas in all. Every other agent stays
	// out of Raft and follows the state stream from a member. Zero means
	// DefaultReplicasPerZone and DefaultMaxReplicas; NoReplicas (or any
	// negative value) means none, so that only voters hold Raft.
	ReplicasPerZone int
	MaxReplicas     int
}

// DefaultTargetVoters is 1 voter for 1–2 agents, 3 for 3–6 and 5 from 7.
// Two voters would tolerate no more failures than one; more than five
// slows every commit for little gain.
func DefaultTargetVoters(n int) int {
	switch {
	case n >= 7:
		return 5
	case n >= 3:
		return 3
	}
	return 1
}

func (c Config) withDefaults() Config {
	if c.TargetVoters == nil {
		c.TargetVoters = DefaultTargetVoters
	}
	if c.DeadGrace <= 0 {
		c.DeadGrace = DefaultDeadGrace
	}
	if c.StableFor <= 0 {
		c.StableFor = DefaultStableFor
	}
	if c.ReplicasPerZone == 0 {
		c.ReplicasPerZone = DefaultReplicasPerZone
	}
	if c.MaxReplicas == 0 {
		c.MaxReplicas = DefaultMaxReplicas
	}
	return c
}

// replicaCap is how many non-voting replicas Raft holds when present
// agents are in the given number of zones.
func (c Config) replicaCap(zones int) int {
	return max(0, min(c.ReplicasPerZone*zones, c.MaxReplicas))
}

// target is the odd, positive voter count for n present agents.
func (c Config) target(n int) int {
	t := c.TargetVoters(n)
	if t < 1 {
		return 1
	}
	if t%2 == 0 {
		t-- // an even count tolerates no more failures than one fewer
	}
	return t
}

// Input is what the leader observed.
type Input struct {
	Servers  []Server // the latest Raft configuration
	Members  []Member // gossip members, including departed ones still known
	LeaderID string   // this agent's server ID
	// LeaderSince is when this agent became leader. A server with no gossip
	// member at all counts as dead since then: a new leader must not remove
	// servers merely because its gossip has not caught up, yet a server
	// that gossip forgot long ago must still go eventually. Zero means such
	// servers are never removed.
	LeaderSince time.Time
	Now         time.Time
	Config      Config
}

// Op is what a Change does.
type Op string

// Membership operations, each one Raft configuration change.
const (
	// OpAddNonvoter adds a server that replicates the log but does not vote
	// (raft AddNonvoter).
	OpAddNonvoter Op = "add-nonvoter"
	// OpPromote makes a non-voter a voter (raft AddVoter with its address).
	OpPromote Op = "promote"
	// OpDemote makes a voter a non-voter (raft DemoteVoter).
	OpDemote Op = "demote"
	// OpRemove removes a server from the configuration (raft RemoveServer).
	OpRemove Op = "remove"
)

// Change is one membership change for the leader loop to carry out.
type Change struct {
	Op   Op
	ID   string
	Addr string // the server's Raft address (needed by AddNonvoter, AddVoter)
	// Reason says why, for the log line the caller writes.
	Reason string
}

func (c Change) String() string {
	return fmt.Sprintf("%s %s (%s)", c.Op, c.ID, c.Reason)
}

const (
	// maxChanges bounds a plan so that each change is applied and
	// re-observed soon; the leader loop plans again every tick.
	maxChanges = 4
	// maxVoterChanges bounds how far one plan moves the voter set: enough
	// to go from one odd size to the next.
	maxVoterChanges = 2
)

// PlanMembership returns the Raft membership changes the leader should make
// now, in order; nil when the configuration is as it should be or when no
// change is safe. See the package documentation for the invariants.
//
// The voter target is Config.TargetVoters(n), where n counts the agents that
// are present or may come back: alive, suspect, or dead for less than
// DeadGrace, plus the leader. Members that left or have been dead past grace
// are not counted. Counting only the alive ones would shrink the target the
// moment one of three agents blipped, demoting a healthy voter for a failure
// that the grace period exists to ride out.
//
// Beside the voters, Raft holds at most Config.ReplicasPerZone non-voting
// replicas per zone of present agents (MaxReplicas in all), plus, while
// voters are short of the target, one non-voter for each missing voter (a
// voter-to-be joins as a non-voter first). Every other alive agent is a
// client: it stays out of Raft and follows the state stream from a member,
// so the leader's replication cost does not grow with the cluster.
//
// In one plan, in this order:
//   - remove one voter that is gone (left, or dead past DeadGrace), then
//     promote a healthy non-voter (a replica) in its place if voters are
//     below target, and stop there; a client becomes a replica in a later
//     plan;
//   - promote healthy non-voters up to the target, fewest-voters zone first,
//     then by name; or demote voters down to it, keeping zone spread;
//   - remove non-voters that are gone;
//   - remove one non-voter beyond the cap, never a voter-to-be;
//   - add alive members as non-voters while below the cap, from the zone
//     with the fewest Raft servers first, then by name; a replica (as
//     against a voter-to-be) must have been alive for StableFor.
func PlanMembership(in Input) []Change {
	p := newPlanner(in)
	if !p.quorumAlive(p.voterIDs()) {
		return nil
	}
	if p.removeGoneVoter() {
		return p.out
	}
	p.resize()
	p.removeGoneNonvoters()
	p.trimNonvoters()
	p.addNonvoters()
	return p.out
}

// planner simulates the configuration as the plan's changes apply to it,
// so that each change is judged against the state its predecessors leave.
type planner struct {
	now         time.Time
	cfg         Config
	leader      string
	leaderSince time.Time
	members     map[string]Member
	servers     map[string]Server
	observed    map[string]bool // servers in the configuration as observed
	target      int
	replicas    int // the cap on non-voting replicas
	voterMoves  int
	out         []Change
}

func newPlanner(in Input) *planner {
	p := &planner{
		now:         in.Now,
		cfg:         in.Config.withDefaults(),
		leader:      in.LeaderID,
		leaderSince: in.LeaderSince,
		members:     make(map[string]Member, len(in.Members)),
		servers:     make(map[string]Server, len(in.Servers)),
		observed:    make(map[string]bool, len(in.Servers)),
	}
	for _, m := range in.Members {
		p.members[m.Name] = m
	}
	for _, s := range in.Servers {
		p.servers[s.ID] = s
		p.observed[s.ID] = true
	}
	n, zones := p.present()
	p.target = p.cfg.target(n)
	p.replicas = p.cfg.replicaCap(zones)
	return p
}

// present counts the agents that should size the voter set and the
// replica cap, and the zones they are in.
func (p *planner) present() (n, zones int) {
	if _, ok := p.members[p.leader]; !ok && p.leader != "" {
		n++ // its zone is unknown: it adds none
	}
	zs := map[string]bool{}
	for name, m := range p.members {
		gone := m.State == Left || m.State == Dead && p.now.Sub(m.Since) >= p.cfg.DeadGrace
		if name == p.leader || !gone {
			n++
			zs[m.Zone] = true
		}
	}
	return n, len(zs)
}

// alive reports whether a server counts towards a quorum: the leader
// always, others only while gossip reports them alive. Suspects do not
// count, which errs towards refusing a change.
func (p *planner) alive(id string) bool {
	if id == p.leader {
		return true
	}
	m, ok := p.members[id]
	return ok && m.State == Alive
}

// healthy reports whether a server may be promoted.
func (p *planner) healthy(id string) bool {
	return p.observed[id] && id != p.leader && p.stable(id)
}

// stable reports whether a member has been alive for StableFor.
func (p *planner) stable(id string) bool {
	m, ok := p.members[id]
	return ok && m.State == Alive && p.now.Sub(m.Since) >= p.cfg.StableFor
}

// gone says why a server should leave the configuration, or "" if it
// should stay.
func (p *planner) gone(id string) string {
	if id == p.leader {
		return ""
	}
	m, ok := p.members[id]
	if !ok {
		if !p.leaderSince.IsZero() && p.now.Sub(p.leaderSince) >= p.cfg.DeadGrace {
			return fmt.Sprintf("not in gossip since this leader took over %s ago", p.now.Sub(p.leaderSince))
		}
		return ""
	}
	switch {
	case m.State == Left:
		return "left the cluster"
	case m.State == Dead && p.now.Sub(m.Since) >= p.cfg.DeadGrace:
		return fmt.Sprintf("dead for %s", p.now.Sub(m.Since))
	}
	return ""
}

func (p *planner) zone(id string) string { return p.members[id].Zone }

// ids returns the simulated configuration's server IDs, sorted, filtered.
func (p *planner) ids(keep func(Server) bool) []string {
	var ids []string
	for id, s := range p.servers {
		if keep(s) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (p *planner) voterIDs() []string {
	return p.ids(func(s Server) bool { return s.Voter })
}

func (p *planner) nonvoterIDs() []string {
	return p.ids(func(s Server) bool { return !s.Voter })
}

func quorum(n int) int { return n/2 + 1 }

// quorumAlive reports whether a quorum of the given voters is alive.
func (p *planner) quorumAlive(voters []string) bool {
	n := 0
	for _, id := range voters {
		if p.alive(id) {
			n++
		}
	}
	return n >= quorum(len(voters))
}

// safe reports whether giving id a vote (or taking it away) keeps a quorum
// of both the voters before the change, which must commit it, and the
// voters after it, who must commit everything that follows.
func (p *planner) safe(id string, vote bool) bool {
	before := p.voterIDs()
	after := slices.DeleteFunc(slices.Clone(before), func(v string) bool { return v == id })
	if vote {
		after = append(after, id)
	}
	return len(after) > 0 && p.quorumAlive(before) && p.quorumAlive(after)
}

func (p *planner) room() bool { return len(p.out) < maxChanges }

func (p *planner) emit(op Op, id, addr, reason string) {
	p.out = append(p.out, Change{Op: op, ID: id, Addr: addr, Reason: reason})
	switch op {
	case OpAddNonvoter:
		p.servers[id] = Server{ID: id, Addr: addr}
	case OpPromote, OpDemote:
		s := p.servers[id]
		s.Voter = op == OpPromote
		p.servers[id] = s
		p.voterMoves++
	case OpRemove:
		if p.servers[id].Voter {
			p.voterMoves++
		}
		delete(p.servers, id)
	}
}

// removeGoneVoter removes the first gone voter whose removal is safe and
// promotes a replacement; it reports whether it removed one.
func (p *planner) removeGoneVoter() bool {
	for _, id := range p.voterIDs() {
		why := p.gone(id)
		if why == "" || !p.safe(id, false) {
			continue
		}
		p.emit(OpRemove, id, p.servers[id].Addr, "voter "+why)
		if len(p.voterIDs()) < p.target {
			if c := p.promotionCandidates(); len(c) > 0 && p.safe(c[0], true) {
				p.emit(OpPromote, c[0], p.servers[c[0]].Addr, "replaces removed voter "+id)
			}
		}
		return true
	}
	return false
}

// voterZones counts the simulated voters per zone.
func (p *planner) voterZones() map[string]int {
	z := map[string]int{}
	for _, id := range p.voterIDs() {
		z[p.zone(id)]++
	}
	return z
}

// promotionCandidates lists healthy non-voters, best first: from the zone
// with the fewest voters, then by name.
func (p *planner) promotionCandidates() []string {
	zones := p.voterZones()
	c := slices.DeleteFunc(p.nonvoterIDs(), func(id string) bool { return !p.healthy(id) })
	slices.SortFunc(c, func(a, b string) int {
		return cmp.Or(cmp.Compare(zones[p.zone(a)], zones[p.zone(b)]), cmp.Compare(a, b))
	})
	return c
}

// demotionCandidates lists voters other than the leader, best to demote
// first: not alive before alive (a voter that cannot vote only weighs on
// the quorum), then from the zone with the most voters, then the highest
// name (the mirror of promotion, so the same voters stay).
func (p *planner) demotionCandidates() []string {
	zones := p.voterZones()
	c := slices.DeleteFunc(p.voterIDs(), func(id string) bool { return id == p.leader })
	rank := func(id string) int {
		if p.alive(id) {
			return 1
		}
		return 0
	}
	slices.SortFunc(c, func(a, b string) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)),
			cmp.Compare(zones[p.zone(b)], zones[p.zone(a)]), cmp.Compare(b, a))
	})
	return c
}

// resize moves the voter count towards the target, ending on an odd count.
func (p *planner) resize() {
	voters := len(p.voterIDs())
	switch {
	case voters < p.target:
		k := min(p.target-voters, len(p.promotionCandidates()), maxVoterChanges-p.voterMoves)
		if k > 0 && (voters+k)%2 == 0 {
			k-- // wait for a second candidate rather than stop on an even count
		}
		for range k {
			c := p.promotionCandidates()
			if !p.room() || !p.safe(c[0], true) {
				return
			}
			p.emit(OpPromote, c[0], p.servers[c[0]].Addr,
				fmt.Sprintf("%d voters, target %d", len(p.voterIDs()), p.target))
		}
	case voters > p.target:
		k := min(voters-p.target, maxVoterChanges-p.voterMoves)
		if k > 1 && (voters-k)%2 == 0 {
			k--
		}
		for range k {
			if !p.room() {
				return
			}
			for _, id := range p.demotionCandidates() {
				if p.safe(id, false) {
					p.emit(OpDemote, id, p.servers[id].Addr,
						fmt.Sprintf("%d voters, target %d", len(p.voterIDs()), p.target))
					break
				}
			}
		}
	}
}

// removeGoneNonvoters removes non-voters whose members are gone. A
// non-voter carries no vote, so this never affects the quorum.
func (p *planner) removeGoneNonvoters() {
	for _, id := range p.nonvoterIDs() {
		why := p.gone(id)
		if why == "" {
			continue
		}
		if !p.room() {
			return
		}
		p.emit(OpRemove, id, p.servers[id].Addr, "non-voter "+why)
	}
}
