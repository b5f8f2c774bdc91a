package chaos

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// The invariants each round checks, by name.
const (
	CheckLinearizable = "linearizable"      // porcupine accepts the register history
	CheckNoLostWrites = "no-lost-writes"    // every acknowledged create is there
	CheckExclusive    = "ordinal-exclusive" // never two copies of one StatefulSet pod
	CheckConverged    = "converged-30s"     // workloads back at their count within 30 s
	CheckNoLeaks      = "no-leaks"          // no containers, netns, routes, rules left
)

// CheckResult is one invariant check of one round.
type CheckResult struct {
	Name   string
	Passed bool
	Detail string
}

// Round is what one schedule did and found.
type Round struct {
	Seed    int64
	Actions []Action
	Checks  []CheckResult
	// Ops tallies the history (Counts); Converge is how long after the
	// last fault healed the workloads were back.
	Ops      map[string]int
	Converge time.Duration
	Took     time.Duration
}

// Failed lists the round's failed checks.
func (r Round) Failed() []CheckResult {
	var out []CheckResult
	for _, c := range r.Checks {
		if !c.Passed {
			out = append(out, c)
		}
	}
	return out
}

// Report is a whole run: its rounds and checks made once (after teardown).
type Report struct {
	BaseSeed int64
	Kinds    []Kind
	Rounds   []Round
	// Final are the checks made once the cluster is gone (leaks).
	Final []CheckResult
	Took  time.Duration
	// Replay is the command that runs one round again, with %d for its
	// seed.
	Replay string
}

// FaultsByKind counts the faults injected, by kind.
func (r Report) FaultsByKind() map[Kind]int {
	out := map[Kind]int{}
	for _, rd := range r.Rounds {
		for _, a := range rd.Actions {
			out[a.Kind]++
		}
	}
	return out
}

// Tally counts the checks passed and failed, by check name.
func (r Report) Tally() (passed, failed map[string]int) {
	passed, failed = map[string]int{}, map[string]int{}
	count := func(cs []CheckResult) {
		for _, c := range cs {
			if c.Passed {
				passed[c.Name]++
			} else {
				failed[c.Name]++
			}
		}
	}
	for _, rd := range r.Rounds {
		count(rd.Checks)
	}
	count(r.Final)
	return passed, failed
}

// FailedSeeds are the seeds of the rounds with a failed check.
func (r Report) FailedSeeds() []int64 {
	var out []int64
	for _, rd := range r.Rounds {
		if len(rd.Failed()) > 0 {
			out = append(out, rd.Seed)
		}
	}
	return out
}

// Write prints the report as text: the summary, then each round.
func (r Report) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Shoal fault suite: %d rounds from seed %d in %v\n", len(r.Rounds), r.BaseSeed, r.Took.Round(time.Second))
	fmt.Fprintf(&b, "kinds drawn from: %s\n", JoinKinds(r.Kinds))
	byKind := r.FaultsByKind()
	total := 0
	fmt.Fprintf(&b, "faults injected by kind:\n")
	for _, k := range AllKinds {
		if n := byKind[k]; n > 0 {
			fmt.Fprintf(&b, "  %-20s %d\n", k, n)
			total += n
		}
	}
	fmt.Fprintf(&b, "  %-20s %d\n", "total", total)
	passed, failed := r.Tally()
	fmt.Fprintf(&b, "checks (passed/failed):\n")
	names := slices.Sorted(maps.Keys(passed))
	for n := range failed {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  %-20s %d/%d\n", n, passed[n], failed[n])
	}
	var conv []time.Duration
	for _, rd := range r.Rounds {
		if rd.Converge > 0 {
			conv = append(conv, rd.Converge)
		}
	}
	if len(conv) > 0 {
		slices.Sort(conv)
		fmt.Fprintf(&b, "convergence after the last fault healed: median %v, max %v\n",
			conv[len(conv)/2].Round(100*time.Millisecond), conv[len(conv)-1].Round(100*time.Millisecond))
	}
	if seeds := r.FailedSeeds(); len(seeds) > 0 {
		fmt.Fprintf(&b, "FAILED rounds, seeds %v; replay one with:\n  %s\n", seeds, fmt.Sprintf(r.Replay, seeds[0]))
	} else {
		fmt.Fprintf(&b, "all rounds passed\n")
	}
	for i, rd := range r.Rounds {
		fmt.Fprintf(&b, "\nround %d seed %d (%v, converged %v after the last heal)\n", i+1, rd.Seed,
			rd.Took.Round(time.Second), rd.Converge.Round(100*time.Millisecond))
		for _, a := range rd.Actions {
			fmt.Fprintf(&b, "  fault: %s\n", a)
		}
		fmt.Fprintf(&b, "  ops: %s\n", formatCounts(rd.Ops))
		writeChecks(&b, rd.Checks)
	}
	if len(r.Final) > 0 {
		fmt.Fprintf(&b, "\nafter teardown\n")
		writeChecks(&b, r.Final)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeChecks(b *strings.Builder, cs []CheckResult) {
	for _, c := range cs {
		mark := "ok  "
		if !c.Passed {
			mark = "FAIL"
		}
		fmt.Fprintf(b, "  %s %s", mark, c.Name)
		if c.Detail != "" {
			fmt.Fprintf(b, ": %s", strings.ReplaceAll(c.Detail, "\n", "\n      "))
		}
		b.WriteString("\n")
	}
}

func formatCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
