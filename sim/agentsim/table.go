package agentsim

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"shoal/sim/spread"
)

// WriteTable prints one row per run.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join([]string{
		"agents", "Raft v/r/c", "form",
		"leader%", "member%", "client% (max)", "process%", "other%", "entries/s", "heap MiB/agent",
		"change p50", "p99", "all",
		"pods", "all Running", "DNS A",
		"lost node NotReady", "its pods back", "leader lost: write", "seen p99", ""}, "\t"))
	for _, r := range rs {
		fmt.Fprintln(tw, strings.Join([]string{
			fmt.Sprint(r.N), fmt.Sprintf("%d/%d/%d", r.Voters, r.Replicas, r.Clients), spread.Secs(r.Form),
			pct(r.Leader), pct(r.Member.Mean), clientCPU(r.Client), pct(r.Process), pct(r.Other),
			fmt.Sprintf("%.2f", r.Entries), fmt.Sprintf("%.1f", r.HeapMiB),
			spread.Dur(r.Change.P50), spread.Dur(r.Change.P99), r.Change.Full(spread.Dur),
			fmt.Sprint(r.Pods), spread.Secs(r.PodsRunning), fmt.Sprint(r.DNSAnswers),
			lost(r.NotReady, r.Moved), lost(r.PodsBack, r.Moved),
			spread.Secs(r.Write), spread.Dur(r.Seen.P99), ""}, "\t"))
	}
	return tw.Flush()
}

func pct(v float64) string {
	if v < 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", v)
}

func clientCPU(c spread.Group) string {
	if c.N == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f (%.2f)", c.Mean, c.Max)
}

// lost prints a node loss's time, "—" when no client node was lost.
func lost(d time.Duration, moved int) string {
	if moved == 0 {
		return "—"
	}
	return spread.Secs(d)
}
