// Package spread summarises how long the members of a simulated cluster
// took to see one change, and prints those figures for the simulations'
// tables (sim/gossipsim, sim/statesim).
package spread

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Spread is how long the members took to see one change: the time by
// which half, 99% and all of them had. Seen is how many did before the
// timeout, Of how many should have; a quantile is -1 when fewer than its
// rank saw the change.
type Spread struct {
	P50, P99, Max time.Duration
	Seen, Of      int
}

// Of summarises the delays of the members that saw a change; of is how
// many should have. Nearest rank over all of them, so a member that never
// saw the change counts as slower than every one that did: the p99 of
// 1,000 members is the 990th fastest, and is missing when fewer than 990
// saw it. seen is left as it is.
func Of(seen []time.Duration, of int) Spread {
	sorted := slices.Clone(seen)
	slices.Sort(sorted)
	n := max(len(sorted), of)
	at := func(q float64) time.Duration {
		rank := max(int(math.Ceil(q*float64(n))), 1)
		if rank > len(sorted) {
			return -1
		}
		return sorted[rank-1]
	}
	return Spread{P50: at(0.50), P99: at(0.99), Max: at(1), Seen: len(seen), Of: of}
}

// Full prints when every member had seen the change, with format, or how
// many had ("98/100"): a missing Max alone would not say how far short.
func (s Spread) Full(format func(time.Duration) string) string {
	if s.Seen < s.Of {
		return fmt.Sprintf("%d/%d", s.Seen, s.Of)
	}
	return format(s.Max)
}

// Secs prints a duration to 0.01 s, "—" for one not measured (negative).
func Secs(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// Dur is Secs but to the millisecond below a second, where 0.01 s would
// hide the differences a stream's sub-second figures show.
func Dur(d time.Duration) string {
	if d >= 0 && d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return Secs(d)
}

// ParseSizes reads a flag's "100,1000" into cluster sizes of at least
// least, one run each.
func ParseSizes(list string, least int) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < least {
			return nil, fmt.Errorf("%q: expected comma-separated counts of at least %d", list, least)
		}
		out = append(out, n)
	}
	return out, nil
}

// Group is the mean and max of a group's figures (the idle CPU of the
// agents of one role).
type Group struct {
	N         int
	Mean, Max float64
}

// Add counts one member's figure.
func (g *Group) Add(v float64) {
	g.Mean = (g.Mean*float64(g.N) + v) / float64(g.N+1)
	g.N++
	g.Max = max(g.Max, v)
}
