package gossipsim

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Spread is how long the members took to see one change: the time by which
// half, 99% and all of them had seen it. Seen is how many did before the
// phase's timeout, Of how many should have; Max is meaningful only when
// Seen == Of.
type Spread struct {
	P50, P99, Max time.Duration
	Seen, Of      int
}

// spreadOf summarises the delays of those members that saw a change; of is
// how many should have. Quantiles are nearest-rank over all of them, so a
// member that never saw the change counts as slower than every one that did:
// the p99 of 1,000 members is the 990th fastest, and is missing when fewer
// than 990 saw it.
func spreadOf(seen []time.Duration, of int) Spread {
	s := Spread{Seen: len(seen), Of: of}
	if of <= 0 {
		return s
	}
	sorted := slices.Clone(seen)
	slices.Sort(sorted)
	at := func(q float64) time.Duration {
		rank := int(math.Ceil(q * float64(of)))
		if rank < 1 {
			rank = 1
		}
		if rank > len(sorted) {
			return -1
		}
		return sorted[rank-1]
	}
	s.P50, s.P99, s.Max = at(0.50), at(0.99), at(1)
	return s
}

// Result is one simulation run.
type Result struct {
	N         int
	Profile   string
	MetaBytes int // encoded NodeMeta of every member
	// Form is from the first member's start until every member sees all N
	// alive; Join until the last member's Join returned.
	Join, Form time.Duration
	Detect     Spread // a crashed member seen dead by the others
	Meta       Spread // a metadata change seen by the others
	// While idle, after forming: cores used by the whole process, and what
	// each member sends per second (UDP packets, UDP+TCP bytes; every byte
	// sent is received by another member, so receive equals send).
	IdleCores                        float64
	PacketsPerMember, BytesPerMember float64
	// PushPullsPerSec is TCP state exchanges started per second, cluster-wide.
	PushPullsPerSec float64
	// FalseDead counts members declared dead that were not killed;
	// FalseSuspect members suspected by Shoal's watcher that were not killed.
	FalseDead, FalseSuspect int64
	// Dropped counts events the members' buffers dropped (then the counts
	// above may be short).
	Dropped uint64
	// HeapPerMember and RSS are after forming.
	HeapPerMember uint64
	RSS           uint64
}

// WriteTable prints results as an aligned table.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"N", "profile", "meta B", "join", "form", "dead p50", "p99", "100%",
		"meta p50", "p99", "100%", "idle CPU/member", "pkt/s/member", "B/s/member", "pushpull/s",
		"false dead", "false suspect", "heap/member", ""}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rs {
		row := []string{
			fmt.Sprint(r.N), r.Profile, fmt.Sprint(r.MetaBytes), dur(r.Join), dur(r.Form),
			dur(r.Detect.P50), dur(r.Detect.P99), full(r.Detect),
			dur(r.Meta.P50), dur(r.Meta.P99), full(r.Meta),
			fmt.Sprintf("%.2f%%", 100*r.IdleCores/float64(max(r.N, 1))),
			fmt.Sprintf("%.1f", r.PacketsPerMember), fmt.Sprintf("%.0f", r.BytesPerMember),
			fmt.Sprintf("%.1f", r.PushPullsPerSec),
			fmt.Sprint(r.FalseDead), fmt.Sprint(r.FalseSuspect),
			fmt.Sprintf("%.0fK", float64(r.HeapPerMember)/1024), "",
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// dur prints a duration to 0.01 s, or "—" for a quantile not reached.
func dur(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// full prints when every member had seen the change, or how many had.
func full(s Spread) string {
	if s.Seen < s.Of {
		return fmt.Sprintf("%d/%d", s.Seen, s.Of)
	}
	return dur(s.Max)
}
