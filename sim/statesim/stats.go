package statesim

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"shoal/sim/spread"
)

// Summary is one column of repeated spreads: its median and p99 over the
// repetitions (a missing value counts as the slowest).
type Summary struct{ Median, P99 time.Duration }

func summarize(vals []time.Duration) Summary {
	var seen []time.Duration
	for _, v := range vals {
		if v >= 0 {
			seen = append(seen, v)
		}
	}
	s := spread.Of(seen, len(vals))
	return Summary{Median: s.P50, P99: s.P99}
}

// Repeated summarises the spreads of the same change made Reps times.
type Repeated struct {
	Reps          int
	P50, P99, Max Summary
}

func repeated(ss []spread.Spread) Repeated {
	var p50, p99, mx []time.Duration
	for _, s := range ss {
		p50, p99, mx = append(p50, s.P50), append(p99, s.P99), append(mx, s.Max)
	}
	return Repeated{Reps: len(ss), P50: summarize(p50), P99: summarize(p99), Max: summarize(mx)}
}

// Load is the cost of the Raft members over one measured window.
type Load struct {
	Seconds float64
	// MemberCores is the CPU of the process that holds every Raft member
	// (and their stream servers and the writer), in cores.
	MemberCores float64
	// LeaderCores and OtherCores split MemberCores by the CPU profiler's
	// samples (100 a second): the leader's goroutines, and the busiest
	// other member's (a stream server); -1 when the profiler was taken.
	LeaderCores, OtherCores float64
	// FollowerCores is the CPU of the follower processes, per follower;
	// -1 when the followers run in the members' process.
	FollowerCores float64
	// Bytes sent per second: by the leader (Raft and stream) and by all
	// members; StreamBytes is the part of the members' that is stream.
	LeaderBytes, MemberBytes, StreamBytes float64
	// Entries is Raft log entries appended per second (the leader's last
	// index); Commands is commands the writer applied per second.
	Entries, Commands float64
}

// SnapResult is the snapshot of a large state, taken and moved with the
// real code.
type SnapResult struct {
	Pods, Nodes int
	// Bytes is the snapshot as the stream sends it (hello included).
	Bytes int64
	// Build is applying the pods through Raft; Raft is Store.Snapshot
	// (encode to the snapshot store on disk); Encode is ServeStream
	// writing the snapshot to a discarding writer; Stream is ServeStream
	// to a follower Store over a pipe until its state reaches the index
	// (encode, decode and restore, overlapped).
	Build, Raft, Encode, Stream time.Duration
	// Heap is what the follower's copy of the state holds (live heap).
	Heap uint64
	// ViewBytes, ViewStream and ViewHeap are the same for a node's view
	// (ServeView): its own pods whole, the others' summarized.
	ViewBytes  int64
	ViewStream time.Duration
	ViewHeap   uint64
}

// Check is the comparison after the churn: full followers whose state
// equals the leader's (same digest at the same index), and light followers
// at the leader's index.
type Check struct {
	Index                               uint64
	FullSame, Full, LightAtIndex, Light int
}

// Result is one run.
type Result struct {
	N, Full, Procs   int
	Voters, Replicas int
	Serving          int // members that serve the stream
	Nodes, Pods      int
	View             bool  // the followers followed their node's view
	StateBytes       int64 // the followed state's Raft snapshot
	Idle, Churn      Load
	Change           Repeated // a marker write seen by the followers, from its Apply call
	Commit           Summary  // the marker's Apply call on the leader
	Elect            time.Duration
	Failover         spread.Spread // from the leader's kill until the followers see the new leader's write
	// ReplicaLost is from a serving replica's kill until the followers see
	// a write made then; Moved is the follower streams that reconnected.
	ReplicaLost spread.Spread
	Moved       int64
	Reconnects  int64 // follower streams that ended and were reopened, over the run
	Check       Check
	Snap        SnapResult
}

