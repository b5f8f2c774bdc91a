package autopilot

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// mem is a member that entered state age ago.
func mem(name string, st State, age time.Duration) Member {
	return Member{Name: name, RaftAddr: name + ":7950", State: st, Since: now.Add(-age)}
}

// zmem is mem with a zone.
func zmem(name, zone string, st State, age time.Duration) Member {
	m := mem(name, st, age)
	m.Zone = zone
	return m
}

func voter(id string) Server    { return Server{ID: id, Addr: id + ":7950", Voter: true} }
func nonvoter(id string) Server { return Server{ID: id, Addr: id + ":7950"} }

// healthy members, alive for a minute.
func alives(names ...string) []Member {
	var ms []Member
	for _, n := range names {
		ms = append(ms, mem(n, Alive, time.Minute))
	}
	return ms
}

func voters(ids ...string) []Server {
	var ss []Server
	for _, id := range ids {
		ss = append(ss, voter(id))
	}
	return ss
}

func nonvoters(ids ...string) []Server {
	var ss []Server
	for _, id := range ids {
		ss = append(ss, nonvoter(id))
	}
	return ss
}

// short renders a plan as "op id" strings, which is what tables compare.
func short(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, string(c.Op)+" "+c.ID)
	}
	return out
}

// plan runs PlanMembership and checks every invariant it can see from the
// outside on the result.
func plan(t *testing.T, in Input) []Change {
	t.Helper()
	out := PlanMembership(in)
	checkPlan(t, in, out)
	return out
}

// checkPlan re-derives safety independently of the planner: the leader is
// untouched, every change keeps a quorum of the voters on both sides of it
// alive, at most one voter is removed, the plan is bounded, and every
// change names a server in the right state for it.
func checkPlan(t *testing.T, in Input, plan []Change) {
	t.Helper()
	if len(plan) > maxChanges {
		t.Errorf("plan has %d changes, more than %d: %v", len(plan), maxChanges, plan)
	}
	state := map[string]State{}
	for _, m := range in.Members {
		state[m.Name] = m.State
	}
	aliveQuorum := func(cfg map[string]Server) bool {
		n, a := 0, 0
		for id, s := range cfg {
			if !s.Voter {
				continue
			}
			n++
			if id == in.LeaderID || state[id] == Alive {
				a++
			}
		}
		return n > 0 && a >= n/2+1
	}
	cfg := map[string]Server{}
	for _, s := range in.Servers {
		cfg[s.ID] = s
	}
	removedVoters, voterMoves := 0, 0
	caps := newCapCheck(in)
	for _, c := range plan {
		caps.before(t, c, cfg)
		if c.Reason == "" {
			t.Errorf("%v has no reason", c)
		}
		if c.ID == in.LeaderID && (c.Op == OpRemove || c.Op == OpDemote) {
			t.Errorf("plan touches the leader: %v", c)
		}
		before := aliveQuorum(cfg)
		s, ok := cfg[c.ID]
		switch c.Op {
		case OpAddNonvoter:
			if ok {
				t.Errorf("%v: already in the configuration", c)
			}
			cfg[c.ID] = Server{ID: c.ID, Addr: c.Addr}
		case OpPromote:
			if !ok || s.Voter {
				t.Errorf("%v: not a non-voter", c)
			}
			s.Voter = true
			cfg[c.ID] = s
			voterMoves++
		case OpDemote:
			if !ok || !s.Voter {
				t.Errorf("%v: not a voter", c)
			}
			s.Voter = false
			cfg[c.ID] = s
			voterMoves++
		case OpRemove:
			if !ok {
				t.Errorf("%v: not in the configuration", c)
			}
			if s.Voter {
				removedVoters++
				voterMoves++
			}
			delete(cfg, c.ID)
		}
		caps.after(t, c, cfg)
		if !before || !aliveQuorum(cfg) {
			t.Errorf("%v loses the alive quorum (before %v, after %v); plan %v", c, before, aliveQuorum(cfg), plan)
		}
	}
	if removedVoters > 1 {
		t.Errorf("plan removes %d voters: %v", removedVoters, plan)
	}
	if voterMoves > maxVoterChanges {
		t.Errorf("plan moves %d voters: %v", voterMoves, plan)
	}
}

