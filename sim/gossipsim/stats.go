package gossipsim

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"shoal/sim/spread"
)

// Result is one simulation run.
type Result struct {
	N       int
	Profile string
	Network string // NetUDP or NetMem
	// Dilation is Options.Dilation: every figure below is in the members'
	// time, already put back from the dilated run.
	Dilation  float64
	MetaBytes int // encoded NodeMeta of every member
	// Form is from the first member's start until every member sees all N
	// alive; Join until the last member's Join returned.
	Join, Form time.Duration
	Detect     spread.Spread // a crashed member seen dead by the others
	Meta       spread.Spread // a metadata change seen by the others
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
	// Lost counts packets the in-process network dropped on a full queue
	// (NetMem only), as a socket's buffer would.
	Lost int64
	// HeapPerMember and RSS are after forming.
	HeapPerMember uint64
	RSS           uint64
}

// WriteTable prints results as an aligned table.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"N", "profile", "net", "dilate", "meta B", "join", "form", "dead p50", "p99", "100%",
		"meta p50", "p99", "100%", "idle CPU/member", "pkt/s/member", "B/s/member", "pushpull/s",
		"false dead", "false suspect", "lost pkts", "heap/member", ""}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rs {
		row := []string{
			fmt.Sprint(r.N), r.Profile, r.Network, fmt.Sprintf("%g×", max(r.Dilation, 1)), fmt.Sprint(r.MetaBytes), spread.Secs(r.Join), spread.Secs(r.Form),
			spread.Secs(r.Detect.P50), spread.Secs(r.Detect.P99), r.Detect.Full(spread.Secs),
			spread.Secs(r.Meta.P50), spread.Secs(r.Meta.P99), r.Meta.Full(spread.Secs),
			fmt.Sprintf("%.2f%%", 100*r.IdleCores/float64(max(r.N, 1))),
			fmt.Sprintf("%.1f", r.PacketsPerMember), fmt.Sprintf("%.0f", r.BytesPerMember),
			fmt.Sprintf("%.1f", r.PushPullsPerSec),
			fmt.Sprint(r.FalseDead), fmt.Sprint(r.FalseSuspect), fmt.Sprint(r.Lost),
			fmt.Sprintf("%.0fK", float64(r.HeapPerMember)/1024), "",
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}