// WriteTable prints results side by side, one column per run.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"followers (N)"}
	for _, r := range rs {
		head = append(head, fmt.Sprint(r.N))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, row := range tableRows {
		line := []string{row.name}
		for _, r := range rs {
			line = append(line, row.val(r))
		}
		fmt.Fprintln(tw, strings.Join(line, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

type tableRow struct {
	name string
	val  func(Result) string
}

var tableRows = []tableRow{
	{"full Store followers / processes", func(r Result) string { return fmt.Sprintf("%d / %d", r.Full, r.Procs) }},
	{"followers hold", func(r Result) string { return map[bool]string{false: "whole state", true: "node's view"}[r.View] }},
	{"raft voters + replicas (serving)", func(r Result) string {
		return fmt.Sprintf("%d+%d (%d)", r.Voters, r.Replicas, r.Serving)
	}},
	{"state: nodes, pods", func(r Result) string { return fmt.Sprintf("%d, %d", r.Nodes, r.Pods) }},
	{"state snapshot", func(r Result) string { return size(r.StateBytes) }},
	{"idle: members' CPU", func(r Result) string { return cores(r.Idle.MemberCores) }},
	{"idle: leader's CPU (sampled)", func(r Result) string { return cores(r.Idle.LeaderCores) }},
	{"idle: busiest other member's CPU (sampled)", func(r Result) string { return cores(r.Idle.OtherCores) }},
	{"idle: CPU per follower", func(r Result) string { return cores(r.Idle.FollowerCores) }},
	{"idle: leader sends", func(r Result) string { return rate(r.Idle.LeaderBytes) }},
	{"idle: members send (stream part)", func(r Result) string {
		return rate(r.Idle.MemberBytes) + " (" + rate(r.Idle.StreamBytes) + ")"
	}},
	{"idle: raft entries/s", func(r Result) string { return fmt.Sprintf("%.1f", r.Idle.Entries) }},
	{"churn: commands/s applied", func(r Result) string { return fmt.Sprintf("%.0f", r.Churn.Commands) }},
	{"churn: raft entries/s", func(r Result) string { return fmt.Sprintf("%.1f", r.Churn.Entries) }},
	{"churn: members' CPU", func(r Result) string { return cores(r.Churn.MemberCores) }},
	{"churn: leader's CPU (sampled)", func(r Result) string { return cores(r.Churn.LeaderCores) }},
	{"churn: busiest other member's CPU (sampled)", func(r Result) string { return cores(r.Churn.OtherCores) }},
	{"churn: CPU per follower", func(r Result) string { return cores(r.Churn.FollowerCores) }},
	{"churn: leader sends", func(r Result) string { return rate(r.Churn.LeaderBytes) }},
	{"churn: members send (stream part)", func(r Result) string {
		return rate(r.Churn.MemberBytes) + " (" + rate(r.Churn.StreamBytes) + ")"
	}},
	{"after churn: full same / light at index", func(r Result) string {
		c := r.Check
		return fmt.Sprintf("%d/%d, %d/%d", c.FullSame, c.Full, c.LightAtIndex, c.Light)
	}},
	{"change committed on the leader: median / p99", func(r Result) string { return pair(r.Commit) }},
	{"change seen by 50%: median / p99", func(r Result) string { return pair(r.Change.P50) }},
	{"change seen by 99%: median / p99", func(r Result) string { return pair(r.Change.P99) }},
	{"change seen by 100%: median / p99", func(r Result) string { return pair(r.Change.Max) }},
	{"change repetitions", func(r Result) string { return fmt.Sprint(r.Change.Reps) }},
	{"failover: kill to new leader's write", func(r Result) string { return spread.Dur(r.Elect) }},
	{"failover: seen by 50% / 99% / 100%", func(r Result) string {
		return spread.Dur(r.Failover.P50) + " / " + spread.Dur(r.Failover.P99) + " / " + r.Failover.Full(spread.Dur)
	}},
	{"replica killed: streams moved", func(r Result) string { return fmt.Sprint(r.Moved) }},
	{"replica killed: write seen by 50% / 99% / 100%", func(r Result) string {
		return spread.Dur(r.ReplicaLost.P50) + " / " + spread.Dur(r.ReplicaLost.P99) + " / " + r.ReplicaLost.Full(spread.Dur)
	}},
	{"stream reconnects over the run", func(r Result) string { return fmt.Sprint(r.Reconnects) }},
	{"big state: pods on nodes", snap(func(s SnapResult) string { return fmt.Sprintf("%d on %d", s.Pods, s.Nodes) })},
	{"big state: snapshot size", snap(func(s SnapResult) string { return size(s.Bytes) })},
	{"big state: raft snapshot to disk", snap(func(s SnapResult) string { return spread.Dur(s.Raft) })},
	{"big state: stream encode", snap(func(s SnapResult) string { return spread.Dur(s.Encode) })},
	{"big state: stream to a follower (restored)", snap(func(s SnapResult) string { return spread.Dur(s.Stream) })},
	{"big state: follower's heap", snap(func(s SnapResult) string { return size(int64(s.Heap)) })},
	{"big state: a node's view: bytes / to a follower", snap(func(s SnapResult) string {
		return size(s.ViewBytes) + " / " + spread.Dur(s.ViewStream)
	})},
	{"big state: a node's view: follower's heap", snap(func(s SnapResult) string { return size(int64(s.ViewHeap)) })},
}

// snap prints a big state's figure, "—" in a run that did not time one.
func snap(f func(SnapResult) string) func(Result) string {
	return func(r Result) string {
		if r.Snap.Pods == 0 {
			return "—"
		}
		return f(r.Snap)
	}
}

func pair(s Summary) string { return spread.Dur(s.Median) + " / " + spread.Dur(s.P99) }

func cores(c float64) string {
	if c < 0 {
		return "—"
	}
	if c < 0.001 {
		return fmt.Sprintf("%.3f%%", 100*c)
	}
	return fmt.Sprintf("%.2f%%", 100*c)
}

func rate(b float64) string { return size(int64(b)) + "/s" }

func size(b int64) string {
	switch {
	case b >= 10<<20:
		return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
	case b >= 10<<10:
		return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}
