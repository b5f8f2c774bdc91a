package bench

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Stat is the median and range of one figure over several runs.
type Stat struct {
	Median, Min, Max float64
}

func statOf(xs []float64) Stat {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return Stat{}
	}
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Stat{Median: med, Min: s[0], Max: s[n-1]}
}

// Summary is every run of one pod count: Shoal's time, the floor's, and
// their ratio taken within each run (a ratio of medians would pair runs
// that saw different loads on a shared machine).
type Summary struct {
	Pods  int
	Runs  int
	Shoal Stat // seconds
	Floor Stat // seconds
	Ratio Stat
}

// PerPod is Shoal's median time per pod.
func (s Summary) PerPod() time.Duration {
	return time.Duration(s.Shoal.Median / float64(s.Pods) * float64(time.Second))
}

// Summarize groups results by pod count, in the order the counts first
// appear.
func Summarize(rs []Result) []Summary {
	var order []int
	by := map[int][]Result{}
	for _, r := range rs {
		if _, ok := by[r.Pods]; !ok {
			order = append(order, r.Pods)
		}
		by[r.Pods] = append(by[r.Pods], r)
	}
	out := make([]Summary, 0, len(order))
	for _, n := range order {
		var shoal, floor, ratio []float64
		for _, r := range by[n] {
			shoal = append(shoal, r.ShoalApply.Seconds())
			floor = append(floor, r.CtrRun.Seconds())
			ratio = append(ratio, r.Ratio())
		}
		out = append(out, Summary{Pods: n, Runs: len(by[n]), Shoal: statOf(shoal), Floor: statOf(floor), Ratio: statOf(ratio)})
	}
	return out
}

// WriteTable prints the pod-start table: per pod count the medians of
// Shoal and the floor, the median ratio with its range over the runs, and
// Shoal's time per pod; a ratio above aim is flagged.
func WriteTable(w io.Writer, sums []Summary, aim float64) {
	fmt.Fprintf(w, "%-6s %-5s %-22s %-22s %-22s %s\n", "pods", "runs", "shoal apply→Running", "floor (ctr run -d)", "ratio (min–max)", "shoal/pod")
	for _, s := range sums {
		flag := ""
		if s.Ratio.Median > aim {
			flag = fmt.Sprintf("  over %.2fx", aim)
		}
		fmt.Fprintf(w, "%-6d %-5d %-22s %-22s %-22s %-9s%s\n", s.Pods, s.Runs,
			secs(s.Shoal), secs(s.Floor),
			fmt.Sprintf("%.2fx (%.2f–%.2f)", s.Ratio.Median, s.Ratio.Min, s.Ratio.Max),
			s.PerPod().Round(time.Millisecond), flag)
	}
}

func secs(s Stat) string {
	return fmt.Sprintf("%.2fs (%.2f–%.2f)", s.Median, s.Min, s.Max)
}

// ParseCounts reads a comma-separated list of pod counts ("20,50,100").
func ParseCounts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 10000 {
			return nil, fmt.Errorf("pod count %q: expected a whole number from 1 to 10000", f)
		}
		out = append(out, n)
	}
	return out, nil
}
