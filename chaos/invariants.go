package chaos

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Beat is one heartbeat a StatefulSet pod wrote: its ordinal's pod name,
// the node it ran on, the incarnation (a token the container drew when it
// started) and when, on the machine's boot clock (/proc/uptime), which no
// wall-clock step moves.
type Beat struct {
	Pod, Node, Incarnation string
	At                     time.Duration
}

// ParseBeats reads heartbeat lines of one incarnation's file: each line
// an uptime in seconds ("12345.67", the first field of /proc/uptime). A
// torn last line (the writer killed mid-write) is skipped; any other line
// that is not a number is an error naming it.
func ParseBeats(pod, node, incarnation, text string) ([]Beat, error) {
	var out []Beat
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		secs, err := strconv.ParseFloat(line, 64)
		if err != nil || secs < 0 {
			if i == len(lines)-1 {
				continue // torn by a kill: the file did not end with a newline
			}
			return nil, fmt.Errorf("heartbeat of %s on %s line %d: %q: expected seconds of uptime", pod, node, i+1, line)
		}
		out = append(out, Beat{Pod: pod, Node: node, Incarnation: incarnation, At: time.Duration(secs * float64(time.Second))})
	}
	return out, nil
}

// Interval is when one incarnation of a pod surely ran: from its first
// heartbeat to its last.
type Interval struct {
	Pod, Node, Incarnation string
	From, To               time.Duration
	Beats                  int
}

// Overlap is two incarnations of one pod that both ran at once.
type Overlap struct{ A, B Interval }

func (o Overlap) String() string {
	return fmt.Sprintf("%s ran twice at once: on %s (incarnation %s) %v..%v and on %s (incarnation %s) %v..%v",
		o.A.Pod, o.A.Node, o.A.Incarnation, o.A.From, o.A.To, o.B.Node, o.B.Incarnation, o.B.From, o.B.To)
}

// Intervals groups beats by incarnation, sorted by pod then start.
func Intervals(beats []Beat) []Interval {
	type key struct{ pod, node, inc string }
	m := map[key]*Interval{}
	for _, b := range beats {
		k := key{b.Pod, b.Node, b.Incarnation}
		iv, ok := m[k]
		if !ok {
			m[k] = &Interval{Pod: b.Pod, Node: b.Node, Incarnation: b.Incarnation, From: b.At, To: b.At, Beats: 1}
			continue
		}
		iv.From, iv.To = min(iv.From, b.At), max(iv.To, b.At)
		iv.Beats++
	}
	out := make([]Interval, 0, len(m))
	for _, iv := range m {
		out = append(out, *iv)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pod != out[j].Pod {
			return out[i].Pod < out[j].Pod
		}
		return out[i].From < out[j].From
	})
	return out
}

// Overlaps finds the incarnations of one pod whose heartbeat intervals
// overlap. The intervals are inner bounds of when each copy ran (it ran
// at least from its first beat to its last), so an overlap is proof that
// two ran at once, whatever the beat period.
func Overlaps(beats []Beat) []Overlap {
	ivs := Intervals(beats)
	var out []Overlap
	for i := range ivs {
		for j := i + 1; j < len(ivs) && ivs[j].Pod == ivs[i].Pod; j++ {
			a, b := ivs[i], ivs[j]
			if a.From < b.To && b.From < a.To {
				out = append(out, Overlap{A: a, B: b})
			}
		}
	}
	return out
}

// Count is one workload's pods as observed: in the API (Running and
// Ready), and running in the nodes' containerd.
type Count struct {
	Want, Ready, Tasks int
}

// Converged says which workloads are not at their desired count, both in
// the API and in what really runs ("" when all are).
func Converged(counts map[string]Count) string {
	var bad []string
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		c := counts[name]
		if c.Ready != c.Want || c.Tasks != c.Want {
			bad = append(bad, fmt.Sprintf("%s: want %d, %d Ready in the API, %d running in containerd", name, c.Want, c.Ready, c.Tasks))
		}
	}
	return strings.Join(bad, "; ")
}
