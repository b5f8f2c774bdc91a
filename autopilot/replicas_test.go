package autopilot

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// threeZones: n1–n3 in z1, n4–n6 in z2, n7–n9 in z3, alive for a minute.
func threeZones() []Member {
	var ms []Member
	for i, name := range names(9) {
		ms = append(ms, zmem(name, fmt.Sprintf("z%d", i/3+1), Alive, time.Minute))
	}
	return ms
}

func TestPlanMembershipReplicas(t *testing.T) {
	three := func(int) int { return 3 }
	cases := []struct {
		name    string
		servers []Server
		members []Member
		cfg     Config
		want    []string
	}{
		{
			name:    "12 agents in one zone: 5 voters and 2 replicas, nobody else",
			servers: append(voters("a", "b", "c", "d", "e"), nonvoters("f", "g")...),
			members: alives("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"),
		},
		{
			name:    "below the cap: every member is added",
			servers: voters("a", "b", "c"),
			members: alives("a", "b", "c", "d", "e"),
			want:    []string{"add-nonvoter d", "add-nonvoter e"},
		},
		{
			name:    "at the cap: a client with a lower name does not displace a replica",
			servers: append(voters("a", "b", "c"), nonvoters("x", "y")...),
			members: alives("a", "b", "c", "d", "x", "y"),
		},
		{
			name:    "a replica must have been alive for StableFor",
			servers: voters("a", "b", "c"),
			members: append(alives("a", "b", "c"), mem("d", Alive, 2*time.Second)),
		},
		{
			name:    "a voter-to-be is added at once, to catch up while it proves stable",
			servers: voters("a"),
			members: append(alives("a"), mem("b", Alive, time.Second), mem("c", Alive, time.Second)),
			want:    []string{"add-nonvoter b", "add-nonvoter c"},
		},
		{
			name:    "voters short: voters-to-be come on top of the replicas",
			servers: voters("a", "b", "c"),
			members: alives("a", "b", "c", "d", "e", "f", "g", "h", "i"),
			want:    []string{"add-nonvoter d", "add-nonvoter e", "add-nonvoter f", "add-nonvoter g"},
		},
		{
			name:    "cap lowered: one excess replica removed per plan",
			servers: append(voters("a", "b", "c"), nonvoters("d", "e", "f")...),
			members: alives("a", "b", "c", "d", "e", "f"),
			cfg:     Config{ReplicasPerZone: 1},
			want:    []string{"remove f"},
		},
		{
			name:    "target shrank: a demoted voter left beyond the cap is removed",
			servers: append(voters("a", "b", "c"), nonvoters("d", "e", "f")...),
			members: alives("a", "b", "c", "d", "e", "f"),
			want:    []string{"remove f"},
		},
		{
			name:    "the plan that demotes does not trim; the next one does",
			servers: append(voters("a", "b", "c", "d", "e"), nonvoter("f")),
			members: alives("a", "b", "c", "d", "e", "f"),
			want:    []string{"demote e", "demote d"},
		},
		{
			name:    "ReplicasPerZone NoReplicas: voters only",
			servers: append(voters("a", "b", "c"), nonvoter("d")),
			members: alives("a", "b", "c", "d", "e"),
			cfg:     Config{ReplicasPerZone: NoReplicas},
			want:    []string{"remove d"},
		},
		{
			name:    "MaxReplicas NoReplicas: voters only",
			servers: append(voters("a", "b", "c"), nonvoter("d")),
			members: alives("a", "b", "c", "d", "e"),
			cfg:     Config{MaxReplicas: NoReplicas},
			want:    []string{"remove d"},
		},
		{
			name:    "voters only still adds voters-to-be",
			servers: voters("a"),
			members: alives("a", "b", "c", "d", "e"),
			cfg:     Config{ReplicasPerZone: NoReplicas},
			want:    []string{"add-nonvoter b", "add-nonvoter c"},
		},
		{
			name:    "an excess dead replica within grace goes before a healthy one",
			servers: append(voters("a", "b", "c"), nonvoters("d", "e", "f")...),
			members: append(alives("a", "b", "c", "e", "f"), mem("d", Dead, 10*time.Second)),
			want:    []string{"remove d"},
		},
		{
			name:    "an excess unstable replica goes before a stable one",
			servers: append(voters("a", "b", "c"), nonvoters("d", "e", "f")...),
			members: append(alives("a", "b", "c", "e", "f"), mem("d", Alive, time.Second)),
			want:    []string{"remove d"},
		},
		{
			name:    "a dead replica within grace still holds its place",
			servers: append(voters("a", "b", "c"), nonvoters("d", "e")...),
			members: append(alives("a", "b", "c", "e", "f"), mem("d", Dead, 10*time.Second)),
		},
		{
			name:    "a gone replica is removed and a client takes its place",
			servers: append(voters("a", "b", "c"), nonvoters("d", "e")...),
			members: append(alives("a", "b", "c", "e", "f"), mem("d", Dead, time.Hour)),
			want:    []string{"remove d", "add-nonvoter f"},
		},
		{
			name:    "after a replica replaced a lost voter, a client becomes a replica",
			servers: append(voters("a", "b", "d"), nonvoter("e")),
			members: append(alives("a", "b", "d", "e", "f"), mem("c", Dead, time.Hour)),
			want:    []string{"add-nonvoter f"},
		},
		{
			name:    "replicas fill the zone with the fewest Raft servers first, then by name",
			servers: voters("n1", "n2", "n4"),
			members: threeZones(),
			cfg:     Config{TargetVoters: three},
			want:    []string{"add-nonvoter n7", "add-nonvoter n5", "add-nonvoter n8", "add-nonvoter n3"},
		},
		{
			name:    "an excess replica is taken from the zone with the most Raft servers",
			servers: append(voters("n1", "n4", "n7"), nonvoters("n2", "n3", "n5", "n8")...),
			members: threeZones(),
			cfg:     Config{TargetVoters: three, ReplicasPerZone: 1},
			want:    []string{"remove n3"},
		},
		{
			name:    "members without a zone are a zone of their own",
			servers: voters("a", "b", "c"),
			members: append([]Member{zmem("a", "z1", Alive, time.Minute), zmem("b", "z1", Alive, time.Minute),
				zmem("c", "z1", Alive, time.Minute)}, alives("d", "e", "f")...),
			// 2 zones → 4 replicas; only z1 would allow 2.
			want: []string{"add-nonvoter d", "add-nonvoter e", "add-nonvoter f"},
		},
		{
			name:    "MaxReplicas bounds the replicas whatever the zones",
			servers: voters("n1", "n4", "n7"),
			members: threeZones(),
			cfg:     Config{TargetVoters: three, MaxReplicas: 2},
			want:    []string{"add-nonvoter n2", "add-nonvoter n5"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Servers: tc.servers, Members: tc.members, LeaderID: tc.servers[0].ID,
				LeaderSince: now.Add(-10 * time.Second), Now: now, Config: tc.cfg}
			if got := short(plan(t, in)); !slices.Equal(got, tc.want) {
				t.Errorf("plan = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPlanMembershipVotersOnlyHeals(t *testing.T) {
	// Without replicas a lost voter is replaced from the clients: removed,
	// then a client is added as a voter-to-be and promoted.
	in := Input{
		Servers:  voters("a", "b", "c"),
		Members:  append(alives("a", "b", "d", "e"), mem("c", Dead, time.Hour)),
		LeaderID: "a",
		Now:      now,
		Config:   Config{ReplicasPerZone: NoReplicas},
	}
	steps := planSteps(t, &in, 0, 5)
	want := []string{"remove c", "add-nonvoter d", "promote d"}
	if !slices.Equal(steps, want) {
		t.Errorf("steps %q, want %q", steps, want)
	}
}

// randomInput is a cluster of up to 20 agents over up to 4 zones, each
// member in a random state for a random time, each server a random role
// (some with no gossip member at all), under a random replica config.
func randomInput(r *rand.Rand) Input {
	states := []State{Alive, Alive, Alive, Alive, Suspect, Dead, Left, 0}
	zones := 1 + r.IntN(4)
	in := Input{LeaderID: "n1", Now: now, LeaderSince: now.Add(-time.Duration(r.IntN(60)) * time.Second),
		Config: Config{ReplicasPerZone: r.IntN(5) - 1, MaxReplicas: r.IntN(11) - 1}}
	for i, name := range names(1 + r.IntN(20)) {
		st := Alive
		if i > 0 {
			st = states[r.IntN(len(states))]
		}
		if i == 0 || r.IntN(10) > 0 {
			in.Members = append(in.Members, zmem(name, fmt.Sprintf("z%d", r.IntN(zones)), st, time.Duration(r.IntN(90))*time.Second))
		}
		switch {
		case i == 0:
			in.Servers = append(in.Servers, voter(name))
		case r.IntN(3) == 0:
			in.Servers = append(in.Servers, voter(name))
		case r.IntN(2) == 0:
			in.Servers = append(in.Servers, nonvoter(name))
		}
	}
	return in
}

func TestPlanMembershipRandom(t *testing.T) {
	// Every plan passes checkPlan (quorum, bounds, caps, no churn). Then,
	// with every member healthy, the cluster converges to exactly the
	// target voters and as many replicas as the cap and the agents allow.
	r := rand.New(rand.NewPCG(16, 2026))
	for i := range 3000 {
		in := randomInput(r)
		plan(t, in)
		if t.Failed() {
			t.Fatalf("input %d: %+v", i, in)
		}
		for j := range in.Members {
			in.Members[j].State, in.Members[j].Since = Alive, now.Add(-time.Minute)
		}
		in.Servers = slices.DeleteFunc(in.Servers, func(s Server) bool {
			return !slices.ContainsFunc(in.Members, func(m Member) bool { return m.Name == s.ID })
		})
		servers, _ := converge(t, in, 2*time.Second)
		target, replicas := limits(in)
		vs, nvs := roles(servers)
		if len(vs) != target || len(nvs) != min(replicas, len(in.Members)-target) {
			t.Fatalf("input %d: converged to voters %v, non-voters %v; want %d voters, %d replicas of %d agents (config %+v)",
				i, vs, nvs, target, replicas, len(in.Members), in.Config)
		}
	}
}

// BenchmarkPlanMembership is one leader pass over 5,000 agents in 3 zones:
// settled (nothing to do), and with a voter lost past grace (remove,
// promote) or a replica gone (remove, add a client).
// go test -bench PlanMembership -benchmem ./autopilot
func BenchmarkPlanMembership(b *testing.B) {
	members := zoned(5000, 3)
	settled := Input{Servers: voters("n1"), Members: members, LeaderID: "n1", Now: now}
	for {
		p := PlanMembership(settled)
		if len(p) == 0 {
			break
		}
		settled.Servers = apply(settled.Servers, p)
	}
	vs, nvs := roles(settled.Servers)
	lose := func(id string) Input {
		in := settled
		in.Members = slices.Clone(members)
		i := slices.IndexFunc(in.Members, func(m Member) bool { return m.Name == id })
		in.Members[i].State, in.Members[i].Since = Dead, now.Add(-time.Hour)
		return in
	}
	for _, bc := range []struct {
		name string
		in   Input
		want int
	}{
		{"settled", settled, 0},
		{"voter lost", lose(vs[len(vs)-1]), 2},
		{"replica lost", lose(nvs[0]), 2},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if got := len(PlanMembership(bc.in)); got != bc.want {
				b.Fatalf("plan has %d changes, want %d", got, bc.want)
			}
			for b.Loop() {
				PlanMembership(bc.in)
			}
		})
	}
}
