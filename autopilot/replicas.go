package autopilot

import (
	"cmp"
	"fmt"
	"slices"
)

// nonvoterBudget is how many non-voters the configuration may hold now:
// the replica cap, plus one for each voter still missing from the target
// (deficit), since a voter-to-be must join as a non-voter and catch up on
// the log before it is promoted.
func (p *planner) nonvoterBudget() (budget, deficit int) {
	deficit = max(0, p.target-len(p.voterIDs()))
	return p.replicas + deficit, deficit
}

// raftZones counts the simulated configuration's servers per zone.
func (p *planner) raftZones() map[string]int {
	z := map[string]int{}
	for id := range p.servers {
		z[p.zone(id)]++
	}
	return z
}

// trimNonvoters removes one non-voter beyond the budget: after the cap was
// lowered, a zone emptied, or the voter target shrank and left a demoted
// voter behind. One per plan, and none in a plan that moves voters: the
// next plan judges from the configuration those moves leave, so a voter
// demoted now competes on equal terms with the replicas already there.
// Never one of the best promotion candidates while voters are short: they
// are the voters-to-be. Within the budget nothing is removed, so a healthy
// replica is never swapped for another.
func (p *planner) trimNonvoters() {
	budget, deficit := p.nonvoterBudget()
	nonvoters := p.nonvoterIDs()
	if len(nonvoters) <= budget || p.voterMoves > 0 || !p.room() {
		return
	}
	promote := p.promotionCandidates()
	keep := promote[:min(deficit, len(promote))]
	c := slices.DeleteFunc(slices.Clone(nonvoters), func(id string) bool {
		return id == p.leader || slices.Contains(keep, id)
	})
	if len(c) == 0 {
		return
	}
	zones := p.raftZones()
	// Worst first: not alive, then alive but not yet stable, then from the
	// zone with the most Raft servers, then the highest name (the mirror
	// of adding, so that the same replicas stay).
	rank := func(id string) int {
		switch {
		case !p.alive(id):
			return 0
		case !p.stable(id):
			return 1
		}
		return 2
	}
	slices.SortFunc(c, func(a, b string) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)),
			cmp.Compare(zones[p.zone(b)], zones[p.zone(a)]), cmp.Compare(b, a))
	})
	p.emit(OpRemove, c[0], p.servers[c[0]].Addr,
		fmt.Sprintf("%d non-voters, %d allowed (%d replicas, %d voters-to-be)", len(nonvoters), budget, p.replicas, deficit))
}

// addNonvoters adds clients to the configuration while it holds fewer
// non-voters than the budget. A voter-to-be needs only to be alive, so it
// catches up on the log while it proves stable; a replica must have been
// alive for StableFor already, so a flapping agent does not make the
// leader ship it a snapshot.
func (p *planner) addNonvoters() {
	for p.room() {
		budget, deficit := p.nonvoterBudget()
		n := len(p.nonvoterIDs())
		if n >= budget {
			return
		}
		c, ok := p.bestClient(n >= deficit)
		if !ok {
			return
		}
		why := fmt.Sprintf("replica %d of %d", n-deficit+1, p.replicas)
		if n < deficit {
			why = fmt.Sprintf("to become a voter: %d voters, target %d", len(p.voterIDs()), p.target)
		}
		p.emit(OpAddNonvoter, c, p.members[c].RaftAddr, why)
	}
}

// bestClient picks the alive member outside the configuration that should
// join it next: from the zone with the fewest Raft servers, then by name.
// With stable, only one alive for StableFor. One pass, not a sort: at
// thousands of agents this runs on every leader tick that adds one.
func (p *planner) bestClient(stable bool) (string, bool) {
	zones := p.raftZones()
	best, found := "", false
	for name, m := range p.members {
		if _, in := p.servers[name]; in || m.State != Alive || name == "" || m.RaftAddr == "" {
			continue
		}
		if stable && !p.stable(name) {
			continue
		}
		if !found || cmp.Or(cmp.Compare(zones[m.Zone], zones[p.zone(best)]), cmp.Compare(name, best)) < 0 {
			best, found = name, true
		}
	}
	return best, found
}
