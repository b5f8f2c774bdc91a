// Package chaos is the pure half of Shoal's randomized fault suite
// (Jepsen's method): seeded schedules of faults, the history of client
// operations recorded while they run, a linearizability check of that
// history (porcupine), the invariants over what was observed (no
// acknowledged write lost, one instance per StatefulSet ordinal, workloads
// back at their count) and the report. It does no I/O: integration/
// injects the faults into real agents and records what happened.
package chaos

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"time"
)

// Kind is a kind of fault.
type Kind string

// The fault kinds. Leader-relative kinds are resolved when the fault is
// injected (Plan), since which agent leads is not known in advance.
const (
	KillLeader        Kind = "kill9-leader"       // SIGKILL of the Raft leader; its pods run on
	KillFollower      Kind = "kill9-follower"     // SIGKILL of an agent that does not lead
	PowerOff          Kind = "power-off"          // agent, containerd, shims, pods, link
	PartitionMinority Kind = "partition-minority" // 2 of 5 agents' links cut
	IsolateLeader     Kind = "isolate-leader"     // the leader's link cut
	OneWay            Kind = "partition-one-way"  // one agent drops what one peer sends it
	Bridge            Kind = "partition-bridge"   // two sides that only a bridge node joins
	Netem             Kind = "netem"              // packet loss and delay on one agent's link
	ClockJump         Kind = "clock-jump"         // the wall clock stepped forward, then back
	DiskFull          Kind = "disk-full"          // one agent's data dir filesystem filled
	RestartAll        Kind = "restart-all"        // every agent killed and restarted at once
)

// AllKinds lists every kind, in a fixed order (schedules index it).
var AllKinds = []Kind{KillLeader, KillFollower, PowerOff, PartitionMinority, IsolateLeader,
	OneWay, Bridge, Netem, ClockJump, DiskFull, RestartAll}

// ParseKinds reads a comma-separated list of kinds ("" is none).
func ParseKinds(s string) ([]Kind, error) {
	var out []Kind
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !slices.Contains(AllKinds, Kind(f)) {
			return nil, fmt.Errorf("fault kind %q: expected one of %s", f, JoinKinds(AllKinds))
		}
		if !slices.Contains(out, Kind(f)) {
			out = append(out, Kind(f))
		}
	}
	return out, nil
}

// JoinKinds is the comma-separated form ParseKinds reads.
func JoinKinds(kinds []Kind) string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}

// Fault is one fault of a schedule, before the leader is known: Perm is a
// random order of the agents from which Plan picks its targets.
type Fault struct {
	Kind Kind
	Perm []int
	// Hold is how long the fault lasts before it is healed.
	Hold time.Duration
	// LossPercent and Delay are the Netem fault's.
	LossPercent int
	Delay       time.Duration
	// Jump is the ClockJump fault's step (forward).
	Jump time.Duration
}

// Config shapes the schedules Generate makes.
type Config struct {
	// Nodes is the number of agents (at least 3: a minority and a bridge
	// need them).
	Nodes int
	// Faults per schedule (at least 1), and the kinds to draw from.
	Faults int
	Kinds  []Kind
	// MinHold..MaxHold bounds how long each fault lasts; Gap is the quiet
	// time after each fault is healed.
	MinHold, MaxHold, Gap time.Duration
}

// Schedule is the faults of one round, made from Seed alone (with its
// Config): the same seed and config give the same schedule.
type Schedule struct {
	Seed   int64
	Faults []Fault
	Gap    time.Duration
}

// Validate says what is wrong with the config.
func (c Config) Validate() error {
	switch {
	case c.Nodes < 3:
		return fmt.Errorf("chaos config: Nodes %d: expected at least 3", c.Nodes)
	case c.Faults < 1:
		return fmt.Errorf("chaos config: Faults %d: expected at least 1", c.Faults)
	case len(c.Kinds) == 0:
		return fmt.Errorf("chaos config: Kinds empty: expected at least one of %s", JoinKinds(AllKinds))
	case c.MinHold <= 0 || c.MaxHold < c.MinHold:
		return fmt.Errorf("chaos config: hold %v..%v: expected 0 < MinHold <= MaxHold", c.MinHold, c.MaxHold)
	}
	return nil
}