// limits re-derives from the input the voter target and the replica cap:
// the agents present (not left, not dead past grace; the leader always)
// and the zones they are in.
func limits(in Input) (target, replicas int) {
	cfg := in.Config.withDefaults()
	n, leaderKnown := 0, false
	zones := map[string]bool{}
	for _, m := range in.Members {
		leaderKnown = leaderKnown || m.Name == in.LeaderID
		if m.Name != in.LeaderID && (m.State == Left || m.State == Dead && in.Now.Sub(m.Since) >= cfg.DeadGrace) {
			continue
		}
		n++
		zones[m.Zone] = true
	}
	if !leaderKnown && in.LeaderID != "" {
		n++
	}
	return cfg.target(n), cfg.replicaCap(len(zones))
}

// capCheck checks a plan's non-voter changes against the caps: an addition
// never takes the non-voters past the replicas plus the voters still
// missing; a member that is alive loses its place only while there are
// more non-voters than that, once per plan, and never while it is one of
// the healthy non-voters the missing voters need.
type capCheck struct {
	in               Input
	stableFor        time.Duration
	target, replicas int
	members          map[string]Member
	trims            int
}

func newCapCheck(in Input) *capCheck {
	c := &capCheck{in: in, stableFor: in.Config.withDefaults().StableFor, members: map[string]Member{}}
	c.target, c.replicas = limits(in)
	for _, m := range in.Members {
		c.members[m.Name] = m
	}
	return c
}

func (c *capCheck) healthy(id string) bool {
	m, ok := c.members[id]
	return ok && id != c.in.LeaderID && m.State == Alive && c.in.Now.Sub(m.Since) >= c.stableFor
}

// budget counts cfg's voters, non-voters and healthy non-voters, and
// says how many non-voters it may hold and how many voters it lacks.
func (c *capCheck) budget(cfg map[string]Server) (nonvoters, healthy, budget, deficit int) {
	voters := 0
	for id, s := range cfg {
		switch {
		case s.Voter:
			voters++
		case c.healthy(id):
			healthy++
			nonvoters++
		default:
			nonvoters++
		}
	}
	deficit = max(0, c.target-voters)
	return nonvoters, healthy, c.replicas + deficit, deficit
}

func (c *capCheck) before(t *testing.T, ch Change, cfg map[string]Server) {
	t.Helper()
	s, in := cfg[ch.ID]
	if ch.Op != OpRemove || !in || s.Voter || c.members[ch.ID].State != Alive {
		return
	}
	if c.trims++; c.trims > 1 {
		t.Errorf("%v: a second non-voter with an alive member removed in one plan", ch)
	}
	if n, _, budget, _ := c.budget(cfg); n <= budget {
		t.Errorf("%v: removes an alive non-voter with %d non-voters, %d allowed", ch, n, budget)
	}
}

func (c *capCheck) after(t *testing.T, ch Change, cfg map[string]Server) {
	t.Helper()
	n, healthy, budget, deficit := c.budget(cfg)
	switch {
	case ch.Op == OpAddNonvoter && n > budget:
		t.Errorf("%v: %d non-voters, %d allowed (%d replicas, %d voters missing)", ch, n, budget, c.replicas, deficit)
	case ch.Op == OpRemove && c.healthy(ch.ID) && healthy < deficit:
		t.Errorf("%v: removes a voter-to-be: %d healthy non-voters left, %d voters missing", ch, healthy, deficit)
	}
}

// apply carries out a plan on a configuration, as the leader loop would.
func apply(servers []Server, plan []Change) []Server {
	cfg := slices.Clone(servers)
	for _, c := range plan {
		i := slices.IndexFunc(cfg, func(s Server) bool { return s.ID == c.ID })
		switch c.Op {
		case OpAddNonvoter:
			cfg = append(cfg, Server{ID: c.ID, Addr: c.Addr})
		case OpPromote:
			cfg[i].Voter = true
		case OpDemote:
			cfg[i].Voter = false
		case OpRemove:
			cfg = slices.Delete(cfg, i, i+1)
		}
	}
	return cfg
}

// planSteps plans and applies until a plan is empty or max plans have
// been applied, advancing in.Now by step after each (members' Since stays,
// so they age). It leaves in at the final configuration and returns each
// applied plan as "op id, op id".
func planSteps(t *testing.T, in *Input, step time.Duration, max int) []string {
	t.Helper()
	var steps []string
	for len(steps) < max {
		p := plan(t, *in)
		if len(p) == 0 {
			break
		}
		steps = append(steps, strings.Join(short(p), ", "))
		in.Servers = apply(in.Servers, p)
		in.Now = in.Now.Add(step)
	}
	return steps
}

