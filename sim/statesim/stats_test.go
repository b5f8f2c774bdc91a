package statesim

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"shoal/sim/spread"
)

const ms = time.Millisecond

func TestRepeated(t *testing.T) {
	tests := []struct {
		name string
		in   []spread.Spread
		want Repeated
	}{
		{name: "none", want: Repeated{P50: Summary{-1, -1}, P99: Summary{-1, -1}, Max: Summary{-1, -1}}},
		{
			name: "three reps",
			in: []spread.Spread{
				{P50: 10 * ms, P99: 20 * ms, Max: 30 * ms},
				{P50: 40 * ms, P99: 50 * ms, Max: 60 * ms},
				{P50: 70 * ms, P99: 80 * ms, Max: 90 * ms},
			},
			want: Repeated{Reps: 3, P50: Summary{40 * ms, 70 * ms}, P99: Summary{50 * ms, 80 * ms}, Max: Summary{60 * ms, 90 * ms}},
		},
		{
			name: "a rep not seen by all counts as slowest",
			in: []spread.Spread{
				{P50: 10 * ms, P99: 20 * ms, Max: -1},
				{P50: 10 * ms, P99: 20 * ms, Max: 30 * ms},
				{P50: 10 * ms, P99: 20 * ms, Max: 40 * ms},
			},
			want: Repeated{Reps: 3, P50: Summary{10 * ms, 10 * ms}, P99: Summary{20 * ms, 20 * ms}, Max: Summary{40 * ms, -1}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := repeated(tc.in); got != tc.want {
				t.Fatalf("repeated = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestWriteTable(t *testing.T) {
	rs := []Result{
		{N: 100, Full: 100, Procs: 1, Idle: Load{MemberCores: 0.025, FollowerCores: -1, LeaderBytes: 20 << 10},
			Change: Repeated{Reps: 20, P99: Summary{95 * ms, 1500 * ms}}, Failover: spread.Spread{P50: time.Second, P99: -1, Max: -1, Seen: 98, Of: 100}},
		{N: 5000, Full: 100, Procs: 5, StateBytes: 12 << 20},
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, rs); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(tableRows)+1 {
		t.Fatalf("%d lines, want a header and %d rows:\n%s", len(lines), len(tableRows), out)
	}
	for _, want := range []string{
		"followers (N)  ", "100  ", "5000",
		"idle: members' CPU", "2.50%", "idle: CPU per follower", "—",
		"idle: leader sends", "20 KiB/s",
		"change seen by 99%: median / p99", "95ms / 1.50s",
		"failover: seen by 50% / 99% / 100%", "1.00s / — / 98/100",
		"12 MiB", "100 / 5",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestStatCPU(t *testing.T) {
	tests := []struct {
		name, stat string
		want       time.Duration
	}{
		{name: "plain", stat: "42 (statesim) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 1000 200",
			want: 3 * time.Second},
		{name: "name with spaces and parentheses", stat: "7 (a b) (c)) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 1 1 1",
			want: 30 * ms},
		{name: "truncated", stat: "7 (x) R 1 7", want: 0},
		{name: "garbage", stat: "no parenthesis", want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := statCPU(tc.stat); got != tc.want {
				t.Fatalf("statCPU = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFollowerHistory: a follower answers when it first reached an index,
// across the trimming of its marks.
func TestFollowerHistory(t *testing.T) {
	var f follower
	if f.seenAt(1) != 0 {
		t.Fatal("a follower with no marks saw index 1")
	}
	for i := uint64(1); i <= 3*histLen; i++ {
		f.reached(i * 2) // even indexes only: raft's own entries leave gaps
	}
	f.reached(10) // an older index changes nothing
	if got := f.index.Load(); got != 6*histLen {
		t.Fatalf("index %d, want %d", got, 6*histLen)
	}
	if len(f.hist) > histLen {
		t.Fatalf("%d marks kept, want at most %d", len(f.hist), histLen)
	}
	last := f.hist[len(f.hist)-1]
	if at := f.seenAt(last.index - 1); at != last.at {
		t.Fatalf("an index in a gap is seen when the next mark was made: %d, want %d", at, last.at)
	}
	if f.seenAt(last.index+1) != 0 {
		t.Fatal("an index not reached yet is seen")
	}
	if f.seenAt(1) != f.hist[0].at {
		t.Fatal("an index older than every mark is not answered with the oldest")
	}
}