// Generate makes the schedule of seed. The first fault's kind cycles
// through the kinds with the seed, so consecutive seeds cover different
// kinds; the others are drawn at random.
func Generate(seed int64, c Config) (Schedule, error) {
	if err := c.Validate(); err != nil {
		return Schedule{}, err
	}
	r := rand.New(rand.NewSource(seed))
	s := Schedule{Seed: seed, Gap: c.Gap}
	first := int(((seed % int64(len(c.Kinds))) + int64(len(c.Kinds))) % int64(len(c.Kinds)))
	for i := range c.Faults {
		k := c.Kinds[first]
		if i > 0 {
			k = c.Kinds[r.Intn(len(c.Kinds))]
		}
		f := Fault{Kind: k, Perm: r.Perm(c.Nodes), Hold: c.MinHold}
		if span := c.MaxHold - c.MinHold; span > 0 {
			f.Hold += time.Duration(r.Int63n(int64(span)))
		}
		switch k {
		case Netem:
			f.LossPercent = 10 + r.Intn(21)                            // 10–30 %
			f.Delay = time.Duration(20+r.Intn(181)) * time.Millisecond // 20–200 ms
		case ClockJump:
			// 30 s – 4 min: under the 5 minutes node certificates are
			// backdated by, so one issued during the jump is valid once
			// the clock is stepped back.
			f.Jump = time.Duration(30+r.Intn(211)) * time.Second
		}
		s.Faults = append(s.Faults, f)
	}
	return s, nil
}

// Action is a fault resolved against the cluster as it is: which agents
// it acts on.
type Action struct {
	Kind Kind
	// Targets are the agents the fault acts on (killed, powered off, cut,
	// filled, degraded; for OneWay the one that drops; for Bridge side A).
	Targets []int
	// Peers: for OneWay the agent whose packets Targets[0] drops; for
	// Bridge side B.
	Peers []int
	// Via is the Bridge's node, which both sides still reach (-1 if none).
	Via int
	Fault
}

// Plan resolves f for a cluster of n agents whose leader is leader (-1
// when there is none: leader-relative faults then take the first of Perm).
func Plan(f Fault, n, leader int) (Action, error) {
	if len(f.Perm) != n {
		return Action{}, fmt.Errorf("plan %s: permutation of %d agents for a cluster of %d", f.Kind, len(f.Perm), n)
	}
	a := Action{Kind: f.Kind, Via: -1, Fault: f}
	p := f.Perm
	switch f.Kind {
	case KillLeader, IsolateLeader:
		a.Targets = []int{p[0]}
		if leader >= 0 {
			a.Targets = []int{leader}
		}
	case KillFollower, PowerOff, Netem, DiskFull:
		a.Targets = []int{firstNot(p, leader)}
		if f.Kind == PowerOff && p[0] == leader {
			a.Targets = []int{leader} // power-off hits the leader too, when drawn
		}
	case PartitionMinority:
		a.Targets = slices.Clone(p[:(n-1)/2])
	case OneWay:
		// Between the leader and another: either the leader stops hearing
		// a follower (its acknowledgements) or a follower stops hearing
		// the leader (its heartbeats), as the draw falls.
		a.Targets, a.Peers = []int{p[0]}, []int{p[1]}
		if leader >= 0 && p[0] != leader {
			a.Peers = []int{leader}
		} else if leader >= 0 {
			a.Peers = []int{firstNot(p[1:], leader)}
		}
	case Bridge:
		// The bridge is never the leader, which would reach everyone and
		// make the partition harmless.
		a.Via = firstNot(p, leader)
		rest := slices.DeleteFunc(slices.Clone(p), func(i int) bool { return i == a.Via })
		a.Targets, a.Peers = slices.Clone(rest[:len(rest)/2]), slices.Clone(rest[len(rest)/2:])
	case ClockJump:
		a.Targets = []int{p[0]}
	case RestartAll:
		a.Targets = slices.Sorted(slices.Values(p))
	default:
		return Action{}, fmt.Errorf("plan: unknown fault kind %q", f.Kind)
	}
	return a, nil
}

// firstNot is the first of perm that is not x.
func firstNot(perm []int, x int) int {
	for _, i := range perm {
		if i != x {
			return i
		}
	}
	return perm[0]
}

// String describes the action for logs and reports (agents 1-based).
func (a Action) String() string {
	s := fmt.Sprintf("%s %s", a.Kind, agents(a.Targets))
	switch a.Kind {
	case OneWay:
		s += " drops from " + agents(a.Peers)
	case Bridge:
		s += fmt.Sprintf(" | %s via agent%d", agents(a.Peers), a.Via+1)
	case Netem:
		s += fmt.Sprintf(" loss %d%% delay %v", a.LossPercent, a.Delay)
	case ClockJump:
		s += fmt.Sprintf(" +%v", a.Jump)
	}
	return s + fmt.Sprintf(" for %v", a.Hold.Round(100*time.Millisecond))
}

func agents(idx []int) string {
	s := make([]string, len(idx))
	for i, x := range idx {
		s[i] = fmt.Sprintf("agent%d", x+1)
	}
	return strings.Join(s, ",")
}