// converge plans and applies until a plan is empty, advancing the clock by
// step between rounds, and returns the final configuration and the number
// of non-empty rounds.
func converge(t *testing.T, in Input, step time.Duration) ([]Server, int) {
	t.Helper()
	const most = 20
	rounds := len(planSteps(t, &in, step, most))
	if rounds == most {
		t.Fatalf("no fixed point after %d rounds: %v", most, in.Servers)
	}
	return in.Servers, rounds
}

func roles(servers []Server) (vs, nvs []string) {
	for _, s := range servers {
		if s.Voter {
			vs = append(vs, s.ID)
		} else {
			nvs = append(nvs, s.ID)
		}
	}
	slices.Sort(vs)
	slices.Sort(nvs)
	return vs, nvs
}

func TestPlanMembership(t *testing.T) {
	cases := []struct {
		name    string
		servers []Server
		members []Member
		leader  string // default "a"
		cfg     Config
		want    []string
	}{
		{
			name:    "single agent: nothing to do",
			servers: voters("a"),
			members: alives("a"),
		},
		{
			name:    "second agent joins: added, not promoted (2 agents → 1 voter)",
			servers: voters("a"),
			members: alives("a", "b"),
			want:    []string{"add-nonvoter b"},
		},
		{
			name:    "two agents: the non-voter stays one",
			servers: append(voters("a"), nonvoter("b")),
			members: alives("a", "b"),
		},
		{
			name:    "third joins: b is not promoted alone to an even 2 voters",
			servers: append(voters("a"), nonvoter("b")),
			members: alives("a", "b", "c"),
			want:    []string{"add-nonvoter c"},
		},
		{
			name:    "three agents, both non-voters stable: promoted together",
			servers: append(voters("a"), nonvoters("b", "c")...),
			members: alives("a", "b", "c"),
			want:    []string{"promote b", "promote c"},
		},
		{
			name:    "a non-voter alive for less than StableFor waits",
			servers: append(voters("a"), nonvoters("b", "c")...),
			members: append(alives("a", "b"), mem("c", Alive, 2*time.Second)),
		},
		{
			name:    "an even voter count left by a failed step is made odd",
			servers: append(voters("a", "b"), nonvoter("c")),
			members: alives("a", "b", "c"),
			want:    []string{"promote c"},
		},
		{
			name:    "5 agents: 3 voters, 2 non-voters, nothing to do",
			servers: append(voters("a", "b", "c"), nonvoters("d", "e")...),
			members: alives("a", "b", "c", "d", "e"),
		},
		{
			name:    "7 agents: grow from 3 to 5 voters",
			servers: append(voters("a", "b", "c"), nonvoters("d", "e", "f", "g")...),
			members: alives("a", "b", "c", "d", "e", "f", "g"),
			want:    []string{"promote d", "promote e"},
		},
		{
			name:    "a dead voter within grace stays and still counts",
			servers: append(voters("a", "b", "c"), nonvoter("d")),
			members: append(alives("a", "c", "d"), mem("b", Dead, 10*time.Second)),
		},
		{
			name:    "a dead voter past grace is removed and replaced",
			servers: append(voters("a", "b", "c"), nonvoter("d")),
			members: append(alives("a", "c", "d"), mem("b", Dead, 31*time.Second)),
			want:    []string{"remove b", "promote d"},
		},
		{
			name:    "custom grace",
			servers: append(voters("a", "b", "c"), nonvoter("d")),
			members: append(alives("a", "c", "d"), mem("b", Dead, 10*time.Second)),
			cfg:     Config{DeadGrace: 5 * time.Second},
			want:    []string{"remove b", "promote d"},
		},
		{
			name:    "a dead voter past grace with no replacement: removed only",
			servers: voters("a", "b", "c", "d", "e"),
			members: append(alives("a", "b", "c", "d"), mem("e", Dead, time.Hour)),
			want:    []string{"remove e"},
		},
		{
			name:    "a suspect voter is never removed",
			servers: append(voters("a", "b", "c"), nonvoter("d")),
			members: append(alives("a", "c", "d"), mem("b", Suspect, time.Hour)),
		},
		{
			name:    "two dead voters of 3: no quorum alive, no plan at all",
			servers: append(voters("a", "b", "c"), nonvoters("d", "e")...),
			members: append(alives("a", "d", "e"), mem("b", Dead, time.Hour), mem("c", Dead, time.Hour)),
		},
		{
			name:    "dead past grace plus a suspect of 3: no quorum alive, no plan",
			servers: append(voters("a", "b", "c"), nonvoter("d")),
			members: append(alives("a", "d"), mem("b", Dead, time.Hour), mem("c", Suspect, time.Second)),
		},
		{
			name:    "two dead voters of 5 (7 agents): one removed, no replacement (target 3)",
			servers: append(voters("a", "b", "c", "d", "e"), nonvoters("f", "g")...),
			members: append(alives("a", "b", "c", "f", "g"), mem("d", Dead, time.Hour), mem("e", Dead, time.Hour)),
			want:    []string{"remove d"},
		},
		{
			name:    "two dead voters of 5 (9 agents): one removed and replaced per plan",
			servers: append(voters("a", "b", "c", "d", "e"), nonvoters("f", "g", "h", "i")...),
			members: append(alives("a", "b", "c", "f", "g", "h", "i"), mem("d", Dead, time.Hour), mem("e", Dead, time.Hour)),
			want:    []string{"remove d", "promote f"},
		},
		{
			name:    "the leader is never removed, whatever gossip says of it",
			servers: voters("a", "b", "c"),
			members: append(alives("b", "c"), mem("a", Dead, time.Hour)),
		},
		{
			name:    "a leaving leader is not removed either",
			servers: append(voters("a", "b", "c"), nonvoter("d")),
			members: append(alives("b", "c", "d"), mem("a", Left, time.Hour)),
		},
		{
			name:    "two left voters of 3: 1 of 3 alive is no quorum, nothing",
			servers: voters("a", "b", "c"),
			members: append(alives("a"), mem("b", Left, time.Hour), mem("c", Left, time.Hour)),
		},
		{
			name:    "the leader is never demoted, even with the highest name",
			servers: voters("a", "b", "c"),
			members: alives("a", "b", "c"),
			leader:  "c",
			cfg:     Config{TargetVoters: func(int) int { return 1 }},
			want:    []string{"demote b", "demote a"},
		},
		{
			name:    "a left voter goes without grace",
			servers: append(voters("a", "b", "c"), nonvoter("d")),
			members: append(alives("a", "b", "d"), mem("c", Left, time.Second)),
			want:    []string{"remove c", "promote d"},
		},
		{
			name:    "a left non-voter goes without grace",
			servers: append(voters("a", "b", "c"), nonvoter("d")),
			members: append(alives("a", "b", "c"), mem("d", Left, time.Second)),
			want:    []string{"remove d"},
		},
		{
			name:    "a dead non-voter goes after grace",
			servers: append(voters("a", "b", "c"), nonvoters("d", "e")...),
			members: append(alives("a", "b", "c"), mem("d", Dead, 31*time.Second), mem("e", Dead, 29*time.Second)),
			want:    []string{"remove d"},
		},
		{
			name:    "3 agents down to 2: the left voter is removed, no replacement",
			servers: voters("a", "b", "c"),
			members: append(alives("a", "b"), mem("c", Left, time.Second)),
			want:    []string{"remove c"},
		},
		{
			name:    "2 agents, 2 voters: demote to 1",
			servers: voters("a", "b"),
			members: alives("a", "b"),
			want:    []string{"demote b"},
		},
		{
			name:    "7 agents down to 5: two voters demoted, two left non-voters removed",
			servers: append(voters("a", "b", "c", "d", "e"), nonvoters("f", "g")...),
			members: append(alives("a", "b", "c", "d", "e"), mem("f", Left, time.Second), mem("g", Left, time.Second)),
			want:    []string{"demote e", "demote d", "remove f", "remove g"},
		},
		{
			name:    "shrinking demotes a dead voter (within grace) first",
			servers: voters("a", "b", "c", "d", "e"),
			members: append(alives("a", "b", "c", "e"), mem("d", Dead, time.Second), mem("x", Left, time.Second), mem("y", Left, time.Second)),
			// 5 present (d within grace) → target 3.
			want: []string{"demote d", "demote e"},
		},
		{
			name:    "joiners are added even while voters are short of candidates",
			servers: voters("a", "b", "c"),
			members: alives("a", "b", "c", "d", "e", "f", "g"),
			want:    []string{"add-nonvoter d", "add-nonvoter e", "add-nonvoter f", "add-nonvoter g"},
		},
		{
			name:    "at most maxChanges additions per plan",
			servers: voters("a"),
			members: alives("a", "b", "c", "d", "e", "f", "g"),
			want:    []string{"add-nonvoter b", "add-nonvoter c", "add-nonvoter d", "add-nonvoter e"},
		},
		{
			name:    "suspect and dead members are not added",
			servers: voters("a"),
			members: append(alives("a"), mem("b", Suspect, time.Second), mem("c", Dead, time.Second), mem("d", Left, time.Second)),
		},
		{
			name:    "a member without a Raft address is not added",
			servers: voters("a"),
			members: append(alives("a"), Member{Name: "b", State: Alive, Since: now.Add(-time.Hour)}),
		},
		{
			name:    "zone spread: one voter per zone, not the first names",
			servers: append(voters("n1"), nonvoters("n2", "n3", "n4", "n5", "n6")...),
			members: []Member{
				zmem("n1", "z1", Alive, time.Hour), zmem("n2", "z1", Alive, time.Hour),
				zmem("n3", "z2", Alive, time.Hour), zmem("n4", "z2", Alive, time.Hour),
				zmem("n5", "z3", Alive, time.Hour), zmem("n6", "z3", Alive, time.Hour),
			},
			leader: "n1",
			want:   []string{"promote n3", "promote n5"},
		},
		{
			name:    "zone spread kept when demoting",
			servers: voters("n1", "n2", "n3", "n4", "n5"),
			members: []Member{
				zmem("n1", "z1", Alive, time.Hour), zmem("n2", "z1", Alive, time.Hour),
				zmem("n3", "z2", Alive, time.Hour), zmem("n4", "z2", Alive, time.Hour),
				zmem("n5", "z3", Alive, time.Hour),
			},
			leader: "n1",
			want:   []string{"demote n4", "demote n2"},
		},
		{
			name:    "replacement comes from the zone that lost its voter",
			servers: append(voters("n1", "n3", "n5"), nonvoters("n2", "n6")...),
			members: []Member{
				zmem("n1", "z1", Alive, time.Hour), zmem("n2", "z1", Alive, time.Hour),
				zmem("n3", "z2", Alive, time.Hour),
				zmem("n5", "z3", Dead, time.Hour), zmem("n6", "z3", Alive, time.Hour),
			},
			leader: "n1",
			want:   []string{"remove n5", "promote n6"},
		},
		{
			name:    "a voter missing from gossip is kept while the leader is new",
			servers: append(voters("a", "b", "x"), nonvoter("d")),
			members: alives("a", "b", "d"),
		},
		{
			name:    "custom target rounded down to odd",
			servers: append(voters("a"), nonvoters("b", "c", "d")...),
			members: alives("a", "b", "c", "d"),
			cfg:     Config{TargetVoters: func(int) int { return 4 }},
			want:    []string{"promote b", "promote c"},
		},
		{
			name:    "custom target below 1 means 1",
			servers: voters("a", "b", "c"),
			members: alives("a", "b", "c"),
			cfg:     Config{TargetVoters: func(int) int { return 0 }},
			want:    []string{"demote c", "demote b"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leader := tc.leader
			if leader == "" {
				leader = "a"
			}
			in := Input{Servers: tc.servers, Members: tc.members, LeaderID: leader,
				LeaderSince: now.Add(-10 * time.Second), Now: now, Config: tc.cfg}
			if got := short(plan(t, in)); !slices.Equal(got, tc.want) {
				t.Errorf("plan = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPlanMembershipMissingServer(t *testing.T) {
	in := Input{
		Servers:  append(voters("a", "b", "x"), nonvoter("d")),
		Members:  alives("a", "b", "d"),
		LeaderID: "a",
		Now:      now,
	}
	for _, tc := range []struct {
		leaderFor time.Duration
		zero      bool
		want      []string
	}{
		{leaderFor: 10 * time.Second},
		{leaderFor: 30 * time.Second, want: []string{"remove x", "promote d"}},
		{zero: true}, // an unknown leader start never removes on absence
	} {
		in.LeaderSince = now.Add(-tc.leaderFor)
		if tc.zero {
			in.LeaderSince = time.Time{}
		}
		if got := short(plan(t, in)); !slices.Equal(got, tc.want) {
			t.Errorf("leader for %v (zero %v): plan = %q, want %q", tc.leaderFor, tc.zero, got, tc.want)
		}
	}
}

func TestPlanMembershipBootstrap(t *testing.T) {
	// Agents join one at a time; after each join has been alive for
	// StableFor, the leader converges. From 6 agents on, the ones beyond
	// the voters and 2 replicas stay clients.
	in := Input{Servers: voters("a"), LeaderID: "a", Now: now}
	want := map[int]string{1: "[a] []", 2: "[a] [b]", 3: "[a b c] []", 4: "[a b c] [d]",
		5: "[a b c] [d e]", 6: "[a b c] [d e]", 7: "[a b c d e] [f g]", 8: "[a b c d e] [f g]"}
	for n := 1; n <= 8; n++ {
		name := string(rune('a' + n - 1))
		in.Members = append(in.Members, Member{Name: name, RaftAddr: name + ":7950", State: Alive, Since: in.Now})
		in.Now = in.Now.Add(DefaultStableFor)
		var rounds int
		// Rounds longer than StableFor, so joiners become promotable.
		in.Servers, rounds = converge(t, in, 6*time.Second)
		in.Now = in.Now.Add(time.Duration(rounds) * 6 * time.Second)
		vs, nvs := roles(in.Servers)
		if got := fmt.Sprint(vs, " ", nvs); got != want[n] {
			t.Errorf("%d agents: voters, non-voters = %s, want %s", n, got, want[n])
		}
	}
}

// names returns n1..nN.
func names(n int) []string {
	var s []string
	for i := range n {
		s = append(s, fmt.Sprintf("n%d", i+1))
	}
	return s
}

// zoned returns healthy members n1..nN spread round-robin over zones z1..zZ.
func zoned(n, zones int) []Member {
	var ms []Member
	for i, name := range names(n) {
		ms = append(ms, zmem(name, fmt.Sprintf("z%d", i%zones+1), Alive, time.Minute))
	}
	return ms
}

func TestPlanMembershipConverges(t *testing.T) {
	for _, tc := range []struct {
		agents, zones       int
		cfg                 Config
		voters, replicas    int
		maxRounds           int
		votersPerZone, note string
	}{
		{agents: 1, zones: 1, voters: 1, maxRounds: 0},
		{agents: 2, zones: 1, voters: 1, replicas: 1, maxRounds: 1},
		{agents: 3, zones: 1, voters: 3, maxRounds: 2},
		{agents: 5, zones: 1, voters: 3, replicas: 2, maxRounds: 2},
		{agents: 7, zones: 1, voters: 5, replicas: 2, maxRounds: 3},
		{agents: 9, zones: 1, voters: 5, replicas: 2, maxRounds: 3},
		{agents: 12, zones: 1, voters: 5, replicas: 2, maxRounds: 3, note: "and nobody else"},
		{agents: 12, zones: 3, voters: 5, replicas: 6, maxRounds: 4, votersPerZone: "2 2 1"},
		{agents: 100, zones: 3, voters: 5, replicas: 6, maxRounds: 4, votersPerZone: "2 2 1"},
		{agents: 100, zones: 5, voters: 5, replicas: 8, maxRounds: 4, votersPerZone: "1 1 1 1 1", note: "MaxReplicas"},
		{agents: 12, zones: 1, cfg: Config{ReplicasPerZone: NoReplicas}, voters: 5, maxRounds: 3, note: "voters only"},
		{agents: 12, zones: 3, cfg: Config{ReplicasPerZone: 1}, voters: 5, replicas: 3, maxRounds: 3, votersPerZone: "2 2 1"},
		{agents: 12, zones: 3, cfg: Config{MaxReplicas: 4}, voters: 5, replicas: 4, maxRounds: 3, votersPerZone: "2 2 1"},
		{agents: 12, zones: 3, cfg: Config{MaxReplicas: NoReplicas}, voters: 5, maxRounds: 3, votersPerZone: "2 2 1"},
	} {
		t.Run(fmt.Sprint(tc.agents, " agents, ", tc.zones, " zones ", tc.note), func(t *testing.T) {
			// Cold start: everyone is in gossip, only the bootstrapper votes.
			in := Input{Servers: voters("n1"), Members: zoned(tc.agents, tc.zones), LeaderID: "n1", Now: now, Config: tc.cfg}
			servers, rounds := converge(t, in, 2*time.Second)
			vs, nvs := roles(servers)
			if len(vs) != tc.voters || len(nvs) != tc.replicas {
				t.Errorf("voters %v, non-voters %v; want %d voters and %d replicas of %d agents", vs, nvs, tc.voters, tc.replicas, tc.agents)
			}
			if rounds > tc.maxRounds {
				t.Errorf("took %d rounds, want at most %d", rounds, tc.maxRounds)
			}
			if tc.votersPerZone != "" {
				zone := map[string]string{}
				for _, m := range in.Members {
					zone[m.Name] = m.Zone
				}
				perZone := make([]int, tc.zones)
				for _, v := range vs {
					var z int
					fmt.Sscanf(zone[v], "z%d", &z)
					perZone[z-1]++
				}
				if got := strings.Trim(fmt.Sprint(perZone), "[]"); got != tc.votersPerZone {
					t.Errorf("voters per zone %s, want %s (voters %v)", got, tc.votersPerZone, vs)
				}
			}
		})
	}
}

func TestPlanMembershipHealsDeadVoters(t *testing.T) {
	// 9 agents: 5 voters, 2 replicas, 2 clients; two voters die. After
	// grace they are removed one plan at a time, each replaced by a
	// replica, and then the clients become the new replicas.
	in := Input{
		Servers:  append(voters("a", "b", "c", "d", "e"), nonvoters("f", "g")...),
		Members:  append(alives("a", "b", "c", "f", "g", "h", "i"), mem("d", Dead, 0), mem("e", Dead, 0)),
		LeaderID: "a",
		Now:      now,
	}
	if p := plan(t, in); len(p) != 0 {
		t.Fatalf("within grace: plan %v", p)
	}
	in.Now = now.Add(DefaultDeadGrace)
	steps := planSteps(t, &in, 0, 5)
	want := []string{"remove d, promote f", "remove e, promote g", "add-nonvoter h, add-nonvoter i"}
	if !slices.Equal(steps, want) {
		t.Errorf("steps %q, want %q", steps, want)
	}
	if vs, nvs := roles(in.Servers); fmt.Sprint(vs, nvs) != "[a b c f g] [h i]" {
		t.Errorf("voters %v, non-voters %v", vs, nvs)
	}
}

func TestPlanMembershipDeterministic(t *testing.T) {
	in := Input{
		Servers: append(voters("n1", "n2", "n3", "n4"), nonvoters("n5", "n6", "n7")...),
		Members: []Member{
			zmem("n1", "z1", Alive, time.Hour), zmem("n2", "z1", Alive, time.Hour),
			zmem("n3", "z2", Dead, time.Hour), zmem("n4", "z2", Alive, time.Hour),
			zmem("n5", "z3", Alive, time.Hour), zmem("n6", "z3", Alive, time.Hour),
			zmem("n7", "z1", Left, time.Second), zmem("n8", "z2", Alive, time.Second),
			zmem("n9", "", Alive, time.Second),
		},
		LeaderID: "n1",
		Now:      now,
	}
	want := PlanMembership(in)
	if len(want) == 0 {
		t.Fatal("empty plan; the test needs one with choices in it")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		in.Servers = slices.Clone(in.Servers)
		in.Members = slices.Clone(in.Members)
		r.Shuffle(len(in.Servers), func(i, j int) { in.Servers[i], in.Servers[j] = in.Servers[j], in.Servers[i] })
		r.Shuffle(len(in.Members), func(i, j int) { in.Members[i], in.Members[j] = in.Members[j], in.Members[i] })
		if got := plan(t, in); !slices.Equal(got, want) {
			t.Fatalf("plan depends on input order: %v, want %v", got, want)
		}
	}
}

func TestPlanMembershipDoesNotModifyInput(t *testing.T) {
	in := Input{
		Servers:  append(voters("a", "b", "c"), nonvoter("d")),
		Members:  append(alives("a", "c", "d"), mem("b", Dead, time.Hour)),
		LeaderID: "a",
		Now:      now,
	}
	servers, members := slices.Clone(in.Servers), slices.Clone(in.Members)
	PlanMembership(in)
	if !slices.Equal(servers, in.Servers) || !slices.Equal(members, in.Members) {
		t.Error("PlanMembership modified its input")
	}
}
